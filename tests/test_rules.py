"""Every rule of docs/verdict-rules.md, boundaries and precedence included."""

from __future__ import annotations

import copy

import pytest

from perfgate_lib.verdict.report import parse_report
from perfgate_lib.verdict.rules import GateContext, decide
from perfgate_lib.verdict.thresholds import load_thresholds
from tests.render_cases import DESIGN_VERDICT_KEYS

TH = load_thresholds()

BASE = {
    "iris_job_id": "/ci/base",
    "status": "succeeded",
    "wall_seconds_total": 1000.0,
    "stage_wall_seconds": {"normalize": 100.0, "minhash": 200.0, "tokenize": 400.0},
    "cached_steps": [],
    "failed_shards": 0,
    "peak_worker_memory_mb": 1000,
    "preemption_count": 0,
    "task_state_counts": {"succeeded": 40},
    "infra_failures": {"oom": 0, "hardware_fault": 0},
    "collected_at_utc": "2026-11-27T07:00:00+00:00",
}


def rep(**changes):
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def treat(**changes):
    changes.setdefault("iris_job_id", "/pg/treat")
    return rep(**changes)


def run(base, treatment, **ctx):
    ctx.setdefault("treatment_ferry_module", "experiments.ferries.datakit_ferry")
    return decide(
        parse_report(base, "b.json"), parse_report(treatment, "t.json"), TH, GateContext(**ctx)
    )


def stage(verdict, name):
    return next(s for s in verdict.stages if s.stage == name)


def signal(verdict, name):
    return next(s for s in verdict.signals if s.signal == name)


def test_identical_reports_pass():
    v = run(rep(), treat())
    assert v.verdict == "pass"
    assert v.hard_fails == v.warns == v.inconclusive_reasons == []
    assert [s.verdict for s in v.stages] == ["pass", "pass", "pass"]


@pytest.mark.parametrize(
    ("treatment_s", "expected"),
    [
        (1050.0, "pass"),  # exactly +5.0% is pass
        (1050.0001, "warn"),
        (1100.0, "warn"),  # exactly +10.0% is warn
        (1100.0001, "fail"),
        (900.0, "pass"),  # improvements pass
    ],
)
def test_wall_total_band_boundaries(treatment_s, expected):
    v = run(rep(), treat(wall_seconds_total=treatment_s))
    assert signal(v, "wall_seconds_total").verdict == expected
    assert v.verdict == expected


@pytest.mark.parametrize(
    ("base_s", "treat_s", "expected"),
    [
        (200.0, 210.0, "pass"),
        (200.0, 220.0, "warn"),
        (200.0, 220.01, "fail"),
        (845.0, 887.25, "pass"),  # +5.0% of a realistic figure
        (845.0, 929.5, "warn"),  # +10.0% of a realistic figure
        (3.0, 3.3, "warn"),  # 3.3 is not exact in binary, +10% still warns
    ],
)
def test_stage_band_boundaries(base_s, treat_s, expected):
    v = run(
        rep(stage_wall_seconds={"minhash": base_s}),
        treat(stage_wall_seconds={"minhash": treat_s}),
    )
    assert stage(v, "minhash").verdict == expected


@pytest.mark.parametrize(
    ("mem", "expected"),
    [(1050, "pass"), (1051, "warn"), (1150, "warn"), (1151, "fail")],
)
def test_memory_bands_include_upper_bound(mem, expected):
    v = run(rep(), treat(peak_worker_memory_mb=mem))
    assert signal(v, "peak_worker_memory_mb").verdict == expected
    assert v.verdict == expected


def test_delta_is_signed_percent():
    v = run(rep(), treat(wall_seconds_total=1028.0))
    assert signal(v, "wall_seconds_total").delta_pct == pytest.approx(2.8)


@pytest.mark.parametrize("zero_side", ["baseline", "treatment"])
def test_memory_zero_means_unknown(zero_side):
    b = rep(peak_worker_memory_mb=0 if zero_side == "baseline" else 1000)
    t = treat(peak_worker_memory_mb=0 if zero_side == "treatment" else 5000)
    row = signal(run(b, t), "peak_worker_memory_mb")
    assert row.verdict == "n/a"
    assert row.delta_pct is None


def test_missing_null_and_zero_baseline_give_na_rows():
    v = run(
        rep(wall_seconds_total=None, stage_wall_seconds={"a": 0.0, "b": None, "c": 10.0}),
        treat(stage_wall_seconds={"a": 50.0, "b": 10.0, "c": 10.0}),
    )
    assert signal(v, "wall_seconds_total").verdict == "n/a"
    assert stage(v, "a").verdict == "n/a" and "is 0" in stage(v, "a").note
    assert stage(v, "b").verdict == "n/a" and "missing in the baseline" in stage(v, "b").note
    assert v.verdict == "pass"
    assert any("wall_seconds_total: n/a" in n for n in v.notes)


