"""Step 1 of the flow: the diff's assessment (five questions per file, ``max_gate``).

``assessment`` is the core (questions, rules, :class:`~perfgate_lib.assess.assessment.Assessment`);
``diffsource`` reads the diff, ``astdiff``/``impact``/``usage``/``callers``/``moves``/``alpha``/``heat``
answer the questions, ``render`` writes its markdown, ``confirm`` reads the reviewer's reply,
``run`` is what ``notebooks/assess.ipynb`` calls.
"""
