"""What marin's real scripts do that the kit must live with (issue 14), on the fake world:
the worktree's environment is prepared before submitting (the submit script runs the
worktree's own ``.venv/bin/iris``), no status file exists at submit, ``gate`` comes back
as a string, job ids come in both shapes, and a collector that exits 0 after its iris
calls failed gives an unusable report. The same paths against a real Iris controller
are in ``test_iris_local_cluster.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate_lib.errors import PerfgateError
from perfgate_lib.gate.flow import run
from tests.fakes.marin_world import PASS_PR
from tests.gate_checks import assert_clean_run, sentinel_comments, state_of
from tests.test_ladder_scenarios import PASS, options

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")


def _gate1(out) -> Path:
    return Path(out.run_dir) / "gate1"


def test_the_worktree_is_prepared_before_submit_and_no_status_file_exists_then(
    world_env, tmp_path, github_env
):
    world = world_env
    world.scenario({"default": {"states": PASS, "report": "pass"}})
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    assert_clean_run(world, out.run_dir, [(1, 1)])
    # prepare_env (gate_common.yaml) ran in the treatment worktree, once, before submit
    (sync,) = world.ledger("uv_syncs.jsonl")
    assert sync["args"] == ["sync", "--all-packages", "--extra=cpu", "--no-default-groups"]
    (sub,) = world.submissions()
    assert sync["cwd"] == sub["cwd"]
    state = state_of(out.run_dir)
    assert state["prepared_env"]["passed"] and state["prepared_env"]["worktree"] == sub["cwd"]
    # the submit script wrote no status file; the ferry wrote it when it ended
    assert sub["status_file_at_submit"] is False
    status = json.loads(Path(sub["status_out"]).read_text())
    assert status["status"] == "succeeded"
    submission = json.loads((_gate1(out) / "submission.json").read_text())
    assert submission["gate"] == 1 and submission["raw"]["gate"] == "1"
    report = json.loads((_gate1(out) / "treatment-report.json").read_text())
    assert report["status"] == "succeeded", "collect read the status the ferry wrote"
    # the comment notes the run settings the treatment did not share with its baseline
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "Run settings differ from the baseline's" in body
    assert "--timeout: baseline --timeout 21600, treatment not set" in body


def test_the_tier_workflow_in_the_checkout_is_what_the_baseline_ran_with(
    world_env, tmp_path, github_env
):
    world = world_env
    folder = world.checkout / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "marin-canary-datakit-tier1.yaml").write_text(
        "run: iris job run --no-wait --memory=2G --disk=4G --cpu=1 --extra=cpu "
        "--priority production --timeout 7200 -- python -m experiments.ferries.datakit_ferry\n"
    )
    world.scenario({"default": {"states": PASS, "report": "pass"}})
    out = run(options(world, tmp_path, max_gate="1"))
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "--timeout: baseline --timeout 7200, treatment not set" in body
    assert "marin-canary-datakit-tier1.yaml` in the checkout" in body
    assert out.verdict == "pass", "a settings difference is noted, never judged"


def test_a_failing_environment_preparation_submits_nothing(world_env, tmp_path, github_env):
    world = world_env
    world.write_common(prepare_env=[{"name": "uv sync", "run": "uv lock --check"}])
    world.scenario({"default": {"states": PASS, "report": "pass"}})
    with pytest.raises(
        PerfgateError, match="preparing the treatment worktree's environment"
    ) as exc:
        run(options(world, tmp_path, max_gate="1"))
    assert exc.value.exit_code == 4
    assert world.submissions() == [] and world.leftover_worktrees() == []


def test_unrooted_job_ids_of_the_older_submit_script_are_polled_as_printed(
    world_env, tmp_path, github_env
):
    world = world_env
    world.scenario({"job_id_shape": "unrooted", "default": {"states": PASS, "report": "pass"}})
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    (sub,) = world.submissions()
    assert sub["job_id"].startswith("perfgate-test/zephyr-perf-pr7-g1-treatment-")
    polls = [c["args"] for c in world.kit_iris_calls() if c["args"][:2] == ["job", "list"]]
    assert polls and all(a[a.index("--prefix") + 1] == sub["job_id"] for a in polls)


def test_a_collector_that_failed_quietly_gives_an_inconclusive_gate(
    world_env, tmp_path, github_env
):
    world = world_env
    world.scenario({"default": {"states": PASS, "report": "quiet_failure"}})
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (3, "inconclusive")
    verdict = json.loads((_gate1(out) / "verdict.json").read_text())
    reasons = verdict["inconclusive_reasons"]
    assert reasons[0].startswith("treatment report unusable")
    assert any("controller unreachable" in r for r in reasons), "the warning is named"
    assert all(s["verdict"] == "n/a" for s in verdict["stages"])
    total = next(s for s in verdict["signals"] if s["signal"] == "wall_seconds_total")
    assert total["delta_pct"] is None, "the launcher's wall time is not compared either"
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "⚠ inconclusive" in body and "controller unreachable" in body
