"""The gate ladder end to end at the library level (``executor="inprocess"``): real git
worktrees, real local checks (pytest on the fixture repo), fake uv/iris/marin scripts,
the fake GitHub (real PyGithub) for baselines and the comment."""

from __future__ import annotations

import json

import pytest

from perfgate_lib.errors import PerfgateError, UsageError
from perfgate_lib.gate.flow import RunOptions, run
from tests.fakes.marin_world import FAILING_PR, PASS_PR, assessment_json
from tests.gate_checks import assert_clean_run, replay_options, sentinel_comments, state_of

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

PASS = ["JOB_STATE_PENDING", "JOB_STATE_BUILDING", "running", "JOB_STATE_SUCCEEDED"]


def options(world, tmp_path, *, pr=PASS_PR, max_gate="3", confirm="go", **extra) -> RunOptions:
    path = tmp_path / f"assessment-{max_gate}.json"
    path.write_text(json.dumps(assessment_json(max_gate)))
    values = dict(
        pr=pr,
        checkout=str(world.checkout),
        confirm=confirm,
        sha=world.sha(pr),
        assessment=str(path),
        executor="inprocess",
        run_params=str(world.common),
        runs_root=str(world.root / "runs"),
    )
    values.update(extra)
    return RunOptions(**values)


def attempts_scenario(**per_attempt: str) -> dict:
    """``g1a1="warn"`` -> that attempt's report; every job goes through the states above."""
    return {
        "default": {"states": PASS, "report": "pass"},
        "attempts": {
            k[1] + "/" + k[3]: {"states": PASS, "report": v} for k, v in per_attempt.items()
        },
    }


def test_all_pass_to_gate_3(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario())
    out = run(options(world, tmp_path))
    assert (out.exit_code, out.verdict) == (0, "pass")
    state = assert_clean_run(world, out.run_dir, [(1, 1), (2, 1), (3, 1)])
    assert [(s["gate"], s["attempt"]) for s in world.submissions()] == [(1, 1), (2, 1), (3, 1)]
    comments = sentinel_comments(github_env, PASS_PR)
    assert len(comments) == 1, "each gate's comment replaces the previous one"
    body = comments[0]["body"]
    assert "Gate 3 (nemotron)" in body and "✅ pass" in body
    assert "### Diff assessment" in body and "scatter buffer size doubled" in body
    assert [p["action"] for p in state["posts"]] == ["created", "updated", "updated"]
    assert state["status"] == "finished" and state["local_checks"]["passed"]
    # the treatment ferry module came from the submit output; queue wait recorded apart
    g1 = state["attempts"]["gate1"]
    assert g1["ferry_module"] == "experiments.ferries.datakit_ferry"
    gate_json = json.loads(
        (tmp_path / "w" / "runs")
        .joinpath(*out.run_dir.split("/runs/")[1].split("/"), "gate1", "gate.json")
        .read_text()
    )
    assert gate_json["queue_wait_seconds"] == pytest.approx(1.5)
    assert gate_json["job_state"] == "succeeded"
    # every poll went to the marin cluster config, and the status path per the skill
    configs = {c["config"] for c in world.kit_iris_calls()}
    assert configs == {str(world.checkout / "lib/iris/config/marin.yaml")}
    assert world.submissions()[0]["status_out"] == str(world.status_root / "7/treatment-g1.json")
    assert (world.root / "runs" / "index").is_dir(), "the run was archived and indexed"


def test_gate1_warn_then_gate2_fail_stops(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario(g1a1="warn", g2a1="fail"))
    out = run(options(world, tmp_path))
    assert (out.exit_code, out.verdict) == (1, "fail")
    assert_clean_run(world, out.run_dir, [(1, 1), (2, 1)])
    assert [s["gate"] for s in world.submissions()] == [1, 2], "no gate 3 after a fail"
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "Gate 2 (long-tail stress)" in body and "❌ fail" in body
    assert "Gate 1 ⚠ warn → Gate 2 ❌ fail" in body
    assert "larger gates were not run" in body


def test_inconclusive_then_pass(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario(g1a1="inconclusive"))
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    state = assert_clean_run(world, out.run_dir, [(1, 1), (1, 2)])
    assert [(s["gate"], s["attempt"]) for s in world.submissions()] == [(1, 1), (1, 2)]
    assert state["attempts"]["gate1-attempt2"]["verdict"] == "pass"
    assert world.submissions()[1]["status_out"].endswith("treatment-g1-attempt2.json")
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "Gate 1 ⚠ inconclusive → Gate 1 (attempt 2) ✅ pass" in body


def test_inconclusive_twice_escalates_to_debug(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario(g1a1="inconclusive", g1a2="inconclusive"))
    out = run(options(world, tmp_path))
    assert (out.exit_code, out.verdict) == (3, "inconclusive")
    assert "escalate to debug" in out.message
    assert_clean_run(world, out.run_dir, [(1, 1), (1, 2)])
    assert len(world.submissions()) == 2, "never a third ferry, never gate 2"
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "escalate to debug" in body and "⚠ inconclusive" in body


