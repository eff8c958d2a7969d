"""Step 1 of the flow: the diff's assessment (five questions per file, ``max_gate``).

``run`` is what ``notebooks/assess.ipynb`` calls; the rules: ``docs/assessment.md``.
"""