def test_cached_stage_excluded_either_side():
    v = run(
        rep(stage_wall_seconds={"normalize": 0.0, "minhash": 100.0}, cached_steps=["normalize"]),
        treat(stage_wall_seconds={"normalize": 900.0, "minhash": 100.0}),
    )
    row = stage(v, "normalize")
    assert row.verdict == "cached" and row.delta_pct is None
    assert "baseline" in row.note
    assert v.verdict == "pass"


def test_stage_on_one_side_is_not_comparable_and_the_runs_did_not_do_the_same_work():
    # evidence 6: a stage (not download) on one side only, not cached on the other
    v = run(
        rep(stage_wall_seconds={"normalize": 100.0, "minhash": 10.0, "extra": 5.0}),
        treat(stage_wall_seconds={"normalize": 100.0, "minhash": 10.0, "other": 500.0}),
    )
    assert stage(v, "extra").verdict == "not_comparable"
    assert stage(v, "other").verdict == "not_comparable"
    names = ["normalize", "minhash", "extra", "other"]
    assert [s.stage for s in v.stages] == names  # never renamed
    assert v.verdict == "inconclusive" and v.decided_by == "3 inconclusive evidence"
    assert v.inconclusive_reasons == [
        "the runs did not do the same work (stage sets differ; only in the baseline: extra; "
        "only in the treatment: other)"
    ]


def test_download_or_a_stage_cached_on_the_other_side_is_not_different_work():
    stages = {"normalize": 100.0, "minhash": 10.0}
    v = run(rep(stage_wall_seconds={"download": 12.0, **stages}), treat(stage_wall_seconds=stages))
    assert stage(v, "download").verdict == "not_comparable" and v.verdict == "pass"
    cached = run(
        rep(stage_wall_seconds={**stages, "tokenize": 0.0}, cached_steps=["tokenize"]),
        treat(stage_wall_seconds=stages),
    )
    assert stage(cached, "tokenize").verdict == "cached" and cached.verdict == "pass"


def test_two_collector_lineages_are_never_compared_on_same_named_stages():
    v = run(
        rep(stage_wall_seconds={"fuzzy_dups": 100.0, "minhash": 10.0}),
        treat(stage_wall_seconds={"dedup": 500.0, "minhash": 30.0}),
    )
    assert stage(v, "fuzzy_dups").verdict == "not_comparable"
    assert stage(v, "dedup").verdict == "not_comparable"
    row = stage(v, "minhash")  # +200% under one name, but two different quantities
    assert row.verdict == "not_comparable" and row.delta_pct is None
    assert "different collector lineages" in row.note
    assert v.verdict == "inconclusive" and not any("minhash" in f for f in v.hard_fails)
    assert v.lineages["baseline"].startswith("child-job")
    assert v.lineages["treatment"].startswith("step-log")
    reasons = " | ".join(v.inconclusive_reasons)
    assert "baseline child-job" in reasons and "treatment step-log" in reasons
    # the step-log treatment's expected steps without a line did not finish, named
    assert "treatment step embed did not finish" in reasons


def test_failed_shards_rise_is_hard_fail():
    v = run(rep(failed_shards=1), treat(failed_shards=2))
    assert v.verdict == "fail"
    assert any("failed_shards" in f for f in v.hard_fails)
    assert run(rep(failed_shards=2), treat(failed_shards=2)).verdict == "pass"


@pytest.mark.parametrize("bucket", ["oom", "scheduling_timeout", "application_failure", "other"])
def test_infra_bucket_rise_is_hard_fail(bucket):
    v = run(rep(), treat(infra_failures={bucket: 1}))
    assert v.verdict == "fail"
    assert any(bucket in f for f in v.hard_fails)


def test_missing_infra_bucket_counts_zero_and_oom_falls_back_to_ooms():
    assert run(rep(infra_failures={}), treat(infra_failures={"oom": 0})).verdict == "pass"
    v = run(rep(infra_failures=..., ooms=0), treat(infra_failures=..., ooms=2))
    assert v.verdict == "fail"


def test_hardware_fault_rise_is_inconclusive_never_fail():
    v = run(rep(), treat(infra_failures={"hardware_fault": 2}))
    assert v.verdict == "inconclusive"
    assert any("hardware fault" in r for r in v.inconclusive_reasons)
    assert v.hard_fails == []


@pytest.mark.parametrize(
    ("base_p", "treat_p", "expected"),
    [(0, 1, "inconclusive"), (2, 5, "pass"), (2, 6, "inconclusive"), (5, 0, "pass")],
)
def test_preemption_rule(base_p, treat_p, expected):
    v = run(rep(preemption_count=base_p), treat(preemption_count=treat_p))
    assert v.verdict == expected


