"""Step 1 of the flow: the diff's assessment (``run`` for ``notebooks/assess.ipynb``).

The rules: ``docs/assessment.md``.
"""
