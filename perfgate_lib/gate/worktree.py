"""The treatment worktree: the PR head checked out beside the marin checkout, in
``<checkout>/../.zephyr_perf_worktrees/<PR>-<UTC stamp>-treatment``, always removed when the
run ends; an earlier run's leftovers are wiped first (``docs/running-a-gate.md``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from perfgate_lib.errors import UsageError
from perfgate_lib.io.git import GitError, detached_worktree, git, remove_worktree
from perfgate_lib.io.rundir import utc_stamp

WORKTREES_DIR = "../.zephyr_perf_worktrees"


@dataclass(frozen=True)
class Worktree:
    path: Path
    sha: str
    pr: int
    checkout: Path


def repo_root(checkout: str | Path) -> Path:
    """The top folder of the git checkout; UsageError when it is not one."""
    path = Path(checkout).expanduser()
    if not path.is_dir():
        raise UsageError(f"--checkout {checkout}: no such folder")
    proc = git(path, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise UsageError(f"--checkout {checkout}: not a git checkout ({proc.stderr.strip()})")
    return Path(proc.stdout.strip()).resolve()


def ensure_commit(checkout: str | Path, sha: str, pr: int, remote: str = "origin") -> None:
    """Make ``sha`` available locally: fetch ``pull/<PR>/head``, then the SHA itself."""

    def has_commit() -> bool:
        return git(checkout, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    if has_commit():
        return
    tried = []
    for refspec in (f"pull/{pr}/head", sha):
        proc = git(checkout, "fetch", "--quiet", remote, refspec, check=False)
        tried.append(f"git fetch {remote} {refspec}: {proc.stderr.strip() or 'ok'}")
        if has_commit():
            return
    raise GitError(
        f"PR #{pr} head {sha} is not in {checkout} and could not be fetched: " + "; ".join(tried)
    )


def registered_worktrees(checkout: str | Path) -> list[Path]:
    """Paths of the worktrees git knows for this checkout (``git worktree list``)."""
    return [
        Path(line.removeprefix("worktree "))
        for line in git(checkout, "worktree", "list", "--porcelain").stdout.splitlines()
        if line.startswith("worktree ")
    ]


def wipe_stale(checkout: str | Path, pr: int, root: Path | None = None) -> list[Path]:
    """Remove earlier worktrees of ``pr`` (registered or just left on disk) under the
    worktrees root; returns what was removed."""
    root = root or (Path(checkout) / WORKTREES_DIR).resolve()
    found = {p.resolve() for p in registered_worktrees(checkout) if p.parent.resolve() == root}
    if root.is_dir():
        found |= {p.resolve() for p in root.iterdir() if p.is_dir()}
    stale = sorted(p for p in found if p.name.startswith(f"{pr}-"))
    for path in stale:
        remove_worktree(checkout, path)
    git(checkout, "worktree", "prune", check=False)
    return stale


@contextlib.contextmanager
def treatment_worktree(
    checkout: str | Path,
    pr: int,
    sha: str,
    *,
    stamp: str | None = None,
    relative_root: str = WORKTREES_DIR,
    remote: str = "origin",
) -> Iterator[Worktree]:
    """A detached worktree at ``sha``; removed on exit whatever happens."""
    top = repo_root(checkout)
    root = (top / relative_root).resolve()
    wipe_stale(top, pr, root)
    ensure_commit(top, sha, pr, remote)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{pr}-{stamp or utc_stamp()}-treatment"
    try:
        with detached_worktree(top, sha, path):
            yield Worktree(path=path, sha=sha, pr=pr, checkout=top)
    finally:
        with contextlib.suppress(OSError):
            root.rmdir()  # only when empty
