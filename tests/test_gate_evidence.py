"""Failure evidence and noise context in the gate comment (issue 8, issue 7 deliverable 4):
fake iris output for OOM lines and queue wait, debug commands after two inconclusives,
and the recent baseline spread from a mirror beside each stage delta."""

from __future__ import annotations

from perfgate_lib.gate.flow import run
from tests.fakes.marin_world import PASS_PR
from tests.gate_checks import assert_clean_run, replay_options, sentinel_comments
from tests.test_ladder_scenarios import PASS, options

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

OOM_LOG = (
    "I1127 10:00:01 coordinator: stage minhash started\n"
    "E1127 10:07:40 worker-7: Task exited with code 137 (OOMKilled): memory limit 2G\n"
    "W1127 10:07:41 worker pool: worker-7 died, 3 tasks rescheduled\n"
)


def test_oom_evidence_from_iris_logs_in_the_comment(world_env, tmp_path, github_env):
    world = world_env
    world.scenario({"default": {"states": PASS, "report": "oom", "logs": OOM_LOG}})
    out = run(options(world, tmp_path))
    assert (out.exit_code, out.verdict) == (1, "fail")
    assert_clean_run(world, out.run_dir, [(1, 1)])
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "### OOM evidence" in body
    assert "Task exited with code 137 (OOMKilled)" in body
    assert "worker-7 died" in body
    assert "coordinator: stage minhash started" not in body
    calls = [c["args"] for c in world.ledger("iris_calls.jsonl")]
    assert any(a[:2] == ["job", "logs"] for a in calls)


def test_queue_wait_over_30_minutes_is_noted_not_judged(world_env, tmp_path, github_env):
    world = world_env
    world.scenario({"default": {"states": PASS, "report": "pass", "queue_ms": 45 * 60 * 1000}})
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "45m 00s in the queue" in body and "not a perf signal" in body


def test_second_inconclusive_gives_debug_commands(world_env, tmp_path, github_env):
    world = world_env
    world.scenario({"default": {"states": PASS, "report": "inconclusive"}})
    out = run(options(world, tmp_path))
    assert (out.exit_code, out.verdict) == (3, "inconclusive")
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "**Inconclusive because:**" in body and "preempted task" in body
    assert "### Debugging" in body
    for sub in world.submissions():
        job = sub.get("job_id") or ""
        assert job and f"job logs {job}" in body


def test_noise_context_from_a_mirror(tmp_path):
    from tests.conftest import REPO_ROOT

    out = run(replay_options(tmp_path, mirror=str(REPO_ROOT / "tests" / "fixtures" / "history")))
    comment = next((tmp_path / "runs").rglob("gate1/comment.md")).read_text()
    assert out.verdict == "fail"
    assert "| Recent baseline spread |" in comment
    row = next(line for line in comment.splitlines() if line.startswith("| minhash |"))
    assert "±" in row and "(n=" in row


def test_comment_links_the_archived_notebook_when_runs_have_a_url(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFGATE_RUNS_URL", "https://perf.example/runs")
    out = run(replay_options(tmp_path))
    stamp = out.run_dir.rstrip("/").split("/")[-1]
    comment = next((tmp_path / "runs").rglob("gate1/comment.md")).read_text()
    link = f"https://perf.example/runs/pr4321/{stamp}/gate1/gate.html"
    assert f"Archived run: [executed gate notebook]({link})" in comment
