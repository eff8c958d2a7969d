"""Running git (``git -C CHECKOUT ARGS``, text, no terminal prompt) and its worktrees; a
failure is a :class:`GitError` naming the command and the checkout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from perfgate_lib.errors import PerfgateError


class GitError(PerfgateError):
    """A git command failed (or git is missing); the message names the command and checkout."""


def git(
    checkout: str | Path,
    *args: str,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C checkout ARGS`` (``env`` added to ours, ``timeout`` in seconds); with
    ``check``, :class:`GitError` when it fails."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(checkout), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise GitError(f"git {' '.join(args)} failed in {checkout}: {detail or 'error'}")
    return proc


def git_out(checkout: str | Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """The stripped stdout of ``git -C checkout ARGS``; :class:`GitError` when it fails."""
    return git(checkout, *args, env=env).stdout.strip()


def remove_worktree(checkout: str | Path, path: str | Path) -> None:
    """``git worktree remove --force``; a folder git no longer knows is deleted; prune."""
    path = Path(path)
    proc = git(checkout, "worktree", "remove", "--force", str(path), check=False)
    if proc.returncode != 0 and path.exists():
        shutil.rmtree(path, ignore_errors=True)
    git(checkout, "worktree", "prune", check=False)


@contextlib.contextmanager
def detached_worktree(checkout: str | Path, sha: str, path: str | Path) -> Iterator[Path]:
    """A detached worktree of ``sha`` at ``path``; removed (and pruned) on exit."""
    path = Path(path)
    try:
        git(checkout, "worktree", "add", "--detach", "--quiet", str(path), sha)
        yield path
    finally:
        remove_worktree(checkout, path)
