"""Run the real ``perfgate`` command in a subprocess (real exit codes, real kernels)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


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
