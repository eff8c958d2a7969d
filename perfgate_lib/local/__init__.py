"""Gate 0, the local A/B: real Zephyr on this machine, control against treatment.

``ab`` runs the A/B end to end and writes its outputs: ``settings`` reads
``parameters/gate0.yaml``, ``sides`` starts each side (a ``ferry_pipeline.py serve``
process in its own ``sideenv`` environment), ``pairs`` is the paired, adaptive loop, and
``paired``/``stats`` hold its statistics. ``miniferry`` and
``corpus`` the mini ferry and its corpus, ``sandbox``/``sandbox_project`` the demo's
repository, ``demo`` the ``perfgate demo`` flow. ``notebooks/local_ab.ipynb`` calls ``ab``.

``ferry_pipeline.py`` runs as a script, so this folder is a side process's ``sys.path[0]``:
no module here may share a name with one the side imports (stdlib, Zephyr, its deps).
"""
