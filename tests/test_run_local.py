"""`perfgate run --runner local`: gate 0, the local A/B on a PR, through the real CLI."""

from __future__ import annotations

import json

import pytest

from perfgate_lib.assess.diffsource import LocalGitDiffSource
from perfgate_lib.local.sandbox import build_sandbox
from tests.cli_helpers import perfgate
from tests.fakes.github_server import DEFAULT_REPO

pytest_plugins = ("tests.fakes.github_fixtures",)

PR = 31


@pytest.mark.slow
def test_run_local_gate0_flags_the_slowdown(tmp_path, github_env):
    box = build_sandbox(tmp_path / "marin")
    github_env.add_pull_from(DEFAULT_REPO, PR, LocalGitDiffSource(box.path, box.base, box.head))
    runs = tmp_path / "runs"
    args = [
        "run",
        "--pr",
        str(PR),
        "--checkout",
        box.path,
        "--runner",
        "local",
        "--max-pairs",
        "6",
        "--budget",
        "30",
        "--docs",
        "20",
        "--runs-root",
        str(runs),
        "--dry-run",
    ]
    waiting = perfgate(*args)
    assert waiting.returncode == 0, waiting.stderr
    assert "Proposed max_gate: 3" in waiting.stdout and not list(runs.rglob("gate0"))
    proc = perfgate(*args, "--confirm", "go", timeout=1800)  # a hang guard (valgrind)
    assert proc.returncode == 1, proc.stderr  # the sandbox PR regresses fuzzy_dups
    comment = next(runs.rglob("gate0/comment.md")).read_text()
    assert "Zephyr perf gate — Gate 0 (local A/B, mini ferry)" in comment
    verdict = json.loads(next(runs.rglob("gate0/verdict.json")).read_text())
    pairs = json.loads(next(runs.rglob("gate0/ab/pairs.json")).read_text())
    counts = [
        (p["treatment"]["fuzzy_dups"]["instructions"], p["control"]["fuzzy_dups"]["instructions"])
        for p in pairs
    ]
    assert min(t / c for t, c in counts) > 1.10, counts  # the one measured claim (zstd 3 -> 6)
    assert {s["stage"]: s["verdict"] for s in verdict["stages"]}["fuzzy_dups"] == "fail"
    state = json.loads(next(runs.rglob("state.json")).read_text())
    assert state["status"] == "finished" and state["posts"][0]["mode"] == "file"
    assert github_env.comments_on(DEFAULT_REPO, PR) == []  # dry run: nothing posted
