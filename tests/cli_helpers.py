"""The two ways tests call ``perfgate``: in this process through the console entry point
(:func:`perfgate_here`: fast, redacted output, the exit code), or as a real subprocess
(:func:`perfgate`: real exit codes, real kernels, a fresh interpreter)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

from perfgate_lib.cli import main
from tests.conftest import REPO_ROOT


def perfgate_here(*args: str) -> tuple[int, str, str]:
    """``perfgate ARGS`` in this process, as the console script runs it (its output
    redacted): (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
    assert isinstance(code, int), f"perfgate {args} exited with {code!r}, not a code"
    return code, out.getvalue(), err.getvalue()


# A hang guard for commands that run real gate 0 (Zephyr under valgrind), not a speed
# check: on a loaded 2-core host one such run has taken over 300 s.
GATE0_HANG_S = 3600


def perfgate(*args: str, env: dict | None = None, cwd=None, timeout: float = 300):
    """``python -m perfgate_lib ARGS``; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "perfgate_lib", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or REPO_ROOT,
        timeout=timeout,
    )
