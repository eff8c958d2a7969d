"""Comparison: perf reports, the threshold table, the verdict and its PR comment.

Beside ``assess`` and independent of it (the comment's assessment section arrives
rendered, as markdown), below everything that runs a gate.
"""
