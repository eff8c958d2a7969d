"""Run directories: ``<runs root>/pr<PR>/<UTC timestamp>-<short sha>/`` (docs/audit-trail.md).

The runs root is ``$PERFGATE_RUNS_ROOT`` or ``./runs``; it may be any fsspec URL.
``$PERFGATE_RUNS_URL`` is the same root as served over HTTP(S) (public, or behind the
organisation's sign-in); comments link to archived notebooks through it.
"""

from __future__ import annotations

import datetime as dt
import os

from perfgate_lib.io import storage


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


RUNS_URL_VAR = "PERFGATE_RUNS_URL"
SIGNED_URL_SECONDS = 7 * 24 * 3600


def public_url(run_dir: str, relpath: str) -> str | None:
    """A web link to ``relpath`` inside a run folder, or None.

    ``$PERFGATE_RUNS_URL`` + ``pr<N>/<stamp>/relpath`` when set; else, for a ``gs://``
    run folder, a signed URL valid for 7 days when the credentials can sign; else None.
    """
    parts = str(run_dir).rstrip("/").split("/")
    base = os.environ.get(RUNS_URL_VAR, "").rstrip("/")
    if base:
        return "/".join([base, *parts[-2:], relpath])
    if str(run_dir).startswith("gs://"):
        try:
            fs, inner = storage.filesystem(storage.join(run_dir, relpath))
            return str(fs.sign(inner, expiration=SIGNED_URL_SECONDS))
        except Exception:  # noqa: BLE001 - no link, never a failed gate
            # fs.sign raises whatever the auth stack does: StorageError (no credentials),
            # ImportError (no google-cloud-storage), AttributeError (token-only credentials
            # cannot sign), google.auth errors (refresh, IAM signBlob)
            return None
    return None
