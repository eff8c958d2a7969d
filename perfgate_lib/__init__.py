"""perfgate: the Zephyr performance gate kit (assess, run, compare, comment)."""

import os as _os
from pathlib import Path as _Path

# gcsfs 2026.10's experimental zonal/HNS bucket support probes every bucket through the
# google-cloud-storage client, which retries an unreachable endpoint for most of a minute
# (and stalls 30-60 s per call against an emulator). perfgate uses neither kind of bucket;
# set before anything imports gcsfs (papermill does at import). Set it to true to opt in.
_os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

__version__ = "0.1.0"

PROJECT_ROOT = _Path(__file__).resolve().parent.parent
"""The kit's checkout: ``parameters/``, ``notebooks/`` and ``runs/`` live here."""

SENTINEL = "<!-- zephyr-perf-gate -->"
"""First line of every comment the kit posts; re-runs find and replace it."""

MAX_COMMENT_CHARS = 65_536
"""GitHub's cap on an issue comment body, in characters."""
