"""Comparison: perf reports, the threshold table, the verdict and its PR comment.

``report`` reads every report era, ``thresholds`` and ``gates`` the parameter files,
``rules`` decides (pure), ``attribution``/``charts``/``mermaid``/``render`` present,
``compare`` is what ``notebooks/compare.ipynb`` runs, ``notebook`` runs that notebook (light,
for the CLI). Beside ``assess`` and independent of it (the comment's assessment section
arrives rendered, as markdown), below everything that runs a gate.
"""
