"""``perfgate run`` through the real CLI and papermill kernels (slow): the kill-and-resume
scenario and the local-checks halt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.fakes.marin_world import FAILING_PR, PASS_PR, assessment_json
from tests.gate_checks import assert_clean_run, sentinel_comments, state_of

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

pytestmark = pytest.mark.slow


def cli_args(world, pr: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "perfgate_lib",
        "run",
        "--pr",
        str(pr),
        "--checkout",
        str(world.checkout),
        "--runs-root",
        str(world.root / "runs"),
        "--run-params",
        str(world.common),
        *extra,
    ]


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the world's folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text()
                if stat.split(") ", 1)[-1][:1] != "Z":
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def polling(run_root: Path):
    """The run folder once gate 1 has a job id and has been polled."""
    for state_file in run_root.glob(f"pr{PASS_PR}/*/state.json"):
        try:
            rec = json.loads(state_file.read_text())["attempts"]["gate1"]
        except (KeyError, json.JSONDecodeError):
            continue
        if rec.get("job_id") and rec.get("job", {}).get("polls", 0) >= 2:
            return state_file.parent
    return None


def test_killed_while_polling_resumes_the_same_job(world_env, github_env):
    world = world_env
    running = ["JOB_STATE_PENDING"] + ["JOB_STATE_RUNNING"] * 500
    world.scenario({"default": {"states": running, "report": "pass"}})
    env = {**os.environ, "PERFGATE_POLL_SECONDS": "0.2"}
    args = cli_args(world, PASS_PR, "--confirm", "go", "--max-gate", "1")
    first = subprocess.Popen(
        args,
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_dir = wait_for(lambda: polling(world.root / "runs"), 120, "gate 1 polling")
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # a crash: no cleanup runs
        first.wait()
    # the notebook kernel (its own session) notices its parent died and exits
    wait_for(lambda: not processes_with(str(world.world)), 30, "the orphaned kernel to exit")
    assert len(world.submissions()) == 1
    assert state_of(run_dir)["status"] == "running"

    world.scenario(
        {"default": {"states": ["JOB_STATE_PENDING", "JOB_STATE_SUCCEEDED"], "report": "pass"}}
    )
    second = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming: {run_dir}" in second.stdout
    assert "verdict: pass" in second.stdout
    state = assert_clean_run(world, run_dir, [(1, 1)], notebooks=True)
    assert len(world.submissions()) == 1, "the resumed run polled the same job"
    assert state["attempts"]["gate1"]["job_id"] == world.submissions()[0]["job_id"]
    assert len(sentinel_comments(github_env, PASS_PR)) == 1
    assert len(github_env.requests_matching("POST", "/repos/*/issues/*/comments")) == 1
    assert [e["event"] for e in state["events"]].count("resumed") == 1
    assert (run_dir / "gate1" / "gate.html").is_file(), "archived: HTML render"
    assert state["status"] == "finished"


def test_local_checks_fail_halts_through_the_cli(world_env, github_env, tmp_path):
    world = world_env
    assessment = tmp_path / "assessment.json"
    given = assessment_json("3") | {"rationale": "shuffle.py — scatter buffer doubled"}
    assessment.write_text(json.dumps(given))
    proc = subprocess.run(
        cli_args(world, FAILING_PR, "--confirm", "go", "--assessment", str(assessment)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "local check failed" in proc.stderr
    assert world.submissions() == [] and world.leftover_worktrees() == []
    (comment,) = sentinel_comments(github_env, FAILING_PR)
    assert "halted (local tests failed)" in comment["body"]
    run_dir = next((world.root / "runs" / f"pr{FAILING_PR}").iterdir())
    assert (run_dir / "gate1" / "gate.ipynb").is_file(), "the executed notebook is kept"
    assert (run_dir / "local-checks" / "local-checks.log").is_file()
    assert state_of(run_dir)["status"] == "halted"
    # one writer for assessment.json: UTF-8 text as `perfgate assess` writes it, not \u escapes
    assert "shuffle.py — scatter buffer doubled" in (run_dir / "assessment.json").read_text()


def test_gate_notebook_runs_offline_on_its_defaults(tmp_path):
    """notebooks/gate.ipynb top to bottom on its literal defaults (replay, local baseline)."""
    from perfgate_lib.io.notebook import notebook_parameters, run_notebook

    params = notebook_parameters("gate")
    assert params["runner"]["default"] == '"replay"' and params["post"]["default"] == '"file"'
    run_dir = tmp_path / "run"
    executed = run_notebook("gate", str(tmp_path), {"run_dir": str(run_dir)})
    nb = json.loads(Path(executed).read_text())
    text = json.dumps(nb["cells"])
    assert "verdict: fail" in text and "Baseline provenance" in text
    state = state_of(run_dir)
    assert state["attempts"]["gate1"]["status"] == "posted"
    assert (run_dir / "gate1" / "stage_chart.png").is_file()
    assert (run_dir / "comment.md").read_text().startswith("<!-- zephyr-perf-gate -->")


def test_committed_gate_notebook_has_no_outputs():
    nb = json.loads((REPO_ROOT / "notebooks" / "gate.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "parameters" in code[0]["metadata"]["tags"]
