"""Gate 0, the local A/B (``ab``; ``docs/gate0.md``). ``ferry_pipeline.py`` runs as a
script, so this folder is a side process's ``sys.path[0]``: no module here may share a
name with one the side imports (stdlib, Zephyr, its deps).
"""
