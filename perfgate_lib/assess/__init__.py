"""Step 1 of the flow: the diff's assessment (``run``; the rules: ``docs/assessment.md``)."""
