"""Unexpected exceptions: one line for the user, the full traceback in a file.

A crash is "could not run" (exit 4), never "fail" (exit 1). Where the redacted traceback
goes: ``docs/running-a-gate.md``.
"""

from __future__ import annotations

import os
import tempfile
import traceback

from perfgate_lib.io import storage

DEBUG_VAR = "PERFGATE_DEBUG"
_current_run_dir: list[str] = []


def note_run_dir(path: str) -> None:
    """Remember the run folder this process works in (where a traceback would go)."""
    _current_run_dir[:] = [str(path)]


def forget_run_dir() -> None:
    """Start a new command: no run folder noted yet."""
    _current_run_dir.clear()


def traceback_folders() -> list[str]:
    """Where a traceback file is tried, in order."""
    from perfgate_lib.io.rundir import default_runs_root

    root = default_runs_root()
    local_root = [] if storage.is_url(root) else [storage.join(root, "crashes")]
    return [*_current_run_dir, *local_root, tempfile.gettempdir()]


def write_traceback(exc: BaseException, stamp: str) -> str | None:
    """Write ``exc``'s traceback to the first writable folder; returns its path or None."""
    text = "".join(traceback.format_exception(exc))
    for folder in traceback_folders():
        path = storage.join(folder, f"perfgate-traceback-{stamp}.txt")
        try:
            storage.write_text(path, text)
            return path
        except Exception:  # noqa: BLE001 - an unwritable folder: try the next one
            continue
    return None


def crash_line(exc: BaseException, command: str, where: str | None, debug: bool) -> str:
    """``perfgate compare: unexpected RecursionError: ... (full traceback: PATH)``."""
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    what = type(exc).__name__ + (f": {detail}" if detail else "")
    if where:
        hint = f"full traceback: {where}" + ("" if debug else "; --debug prints it")
    else:
        hint = "no traceback file could be written; run with --debug to print it"
    return f"perfgate {command}: could not run, unexpected {what} ({hint})"


def debug_enabled() -> bool:
    """True when ``PERFGATE_DEBUG`` is set to something other than 0/empty."""
    return os.environ.get(DEBUG_VAR, "") not in ("", "0")
