"""Today's collector lineage through a whole gate run (issue 28), on the fake marin world:
the fake collector writes the step-log lineage's report (``lineage: step-log``), as a
non-admin (``role: user``) or with a step that has no line in the driver's log; the
baseline is a scheduled run's artifact on the fake GitHub, of either lineage."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from perfgate_lib.gate.flow import run
from tests.fakes.github_server import make_zip
from tests.fakes.marin_world import DEFAULT_REPO, PASS_PR
from tests.gate_checks import sentinel_comments
from tests.test_ladder_scenarios import PASS, options

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

STEP_LOG_BASELINE = Path(__file__).parent / "fixtures" / "reports" / "lineage_step_log_admin.json"
NON_ADMIN = "iris query task_wall_ms: failed; sum_task_wall_seconds_total unset"


def seed_step_log_baseline(fake) -> None:
    """A newer scheduled tier-1 run whose artifact is a step-log lineage report."""
    data = json.loads(STEP_LOG_BASELINE.read_text())
    created = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    run_ = fake.add_run(
        DEFAULT_REPO, "marin-canary-datakit-tier1.yaml", head_sha="d" * 40, created_at=created
    )
    data["workflow_run_id"] = str(run_["id"])
    fake.add_artifact(
        run_["id"], "datakit-tier1-perf-report", make_zip({"perf-report.json": json.dumps(data)})
    )


def gate1(world, tmp_path, spec: dict):
    world.scenario({"default": {"states": PASS, "report": "pass", **spec}})
    out = run(options(world, tmp_path, max_gate="1"))
    folder = Path(out.run_dir) / "gate1"
    verdict = json.loads((folder / "verdict.json").read_text())
    report = json.loads((folder / "treatment-report.json").read_text())
    return out, verdict, report


def test_a_non_admin_step_log_treatment_passes_with_the_warning_as_a_note(
    world_env, tmp_path, github_env
):
    seed_step_log_baseline(github_env)
    out, verdict, report = gate1(world_env, tmp_path, {"lineage": "step-log", "role": "user"})
    assert NON_ADMIN in report["warnings"] and "stage_sum_task_wall_seconds" not in report
    assert (out.exit_code, out.verdict) == (0, "pass"), verdict["inconclusive_reasons"]
    assert verdict["lineages"]["treatment"].startswith("step-log")
    assert verdict["lineages"]["baseline"].startswith("step-log")
    assert any(NON_ADMIN in n for n in verdict["collector_notes"])
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "Note (collector warnings, not counted)" in body and "✅ pass" in body


def test_a_step_log_treatment_against_a_child_job_baseline_is_inconclusive(
    world_env, tmp_path, github_env
):
    out, verdict, _ = gate1(world_env, tmp_path, {"lineage": "step-log"})
    assert (out.exit_code, out.verdict) == (3, "inconclusive")
    reasons = " | ".join(verdict["inconclusive_reasons"])
    assert "baseline child-job" in reasons and "treatment step-log" in reasons
    rows = {r["stage"]: r for r in verdict["stages"]}
    assert rows["tokenize"]["verdict"] == "not_comparable" and rows["tokenize"]["delta_pct"] is None


def test_a_step_log_step_without_a_line_makes_the_gate_inconclusive(
    world_env, tmp_path, github_env
):
    seed_step_log_baseline(github_env)
    out, verdict, report = gate1(
        world_env, tmp_path, {"lineage": "step-log", "role": "user", "missing_steps": ["dedup"]}
    )
    assert "dedup" not in report["stage_wall_seconds"]
    assert "expected steps neither ran nor were cached: dedup" in report["warnings"]
    assert (out.exit_code, out.verdict) == (3, "inconclusive")
    assert any(
        r.startswith("treatment step dedup did not finish") for r in verdict["inconclusive_reasons"]
    )
    rows = {r["stage"]: r for r in verdict["stages"]}
    assert rows["dedup"]["verdict"] == "not_finished"
