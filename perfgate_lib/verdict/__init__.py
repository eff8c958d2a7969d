"""Comparison: perf reports, the threshold table, the verdict and its PR comment.

Beside ``assess`` and independent of it, below everything that runs a gate."""