def test_preempted_tasks_make_inconclusive():
    v = run(rep(), treat(task_state_counts={"succeeded": 40, "preempted": 1}))
    assert v.verdict == "inconclusive"


def test_cluster_generation_from_reports_or_context():
    v = run(rep(cluster_generation="v5e"), treat(cluster_generation="v6e"))
    assert v.verdict == "inconclusive"
    assert run(rep(cluster_generation="v5e"), treat()).verdict == "pass"  # only when both carry it
    v = run(rep(), treat(), baseline_cluster_generation="n2", treatment_cluster_generation="c3")
    assert v.verdict == "inconclusive"


def test_treatment_not_succeeded_is_inconclusive():
    assert run(rep(), treat(status="failed")).verdict == "inconclusive"
    v = run(rep(), treat(status=None), treatment_job_state="JOB_STATE_FAILED")
    assert v.verdict == "inconclusive"
    assert any("ended failed" in r for r in v.inconclusive_reasons)


def test_failed_treatment_with_oom_is_hard_fail():
    v = run(rep(), treat(status="failed", infra_failures={"oom": 3}))
    assert v.verdict == "fail"


# --- precedence ------------------------------------------------------------------------


def test_precedence_1_miswired_ferry_module_claims_nothing_else():
    v = run(
        rep(),
        treat(failed_shards=9, wall_seconds_total=5000.0),
        treatment_ferry_module="experiments.ferries.datakit_tier2_skewed_ferry",
    )
    assert v.verdict == "inconclusive"
    assert len(v.inconclusive_reasons) == 1 and "ferry_module" in v.inconclusive_reasons[0]
    assert v.hard_fails == [] and v.warns == []


def test_precedence_1_same_job_id():
    v = run(rep(), rep())
    assert v.verdict == "inconclusive"
    assert "against itself" in v.inconclusive_reasons[0]


def test_baseline_ferry_module_from_tier_map():
    v = run(rep(), treat(), gate=2)  # treatment says tier-1 module, tier map says tier 2
    assert v.verdict == "inconclusive"


def test_precedence_2_count_fail_beats_inconclusive_evidence():
    v = run(rep(), treat(preemption_count=9, infra_failures={"oom": 1}))
    assert v.verdict == "fail"
    assert v.inconclusive_reasons  # the evidence is still listed


def test_precedence_3_evidence_beats_band_fail():
    v = run(rep(), treat(preemption_count=2, wall_seconds_total=2000.0))
    assert v.verdict == "inconclusive"
    assert any("wall_seconds_total" in f for f in v.hard_fails)


def test_precedence_4_band_fail_beats_contention():
    v = run(rep(), treat(wall_seconds_total=1200.0), contention=True, contention_reason="big job")
    assert v.verdict == "fail"


def test_precedence_5_contention_downgrades_warn():
    v = run(rep(), treat(wall_seconds_total=1070.0), contention=True, contention_reason="big job")
    assert v.verdict == "inconclusive"
    assert "big job" in v.inconclusive_reasons[0]
    assert v.warns


def test_contention_without_warn_still_passes():
    assert run(rep(), treat(), contention=True).verdict == "pass"


def test_precedence_6_and_7():
    assert (
        run(
            rep(), treat(stage_wall_seconds={**BASE["stage_wall_seconds"], "minhash": 215.0})
        ).verdict
        == "warn"
    )
    assert run(rep(), treat(wall_seconds_total=1049.0)).verdict == "pass"


def test_all_fired_rules_listed():
    v = run(
        rep(),
        treat(
            wall_seconds_total=1200.0,
            stage_wall_seconds={"normalize": 107.0, "minhash": 300.0, "tokenize": 400.0},
        ),
    )
    assert v.verdict == "fail"
    assert any("wall_seconds_total" in f for f in v.hard_fails)
    assert any("minhash" in f for f in v.hard_fails)
    assert any("normalize" in w for w in v.warns)


def test_nothing_comparable_is_inconclusive_not_pass():
    v = run(
        rep(wall_seconds_total=None, stage_wall_seconds={"download": 12.0}),
        treat(wall_seconds_total=None, stage_wall_seconds={"embed": 30.0}),
    )
    assert v.verdict == "inconclusive"
    assert any("nothing comparable" in r for r in v.inconclusive_reasons)
    assert any("only in the treatment: embed" in r for r in v.inconclusive_reasons)


def test_task_total_divergence_is_flagged_not_decided():
    v = run(rep(), treat(task_state_counts={"succeeded": 20}))
    assert v.verdict == "pass"
    assert any("less work" in s for s in v.self_check)
    assert not any(
        "less work" in s for s in run(rep(), treat(task_state_counts={"succeeded": 50})).self_check
    )


