"""The record: archiving runs, scrubbing secrets, the run index, provenance, and history.

``archive``/``scrub``/``runindex``/``provenance`` keep every run re-runnable and clean;
``history``/``history_charts``/``explore`` read the baselines over time
(``notebooks/explore.ipynb`` calls ``explore``).
"""
