"""Run folders (``<runs root>/pr<PR>/<UTC stamp>-<short sha>/``, docs/audit-trail.md), their
web links, and where a crash's redacted traceback goes (docs/running-a-gate.md).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import traceback

from perfgate_lib.io import storage

_current_run_dir: list[str] = []


def default_runs_root() -> str:
    """``$PERFGATE_RUNS_ROOT`` if set, else ``runs`` under the current folder (absolute)."""
    root = os.environ.get("PERFGATE_RUNS_ROOT") or "runs"
    return root if storage.is_url(root) else os.path.abspath(root)


def utc_stamp(now: dt.datetime | None = None) -> str:
    """``20261128T103401Z``: sorts lexically in time order."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(
    root: str | None, pr: int | str | None, sha: str | None = None, *, kind: str | None = None
) -> str:
    """A fresh run folder path (not created): ``pr<PR>/<stamp>-<sha7>`` or ``<kind>/<stamp>``."""
    group = f"pr{pr}" if pr is not None else (kind or "adhoc")
    leaf = utc_stamp() + (f"-{sha[:7]}" if sha else "")
    return storage.join(root or default_runs_root(), group, leaf)


def absolute(path: str) -> str:
    """Local paths made absolute (notebooks run in another folder); URLs unchanged."""
    return path if not path or storage.is_url(path) else os.path.abspath(path)


def public_url(run_dir: str, relpath: str) -> str | None:
    """A web link to ``relpath`` inside a run folder: ``$PERFGATE_RUNS_URL`` +
    ``pr<N>/<stamp>/relpath`` when set; else, for a ``gs://`` run folder, a URL signed for
    7 days when the credentials can sign; else None."""
    base = os.environ.get("PERFGATE_RUNS_URL", "").rstrip("/")
    if base:
        return "/".join([base, *str(run_dir).rstrip("/").split("/")[-2:], relpath])
    if str(run_dir).startswith("gs://"):
        try:
            fs, inner = storage.filesystem(storage.join(run_dir, relpath))
            return str(fs.sign(inner, expiration=7 * 24 * 3600))
        except Exception:  # noqa: BLE001 - no link, never a failed gate
            # fs.sign raises whatever the auth stack does: StorageError (no credentials),
            # ImportError (no google-cloud-storage), AttributeError (token-only credentials
            # cannot sign), google.auth errors (refresh, IAM signBlob)
            return None
    return None


def note_run_dir(path: str) -> None:
    """Remember the run folder this process works in (where a traceback would go)."""
    _current_run_dir[:] = [str(path)]


def forget_run_dir() -> None:
    """Start a new command: no run folder noted yet."""
    _current_run_dir.clear()


def write_traceback(exc: BaseException, stamp: str) -> str | None:
    """Write ``exc``'s traceback to the first writable folder (the noted run folder, the
    local runs root's ``crashes``, the temp folder); returns its path or None."""
    root = default_runs_root()
    local_root = [] if storage.is_url(root) else [storage.join(root, "crashes")]
    text = "".join(traceback.format_exception(exc))
    for folder in [*_current_run_dir, *local_root, tempfile.gettempdir()]:
        path = storage.join(folder, f"perfgate-traceback-{stamp}.txt")
        try:
            storage.write_text(path, text)
            return path
        except Exception:  # noqa: BLE001 - an unwritable folder: try the next one
            continue
    return None


def crash_line(exc: BaseException, command: str, where: str | None, debug: bool) -> str:
    """``perfgate compare: could not run, unexpected RecursionError: ... (full traceback:
    PATH)``: a crash is exit 4, never a fail."""
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    what = type(exc).__name__ + (f": {detail}" if detail else "")
    if where:
        hint = f"full traceback: {where}" + ("" if debug else "; --debug prints it")
    else:
        hint = "no traceback file could be written; run with --debug to print it"
    return f"perfgate {command}: could not run, unexpected {what} ({hint})"
