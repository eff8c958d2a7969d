"""Today's collector lineage (issue 28, problems 4 and 5): recorded-shape reports of both
collector lineages through the real verdict and comment code.

Each of the three numbered failures has a test here that uses only the verdict's public
API (``decide``, ``render_comment``), so it fails on the code before the fix:

* a non-admin's treatment was always inconclusive (the raw-query warning);
* a step without a line in the driver's step log was not caught;
* an older-lineage baseline and a newer-lineage treatment were compared on ``tokenize``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate_lib.verdict.lineage import STEP_LOG
from perfgate_lib.verdict.render import render_comment
from perfgate_lib.verdict.report import load_report, parse_report
from perfgate_lib.verdict.rules import GateContext, decide
from perfgate_lib.verdict.thresholds import load_thresholds

REPORTS = Path(__file__).parent / "fixtures" / "reports"
OLD_BASELINE = Path(__file__).parents[1] / "parameters" / "examples" / "tier1_baseline.json"
TH = load_thresholds()
NOW = "2026-12-05T16:00:00+00:00"
NON_ADMIN = "iris query task_wall_ms: failed; sum_task_wall_seconds_total unset"


def fixture(name: str) -> dict:
    return json.loads((REPORTS / name).read_text())


def compare(base: dict, treat: dict, **ctx):
    ctx.setdefault("treatment_ferry_module", "experiments.ferries.datakit_ferry")
    ctx.setdefault("now", NOW)
    b, t = parse_report(base, "baseline.json"), parse_report(treat, "treatment.json")
    verdict = decide(b, t, TH, GateContext(**ctx))
    return verdict, render_comment(verdict, b, t)


def rows(verdict) -> dict:
    return {r.stage: r for r in verdict.stages}


def test_recorded_newest_lineage_reports_load_with_the_collectors_exact_shape():
    admin = load_report(str(REPORTS / "lineage_step_log_admin.json"))
    user = load_report(str(REPORTS / "lineage_step_log_nonadmin.json"))
    steps = list(STEP_LOG.expected_steps)
    assert admin.stages == steps and user.stages == steps
    assert "stage_sum_task_wall_seconds" not in admin.raw | user.raw  # gone in this lineage
    assert admin.raw["sum_task_wall_seconds_total"] > 0
    assert user.raw["sum_task_wall_seconds_total"] is None and user.warnings == (NON_ADMIN,)


# --- failure 1: a non-admin's treatment was always inconclusive ---------------------------


def test_a_non_admin_treatment_is_compared_and_the_warning_is_a_note():
    verdict, comment = compare(
        fixture("lineage_step_log_admin.json"), fixture("lineage_step_log_nonadmin.json")
    )
    assert verdict.verdict == "pass", verdict.inconclusive_reasons
    assert verdict.inconclusive_reasons == []
    assert {r.verdict for r in verdict.stages} == {"pass"}
    wall = next(s for s in verdict.signals if s.signal == "wall_seconds_total")
    assert wall.verdict == "pass" and wall.delta_pct == pytest.approx(
        (4188.904 - 4151.337) / 4151.337 * 100, abs=1e-3
    )
    assert "Note (collector warnings, not counted)" in comment
    assert "iris query task\\_wall\\_ms: failed" in comment  # escaped, shown once as a note
    assert "not a signal" in comment


def test_the_older_lineage_non_admin_warnings_are_notes_too():
    base = json.loads(OLD_BASELINE.read_text())
    verdict, _ = compare(base, fixture("lineage_child_job_nonadmin.json"))
    assert verdict.verdict == "fail", verdict.inconclusive_reasons  # minhash +15.1%: caught
    assert verdict.inconclusive_reasons == []
    assert any(f.startswith("stage minhash: +15.1%") for f in verdict.hard_fails)
    assert any("by_child" in n for n in verdict.collector_notes)


def test_a_treatment_whose_job_tree_or_step_log_could_not_be_read_is_still_unusable():
    for warning in (
        "driver step log unavailable; stage_wall_seconds empty",
        "iris job list --prefix: failed; counts reflect launcher task only",
    ):
        treat = fixture("lineage_step_log_nonadmin.json")
        treat["warnings"] = [warning, NON_ADMIN]
        verdict, comment = compare(fixture("lineage_step_log_admin.json"), treat)
        assert verdict.verdict == "inconclusive"
        assert verdict.inconclusive_reasons[0].startswith("treatment report unusable")
        assert warning in verdict.inconclusive_reasons[0]
        assert all(r.verdict == "n/a" for r in verdict.stages), "never compared"


# --- failure 2: a step without a log line was not caught -----------------------------------


def admin(report: dict) -> dict:
    """The same report as an admin's collector writes it (the raw query succeeded)."""
    return {**report, "warnings": [w for w in report["warnings"] if w != NON_ADMIN]}


@pytest.mark.parametrize("who", [admin, lambda r: r], ids=["admin", "non-admin"])
def test_a_treatment_step_with_no_line_in_the_step_log_is_inconclusive_naming_it(who):
    verdict, comment = compare(
        fixture("lineage_step_log_admin.json"), who(fixture("lineage_step_log_missing_step.json"))
    )
    assert verdict.verdict == "inconclusive"
    row = rows(verdict)["dedup"]
    assert row.verdict == "not_finished" and "step log" in row.note
    assert any(
        r.startswith("treatment step dedup did not finish") for r in verdict.inconclusive_reasons
    )
    assert "| dedup | 3m 53s | — | — | not finished ² |" in comment


def test_a_missing_step_is_caught_without_the_warning_too():
    treat = admin(fixture("lineage_step_log_missing_step.json"))
    treat["warnings"] = []  # an older step-log collector, or a cut warning list
    verdict, _ = compare(fixture("lineage_step_log_admin.json"), treat)
    assert verdict.verdict == "inconclusive"
    assert rows(verdict)["dedup"].verdict == "not_finished"


# --- failure 3: two lineages compared on tokenize ------------------------------------------


@pytest.mark.parametrize("who", [admin, lambda r: r], ids=["admin", "non-admin"])
def test_an_older_lineage_baseline_is_never_compared_with_a_newer_lineage_treatment(who):
    base = json.loads(OLD_BASELINE.read_text())  # child-job lineage: tokenize 197 s
    treat = who(fixture("lineage_step_log_nonadmin.json"))  # step-log lineage: tokenize 646.6 s
    verdict, comment = compare(base, treat)
    assert verdict.verdict == "inconclusive"
    claims = verdict.hard_fails + verdict.warns
    assert not any("stage" in c for c in claims), "no stage is compared across lineages"
    for stage in ("normalize", "minhash", "tokenize"):  # same names, different quantities
        row = rows(verdict)[stage]
        assert row.verdict == "not_comparable" and row.delta_pct is None
        assert "child-job" in row.note and "step-log" in row.note
    lineage = [r for r in verdict.inconclusive_reasons if "different collector lineages" in r]
    assert lineage and "baseline child-job" in lineage[0] and "treatment step-log" in lineage[0]
    assert "normalize, minhash, tokenize" in lineage[0]
    # the stage sets differ too, and that is named (download is optional, not named)
    differ = [r for r in verdict.inconclusive_reasons if "stage sets differ" in r][0]
    assert "only in the baseline: fuzzy_dups, consolidate" in differ and "download" not in differ
    assert "embed" in differ
