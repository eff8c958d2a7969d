"""Run directories: ``<runs root>/pr<PR>/<UTC timestamp>-<short sha>/`` (design.md).

The runs root is ``$PERFGATE_RUNS_ROOT`` or ``./runs``; it may be any fsspec URL.
"""

from __future__ import annotations

import datetime as dt
import os

from perfgate_lib import storage


def default_runs_root() -> str:
    """``$PERFGATE_RUNS_ROOT`` if set, else ``runs`` under the current folder (absolute)."""
    root = os.environ.get("PERFGATE_RUNS_ROOT") or "runs"
    return root if storage.is_url(root) else os.path.abspath(root)


def utc_stamp(now: dt.datetime | None = None) -> str:
    """``20261128T103401Z``: sorts lexically in time order."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(
    root: str | None, pr: int | str | None, sha: str | None = None, *, kind: str | None = None
) -> str:
    """A fresh run folder path (not created): ``pr<PR>/<stamp>-<sha7>`` or ``<kind>/<stamp>``."""
    root = root or default_runs_root()
    group = f"pr{pr}" if pr is not None else (kind or "adhoc")
    leaf = utc_stamp() + (f"-{sha[:7]}" if sha else "")
    return storage.join(root, group, leaf)


def absolute(path: str) -> str:
    """Local paths made absolute (notebooks run in another folder); URLs unchanged."""
    if not path or storage.is_url(path):
        return path
    return os.path.abspath(path)