def test_failed_job_is_inconclusive_with_its_error_then_resubmitted(
    world_env, tmp_path, github_env
):
    world = world_env
    world.scenario(
        {
            "default": {"states": PASS, "report": "pass"},
            "attempts": {
                "1/1": {
                    "states": ["JOB_STATE_PENDING", "JOB_STATE_WORKER_FAILED"],
                    "report": "none",
                    "error": "worker pool wedged: coordinator zombie",
                }
            },
        }
    )
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    state = assert_clean_run(world, out.run_dir, [(1, 1), (1, 2)])
    first = state["attempts"]["gate1"]
    assert first["verdict"] == "inconclusive" and first["report_synthesized"]
    assert first["job"]["error"] == "worker pool wedged: coordinator zombie"
    run_dir = tmp_path / "w" / "runs" / out.run_dir.split("/runs/")[1]
    gate_json = json.loads((run_dir / "gate1" / "gate.json").read_text())
    assert gate_json["job_state"] == "worker_failed"
    assert gate_json["job_error"] == "worker pool wedged: coordinator zombie"
    comment = (run_dir / "gate1" / "comment.md").read_text()
    assert "### Treatment job" in comment and "coordinator zombie" in comment


def test_local_checks_fail_halts_without_a_ferry(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario())
    with pytest.raises(PerfgateError) as info:
        run(options(world, tmp_path, pr=FAILING_PR))
    assert info.value.exit_code == 4
    assert world.submissions() == [], "nothing submitted after a failed local check"
    assert world.leftover_worktrees() == []
    (comment,) = sentinel_comments(github_env, FAILING_PR)
    assert "halted (local tests failed)" in comment["body"]
    assert "test_broken" in comment["body"], "the output tail is in the halt comment"
    run_dir = next((world.root / "runs" / f"pr{FAILING_PR}").iterdir())
    state = state_of(run_dir)
    assert state["status"] == "halted" and state["outcome"]["exit_code"] == 4
    assert "uv run pytest" in state["local_checks"]["failed_step"]
    tail = (run_dir / "local-checks" / "local-checks-tail.txt").read_text()
    assert "assert 1 == 2" in tail
    # a halted run is final: the next run starts afresh (and halts again, same comment)
    with pytest.raises(PerfgateError):
        run(options(world, tmp_path, pr=FAILING_PR))
    assert len(list((world.root / "runs" / f"pr{FAILING_PR}").iterdir())) >= 2
    assert len(sentinel_comments(github_env, FAILING_PR)) == 1


def test_pyrefly_failure_halts_too(world_env, tmp_path, github_env):
    world = world_env
    world.scenario({**attempts_scenario(), "pyrefly_exit": 1})
    with pytest.raises(PerfgateError):
        run(options(world, tmp_path))
    assert world.submissions() == []
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert "uv run pyrefly" in comment["body"] and "bad-assignment" in comment["body"]


def test_skip_posts_the_waiver_and_submits_nothing(world_env, tmp_path, github_env):
    world = world_env
    out = run(options(world, tmp_path, max_gate="1", confirm="skip — docstring only"))
    assert (out.exit_code, out.verdict) == (0, "skip")
    assert world.submissions() == [] and world.leftover_worktrees() == []
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert "waived" in comment["body"] and "no ferry" in comment["body"]
    assert state_of(out.run_dir)["status"] == "finished"