def test_task_totals_past_a_float_are_compared_exactly():
    huge = 10**308  # each count a valid JSON number; their sum is past the largest float
    one = {"succeeded": 1}
    v = run(
        rep(task_state_counts=one), treat(task_state_counts={"succeeded": huge, "killed": huge})
    )
    assert v.verdict == "pass"
    assert any("less work" in s for s in v.self_check)
    same = {"succeeded": huge, "killed": huge}
    both = run(rep(task_state_counts=same), treat(task_state_counts={**same, "failed": 1}))
    assert not any("less work" in s for s in both.self_check)


@pytest.mark.parametrize(
    ("gate", "age", "stale"), [(1, 23.9, False), (1, 24.1, True), (3, 100, False), (3, 169, True)]
)
def test_staleness(gate, age, stale):
    module = {
        1: "experiments.ferries.datakit_ferry",
        3: "experiments.ferries.datakit_nemotron_ferry",
    }[gate]
    v = run(rep(), treat(), gate=gate, treatment_ferry_module=module, baseline={"age_hours": age})
    assert v.baseline["stale"] is stale
    assert v.verdict == "pass"  # stale never changes the verdict


def test_age_computed_from_created_at_and_now():
    v = run(
        rep(),
        treat(),
        baseline={"created_at": "2026-11-27T06:30:00Z"},
        now="2026-11-28T08:30:00+00:00",
    )
    assert v.baseline["age_hours"] == 26.0
    assert v.baseline["stale"] is True


def test_a_baseline_dated_after_now_is_0_hours_old_never_negative():
    v = run(rep(collected_at_utc="2026-11-28T10:00:00Z"), treat(), now="2026-11-28T08:30:00Z")
    assert v.baseline["age_hours"] == 0.0  # clock skew, as the gate's own provenance clamps it
    assert v.baseline["stale"] is False


def test_verdict_json_has_design_keys():
    data = run(rep(), treat()).to_json()
    assert set(data) >= DESIGN_VERDICT_KEYS
    assert set(data["stages"][0]) >= {"stage", "baseline_s", "treatment_s", "delta_pct", "verdict"}
    assert set(data["signals"][0]) >= {"signal", "baseline", "treatment", "delta_pct", "verdict"}
    assert set(data["baseline"]) >= {"source", "run_id", "sha", "age_hours", "stale"}
    assert set(data["treatment"]) >= {"iris_job_id", "ferry_module"}


def test_context_rejects_unknown_key():
    from perfgate_lib.errors import UsageError

    with pytest.raises(UsageError, match="contentoin"):
        GateContext.from_dict({"contentoin": True})


@pytest.mark.parametrize("age", ["5h", float("nan"), float("inf"), -1, True, 10**400])
def test_a_baseline_age_that_is_no_number_of_hours_is_refused_naming_it(age):
    from perfgate_lib.errors import UsageError

    with pytest.raises(UsageError, match=r"^context: baseline\.age_hours: expected hours"):
        GateContext.from_dict({"baseline": {"age_hours": age}})


def test_a_huge_baseline_age_is_stale_and_shown_in_days():
    from perfgate_lib.verdict.render import baseline_line

    ctx = GateContext.from_dict({"baseline": {"age_hours": 1e308}})
    v = decide(parse_report(rep(), "b.json"), parse_report(treat(), "t.json"), TH, ctx)
    assert v.baseline["stale"] is True
    assert "d " in baseline_line(v.baseline).split("age=", 1)[1]


# --- local A/B noise (GateContext.within_noise) ------------------------------------------


def test_fail_within_measured_noise_is_a_warn_that_says_so():
    v = run(
        rep(),
        treat(stage_wall_seconds={**BASE["stage_wall_seconds"], "minhash": 240.0}),
        within_noise={"minhash": "within noise (±22.0%, k=5)"},
    )
    assert v.verdict == "warn"
    row = stage(v, "minhash")
    assert row.verdict == "warn" and row.note == "within noise (±22.0%, k=5)"
    assert v.warns == ["stage minhash: +20.0% (> +10%) but within noise (±22.0%, k=5)"]


def test_noise_never_hides_a_fail_outside_it_or_a_count_fail():
    v = run(
        rep(),
        treat(
            stage_wall_seconds={**BASE["stage_wall_seconds"], "minhash": 240.0, "tokenize": 480.0},
            failed_shards=1,
        ),
        within_noise={"minhash": "±22%"},
    )
    assert v.verdict == "fail"
    assert stage(v, "tokenize").verdict == "fail"
    assert stage(v, "minhash").note == "within noise (±22%)"


def test_within_noise_must_map_names_to_notes():
    from perfgate_lib.errors import UsageError

    with pytest.raises(UsageError, match="within_noise"):
        GateContext.from_dict({"within_noise": {"minhash": 3}})
