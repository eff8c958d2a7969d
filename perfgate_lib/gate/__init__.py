"""The gate ladder: baseline, treatment worktree, local checks, babysitting, state, verdict.

``run`` executes one gate (``notebooks/gate.ipynb``), ``ladder`` climbs 1 -> 2 -> 3,
``flow`` is ``perfgate run`` end to end (assessment, confirmation, ladder, comment),
``state`` lets a crashed run resume without a second ferry or comment, ``trigger`` answers
``/perfgate`` comments. Above every other package except ``commands``.
"""
