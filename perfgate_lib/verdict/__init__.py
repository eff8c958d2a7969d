"""Comparison: perf reports, the threshold table, the verdict and its PR comment.

``report`` reads every report era, ``thresholds`` and ``gates`` the parameter files,
``rules`` decides (pure), ``attribution``/``charts``/``mermaid``/``render`` present,
``compare`` is what ``notebooks/compare.ipynb`` runs, ``notebook`` runs that notebook (light,
for the CLI). Above ``assess`` (the comment
embeds the assessment table), below everything that runs a gate.
"""