def test_max_gate_1_stops_after_gate_1(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario())
    out = run(options(world, tmp_path, max_gate="3", confirm="max_gate=1 — smoke is enough"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    assert_clean_run(world, out.run_dir, [(1, 1)])
    assert [s["gate"] for s in world.submissions()] == [1]
    assessment = json.loads(
        (tmp_path / "w" / "runs" / out.run_dir.split("/runs/")[1] / "assessment.json").read_text()
    )
    assert assessment["max_gate"] == "1"
    assert assessment["rationale"].startswith("reviewer override: max_gate=1")


def test_without_confirmation_it_prints_the_block_and_waits(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario())
    lines: list[str] = []
    out = run(options(world, tmp_path, max_gate="1", confirm=None), echo=lines.append)
    assert out.exit_code == 0 and out.verdict is None
    assert any("Zephyr perf gate assessment" in line for line in lines)
    assert world.submissions() == [] and sentinel_comments(github_env, PASS_PR) == []
    assert state_of(out.run_dir)["status"] == "awaiting_confirmation"
    # the confirmation continues the same run folder
    again = run(options(world, tmp_path, max_gate="1", confirm="go"))
    assert again.run_dir == out.run_dir and again.verdict == "pass"


def test_dry_run_writes_the_comment_and_posts_nothing(world_env, tmp_path, github_env):
    world = world_env
    world.scenario(attempts_scenario())
    out = run(options(world, tmp_path, max_gate="1", dry_run=True))
    assert out.verdict == "pass"
    assert github_env.requests_matching("POST", "/repos/*/issues/*/comments") == []
    assert github_env.requests_matching("PATCH", "/repos/*/issues/comments/*") == []
    run_dir = tmp_path / "w" / "runs" / out.run_dir.split("/runs/")[1]
    assert (run_dir / "comment.md").read_text().startswith("<!-- zephyr-perf-gate -->")
    assert state_of(run_dir)["posts"][0]["mode"] == "file"


def test_no_baseline_posts_the_gap_comment_and_submits_nothing(
    marin_world, fake_github, github_env, monkeypatch, tmp_path
):
    from tests.fakes.marin_world import seed_pull

    world = marin_world
    for key, value in world.env().items():
        monkeypatch.setenv(key, value)
    seed_pull(fake_github, world, PASS_PR)  # a PR, but no scheduled baseline run anywhere
    world.scenario(attempts_scenario())
    with pytest.raises(PerfgateError) as info:
        run(options(world, tmp_path, max_gate="1"))
    assert info.value.exit_code == 4
    assert world.submissions() == [] and world.leftover_worktrees() == []
    (comment,) = sentinel_comments(fake_github, PASS_PR)
    assert "baseline unavailable" in comment["body"]
    assert "no baseline for gate 1" in str(info.value)


def test_other_cluster_needs_the_flag(world_env, tmp_path):
    world = world_env
    world.scenario(attempts_scenario())
    with pytest.raises(UsageError, match="allow-other-cluster"):
        run(options(world, tmp_path, max_gate="1", iris_config="lib/iris/config/other.yaml"))
    assert world.submissions() == [] and not (world.root / "runs").exists()
    out = run(
        options(
            world,
            tmp_path,
            max_gate="1",
            iris_config="lib/iris/config/other.yaml",
            allow_other_cluster=True,
        )
    )
    assert out.verdict == "pass"
    other = str(world.checkout / "lib/iris/config/other.yaml")
    assert {c["config"] for c in world.kit_iris_calls()} == {other}
    assert world.submissions()[0]["iris_config"] == other


def test_crash_between_submitting_and_job_id_adopts_the_job(world_env, tmp_path, github_env):
    """The job id is recovered (submit output, else the cluster's job list), never resubmitted."""
    from perfgate_lib.runners.iris import IrisRunner

    world = world_env
    world.scenario(attempts_scenario())
    real_submit = IrisRunner.submit

    def crash_after_submit(self, *args, **kwargs):
        real_submit(self, *args, **kwargs)
        raise KeyboardInterrupt  # the process dies before the job id is recorded

    mp = pytest.MonkeyPatch()
    mp.setattr(IrisRunner, "submit", crash_after_submit)
    with pytest.raises(KeyboardInterrupt):
        run(options(world, tmp_path, max_gate="1"))
    mp.undo()
    run_dir = next((world.root / "runs" / f"pr{PASS_PR}").iterdir())
    assert state_of(run_dir)["attempts"]["gate1"]["status"] == "submitting"
    (run_dir / "gate1" / "submit-output.txt").unlink()  # worst case: only the cluster knows
    out = run(options(world, tmp_path, max_gate="1"))
    assert out.verdict == "pass" and out.run_dir == str(run_dir)
    state = assert_clean_run(world, out.run_dir, [(1, 1)], submitted=False)
    assert (
        state["attempts"]["gate1"]["submit_recorded_by"] == "recovered from the cluster's job list"
    )
    assert len(world.submissions()) == 1


def test_interrupt_leaves_a_young_ferry_running_unless_confirmed(world_env, tmp_path):
    from perfgate_lib.gate import babysit as babysit_mod

    world = world_env
    world.scenario({"default": {"states": ["JOB_STATE_RUNNING"], "report": "pass"}})
    calls = {"n": 0}
    real = babysit_mod.babysit

    def interrupting(runner, watch, policy, **kw):
        def progress(w, now, nxt):
            calls["n"] += 1
            if calls["n"] >= 2:
                raise KeyboardInterrupt

        return real(runner, watch, policy, **{**kw, "progress": progress})

    mp = pytest.MonkeyPatch()
    mp.setattr("perfgate_lib.gate.run.babysit", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(options(world, tmp_path, max_gate="1"))
    assert world.ledger("stops.jsonl") == [], "not past its wall time: left running"
    assert world.leftover_worktrees() == []
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        run(options(world, tmp_path, max_gate="1", yes_stop_early=True))
    mp.undo()
    assert len(world.ledger("stops.jsonl")) == 1, "stopped with --yes-stop-early"
    assert len(world.submissions()) == 1, "the resumed run polled the same job"
    assert world.leftover_worktrees() == []


def test_replay_runner_audits_recorded_reports_offline(tmp_path, monkeypatch):
    """No cluster, no GitHub: recorded treatment reports and a local baseline, dry run."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    out = run(replay_options(tmp_path))
    assert (out.exit_code, out.verdict) == (1, "fail")  # the bundled example regresses minhash
    state = state_of(out.run_dir)
    assert state["attempts"]["gate1"]["baseline"]["source"] == "local"
    assert state["posts"][0]["mode"] == "file"
    comment = (tmp_path / "runs").joinpath(*out.run_dir.split("/runs/")[1].split("/"), "comment.md")
    assert "❌ fail" in comment.read_text()
