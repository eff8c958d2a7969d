"""perfgate: the Zephyr performance gate kit (assess, run, compare, comment)."""

import importlib.resources as _resources
import os as _os
from pathlib import Path as _Path

# gcsfs 2026.10's experimental zonal/HNS bucket support probes every bucket through the
# google-cloud-storage client, which retries an unreachable endpoint for most of a minute
# (and stalls 30-60 s per call against an emulator). perfgate uses neither kind of bucket;
# set before anything imports gcsfs (papermill does at import). Set it to true to opt in.
_os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

__version__ = "0.1.0"

PROJECT_ROOT = _Path(__file__).resolve().parent.parent  # the checkout, installed from a clone


def bundled(name: str) -> _Path:
    """The kit's bundled folder ``notebooks`` or ``parameters``: inside the package in a
    wheel, else the checkout's top-level folder of that name."""
    packaged = _resources.files(__name__) / name
    return _Path(str(packaged)) if packaged.is_dir() else PROJECT_ROOT / name


SENTINEL = "<!-- zephyr-perf-gate -->"  # first line of every comment the kit posts
MAX_COMMENT_CHARS = 65_536  # GitHub's cap on an issue comment body, in characters
