"""A small git repository with marin's layout, for assessment tests and the benchmark.

``make_marin_repo(root)`` commits the bundled example's base tree
(``parameters/examples/assess/base``) on branch ``main``; a test then branches, edits with
:class:`MarinRepo` helpers and commits, and assesses ``main...HEAD``.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

from perfgate_lib.assess.diffsource import tree_files

ZSRC = "lib/zephyr/src/zephyr"

EXAMPLE_BASE = Path(__file__).resolve().parents[1] / "parameters/examples/assess/base"
"""The bundled example's base tree: marin's layout, the one copy of these files."""

BASE_FILES: dict[str, str] = {
    path: file.read_text() for path, file in tree_files(EXAMPLE_BASE).items()
}
"""``{path: text}`` of :data:`EXAMPLE_BASE` (what ``make_marin_repo`` commits on ``main``)."""

_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _text(content: str) -> str:
    return textwrap.dedent(content)


class MarinRepo:
    """A git working tree with helpers to edit, rename, delete and commit."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def git(self, *args: str) -> str:
        env = {**os.environ, **_ENV, "GIT_CONFIG_GLOBAL": os.devnull}
        proc = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout.strip()

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def write(self, path: str, content: str, dedent: bool = True) -> None:
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_text(content) if dedent else content)

    def edit(self, path: str, old: str, new: str) -> None:
        """Replace the one exact occurrence of ``old`` with ``new``."""
        text = self.read(path)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
        self.write(path, text.replace(old, new), dedent=False)

    def delete(self, path: str) -> None:
        self.git("rm", "-q", path)

    def move(self, old: str, new: str) -> None:
        (self.root / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str = "feature") -> None:
        self.git("checkout", "-q", "-b", name)


def make_marin_repo(root: Path, files: dict[str, str] | None = None) -> MarinRepo:
    """Create ``root`` as a git repository whose ``main`` holds marin's layout."""
    root.mkdir(parents=True, exist_ok=True)
    repo = MarinRepo(root)
    repo.git("init", "-q")
    for path, content in (files or BASE_FILES).items():
        repo.write(path, content)
    repo.commit("base")
    return repo


def worktrees(repo: str | Path) -> list[str]:
    """``worktree <path>`` lines of ``git worktree list`` in ``repo`` (the main one first)."""
    out = subprocess.run(
        ["git", "-C", str(repo), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.startswith("worktree ")]
