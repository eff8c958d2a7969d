"""The edges: GitHub, storage (local, GCS), notebooks, parameter files, run folders.

Bottom layer with the top-level ``errors``, ``timeutil`` and ``mdtext``: imports nothing
else of the kit. ``redaction`` is here because every write through ``storage`` passes it.
"""
