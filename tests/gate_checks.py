"""Assertions shared by the gate-execution scenario tests."""

from __future__ import annotations

import json
from pathlib import Path

from perfgate_lib.gate.state import gate_folder
from tests.fakes.github_server import DEFAULT_REPO, FAKE_TOKEN
from tests.fakes.marin_world import MarinWorld

GATE_INPUTS = ("baseline-report.json", "baseline-provenance.json", "treatment-report.json")
GATE_OUTPUTS = ("verdict.json", "comment.md", "stage_chart.png", "summary_chart.png", "gate.json")


def state_of(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / "state.json").read_text())


def sentinel_comments(fake, pr: int) -> list[dict]:
    return [
        c
        for c in fake.comments_on(DEFAULT_REPO, pr)
        if c["body"].startswith("<!-- zephyr-perf-gate -->")
    ]


def assert_clean_run(
    world: MarinWorld,
    run_dir: str | Path,
    attempts: list[tuple[int, int]],
    *,
    notebooks: bool = False,
    submitted: bool = True,
) -> dict:
    """No ferry twice per (PR, gate, attempt), no worktree left, and the run folder holds
    the inputs, outputs, state (and executed notebooks) of every attempt."""
    counts = world.submission_counts()
    assert all(n == 1 for n in counts.values()), f"a ferry was submitted twice: {counts}"
    assert not any(s["github_token_seen"] for s in world.submissions()), "token reached a script"
    assert world.leftover_worktrees() == [], world.leftover_worktrees()
    run = Path(run_dir)
    state = state_of(run)
    text = (run / "state.json").read_text()
    assert FAKE_TOKEN not in text
    assert (run / "assessment.json").is_file()
    for gate, attempt in attempts:
        folder = run / gate_folder(gate, attempt)
        for name in GATE_INPUTS + GATE_OUTPUTS:
            assert (folder / name).is_file(), f"{folder.name}/{name} missing"
        if submitted:
            assert (folder / "submission.json").is_file()
            assert (folder / "submit-output.txt").is_file()
        if notebooks:
            assert (folder / "gate.ipynb").is_file()
        gate_json = json.loads((folder / "gate.json").read_text())
        assert "queue_wait_seconds" in gate_json and "job_state" in gate_json
        treated = json.loads((folder / "verdict.json").read_text())["treatment"]
        for key in ("queue_wait_seconds", "job_state", "job_error", "attempt"):
            assert treated[key] == gate_json[key], f"verdict.json treatment.{key}"
    if notebooks:
        assert (run / "assess.ipynb").is_file()
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".txt", ".log", ".ipynb", ".html"):
            assert FAKE_TOKEN not in path.read_text(errors="replace"), f"token in {path}"
    return state


def replay_options(tmp_path, **extra):
    """RunOptions replaying the bundled tier-1 example offline (local baseline, dry run,
    in-process), with a max_gate=1 assessment; ``extra`` overrides."""
    import json

    from perfgate_lib.gate.flow import RunOptions
    from tests.conftest import REPO_ROOT
    from tests.fakes.marin_world import assessment_json

    examples = REPO_ROOT / "parameters" / "examples"
    path = tmp_path / "assessment.json"
    path.write_text(json.dumps(assessment_json("1")))
    values = dict(
        pr=4321,
        runner="replay",
        replay_dir=str(examples),
        baseline_dir=str(examples),
        no_actions=True,
        dry_run=True,
        sha="4f9c2e1a" * 5,
        assessment=str(path),
        confirm="go",
        executor="inprocess",
        runs_root=str(tmp_path / "runs"),
    )
    values.update(extra)
    return RunOptions(**values)
