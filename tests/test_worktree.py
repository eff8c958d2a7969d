"""The treatment worktree: real git, PR head fetched as GitHub exposes it, always removed."""

from __future__ import annotations

import pytest

from perfgate_lib.errors import UsageError
from perfgate_lib.gate.worktree import (
    GitError,
    registered_worktrees,
    treatment_worktree,
    wipe_stale,
)
from tests.fakes.marin_world import FAILING_PR, PASS_PR

pytest_plugins = ("tests.fakes.marin_world_fixtures",)


def test_worktree_at_the_pr_head_is_fetched_and_removed(marin_world):
    w = marin_world
    sha = w.sha(PASS_PR)
    with treatment_worktree(w.checkout, PASS_PR, sha, stamp="20260101T000000Z") as wt:
        assert wt.path == w.worktrees / f"{PASS_PR}-20260101T000000Z-treatment"
        assert (wt.path / "lib/zephyr/src/zephyr/shuffle.py").read_text().count("128 * 1024") == 1
        assert wt.path in registered_worktrees(w.checkout)
    assert w.leftover_worktrees() == []


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_removed_on_failure_and_interrupt(marin_world, exc):
    w = marin_world
    with pytest.raises(type(exc)), treatment_worktree(w.checkout, PASS_PR, w.sha(PASS_PR)):
        raise exc
    assert w.leftover_worktrees() == []


def test_stale_worktrees_of_the_same_pr_are_wiped_first(marin_world):
    w = marin_world
    sha = w.sha(PASS_PR)
    # a killed run left one registered worktree and one bare folder; another PR's stays
    cm = treatment_worktree(w.checkout, PASS_PR, sha, stamp="20250101T000000Z")
    cm.__enter__()  # never exited: as after SIGKILL
    (w.worktrees / f"{PASS_PR}-20250102T000000Z-treatment").mkdir()
    other = treatment_worktree(w.checkout, FAILING_PR, w.sha(FAILING_PR), stamp="20250101T000000Z")
    other_wt = other.__enter__()
    removed = wipe_stale(w.checkout, PASS_PR)
    assert sorted(p.name for p in removed) == [
        f"{PASS_PR}-20250101T000000Z-treatment",
        f"{PASS_PR}-20250102T000000Z-treatment",
    ]
    assert [p.name for p in w.worktrees.iterdir()] == [other_wt.path.name]
    other.__exit__(None, None, None)
    assert w.leftover_worktrees() == []


def test_unknown_sha_and_bad_checkout_are_clear_errors(marin_world, tmp_path):
    with (
        pytest.raises(GitError, match="could not be fetched"),
        treatment_worktree(marin_world.checkout, 99, "f" * 40),
    ):
        pass
    with (
        pytest.raises(UsageError, match="not a git checkout"),
        treatment_worktree(tmp_path, 7, "f" * 40),
    ):
        pass
