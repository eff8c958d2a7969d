"""The collector-warning table and lineage detection, on the exact strings and shapes of
both collector lineages (marin's ``scripts/ci/collect_perf_metrics.py``, checked 2026-12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate_lib.verdict.collector_warnings import (
    MISSING_STEPS,
    NOTE,
    TABLE,
    UNREAD,
    UNUSABLE,
    classify,
    summarize,
)
from perfgate_lib.verdict.lineage import CHILD_JOB, STEP_LOG, ZEPHYR_STAGE, detect, missing_steps
from perfgate_lib.verdict.report import collector_problems, load_report, parse_report
from tests.test_rules import rep, run, signal, treat

REPORTS = Path(__file__).parent / "fixtures" / "reports"
EXAMPLES = Path(__file__).parents[1] / "parameters" / "examples"
COUNTS = (
    "failed_shards",
    "infra_failures.oom",
    "infra_failures.scheduling_timeout",
    "infra_failures.application_failure",
    "infra_failures.other",
)

# (exact warning, kind, signals it leaves unread); both lineages write the shared ones.
CHILD_JOB_WARNINGS = [
    ("ferry_status_path: not readable; status/marin_prefix unset", NOTE, ()),
    (
        "iris client job summary failed; wall_seconds_total unavailable",
        UNREAD,
        ("wall_seconds_total",),
    ),
    (
        "no leaf summaries fetched; peak_worker_memory_mb/infra_failures reflect launcher only",
        UNREAD,
        ("peak_worker_memory_mb", *COUNTS),
    ),
    ("iris job list --prefix: failed; counts reflect launcher task only", UNUSABLE, ()),
    ("task_state_counts.preempted > 0: stage durations may be split across attempts", NOTE, ()),
    ("iris job tree unavailable; stage_wall_seconds empty", UNUSABLE, ()),
    ("all expected steps cache-hit; pipeline may not have done any work", UNUSABLE, ()),
    (
        "wall_seconds_total: launcher duration_ms missing from iris summary",
        UNREAD,
        ("wall_seconds_total",),
    ),
    ("iris query task_wall_ms: failed; sum_task_wall_seconds_total unset", NOTE, ()),
    ("iris query by_child: failed; stage_sum_task_wall_seconds empty", NOTE, ()),
]
STEP_LOG_WARNINGS = [
    (
        "iris client Job description failed; wall_seconds_total unavailable",
        UNREAD,
        ("wall_seconds_total",),
    ),
    ("no expected step ran; pipeline may not have done any work", UNUSABLE, ()),
    ("expected steps neither ran nor were cached: embed, dedup", MISSING_STEPS, ()),
    ("driver step log unavailable; stage_wall_seconds empty", UNUSABLE, ()),
    ("iris query task_wall_ms: failed; sum_task_wall_seconds_total unset", NOTE, ()),
]
KIT_WARNINGS = [
    ("perfgate: no usable report from the collector (exit 1)", UNUSABLE, ()),
    # unknown to the table: worded like a failure -> unusable; otherwise a note
    ("could not reach iris: iris job summary timed out", UNUSABLE, ()),
    ("stage tokenize: 2 attempts", NOTE, ()),
]


@pytest.mark.parametrize(
    ("warning", "kind", "signals"), CHILD_JOB_WARNINGS + STEP_LOG_WARNINGS + KIT_WARNINGS
)
def test_each_collector_warning_means_one_thing(warning, kind, signals):
    reading = classify(warning)
    assert reading.kind == kind, reading.rule.name
    assert reading.rule.signals == signals
    assert reading.rule.meaning


def test_every_table_row_is_exercised_by_an_exact_string():
    used = {classify(w).rule.name for w, _k, _s in CHILD_JOB_WARNINGS + STEP_LOG_WARNINGS}
    used |= {classify(w).rule.name for w, _k, _s in KIT_WARNINGS}
    assert {rule.name for rule in TABLE} <= used


def test_the_missing_steps_warning_names_its_steps():
    reading = classify("expected steps neither ran nor were cached: embed, dedup")
    assert reading.steps == ("embed", "dedup")
    said = summarize(
        ["expected steps neither ran nor were cached: embed", "stage tokenize: 2 attempts"]
    )
    assert said.missing_steps == ("embed",) and [n.warning for n in said.notes] == [
        "stage tokenize: 2 attempts"
    ]


def test_a_warning_is_matched_whole_not_by_a_word_in_it():
    # the raw-query row must not swallow a job-tree failure that mentions the same words
    hostile = "iris query task_wall_ms: failed; sum_task_wall_seconds_total unset | iris job list"
    assert classify(hostile).rule.name == "unknown failure"
    assert classify("iris job list --prefix /x/y failed (exit 1): unreachable").kind == UNUSABLE


def test_collector_problems_name_the_meaning_and_the_warning():
    bad = parse_report(
        {
            "stage_wall_seconds": {"normalize": 5.0},
            "warnings": [
                "driver step log unavailable; stage_wall_seconds empty",
                "iris query task_wall_ms: failed; sum_task_wall_seconds_total unset",
            ],
        }
    )
    assert collector_problems(bad) == [
        "the ferry driver's step log could not be read, so no stage was timed "
        "(collector warning: driver step log unavailable; stage_wall_seconds empty)"
    ]


def test_an_unread_signal_is_not_compared_and_says_why():
    leafless = (
        "no leaf summaries fetched; peak_worker_memory_mb/infra_failures reflect launcher only"
    )
    v = run(rep(), treat(peak_worker_memory_mb=10, warnings=[leafless]))
    row = signal(v, "peak_worker_memory_mb")
    assert row.verdict == "n/a" and row.delta_pct is None and leafless in row.note
    assert v.verdict == "pass" and any(leafless in n for n in v.collector_notes)
    # launcher-only counts are a lower bound: a rise over a full baseline is still real
    oom = run(rep(), treat(infra_failures={"oom": 1}, warnings=[leafless]))
    assert oom.verdict == "fail" and "lower bound" in signal(oom, "infra_failures.oom").note
    # but a baseline read only in part proves nothing either way
    base_part = run(rep(warnings=[leafless]), treat(infra_failures={"oom": 1}))
    assert signal(base_part, "infra_failures.oom").verdict == "n/a"
    no_wall = "wall_seconds_total: launcher duration_ms missing from iris summary"
    v = run(rep(), treat(wall_seconds_total=2000.0, warnings=[no_wall]))
    assert signal(v, "wall_seconds_total").verdict == "n/a" and v.verdict == "pass"


def test_every_fired_rule_is_listed_and_the_winner_named():
    v = run(
        rep(),
        treat(
            infra_failures={"oom": 1},  # 2: count-based hard fail (wins)
            preemption_count=2,  # 3: evidence
            stage_wall_seconds={"normalize": 100.0, "minhash": 400.0, "other": 1.0},
            warnings=["iris job tree unavailable; stage_wall_seconds empty"],  # 3: unusable
        ),
    )
    assert v.verdict == "fail" and v.decided_by == "2 count-based hard fail"
    reasons = " | ".join(v.inconclusive_reasons)
    assert "treatment report unusable: the job tree could not be read" in reasons
    assert "preemptions: treatment 2 vs baseline 0" in reasons
    assert "only in the baseline: tokenize; only in the treatment: other" in reasons
    assert any("infra_failures.oom" in f for f in v.hard_fails)
    assert not any("minhash" in f for f in v.hard_fails), (
        "an unusable report's times are not compared"
    )
    assert v.to_json()["decided_by"] == "2 count-based hard fail"
    assert run(rep(), treat()).decided_by == "7 pass"


@pytest.mark.parametrize(
    ("path", "lineage"),
    [
        (REPORTS / "era_download.json", CHILD_JOB),
        (REPORTS / "era_newest.json", STEP_LOG),
        (REPORTS / "era_oldest.json", ZEPHYR_STAGE),
        (REPORTS / "lineage_step_log_admin.json", STEP_LOG),
        (REPORTS / "lineage_step_log_nonadmin.json", STEP_LOG),
        (REPORTS / "lineage_child_job_nonadmin.json", CHILD_JOB),
        (EXAMPLES / "tier1_baseline.json", CHILD_JOB),
    ],
)
def test_lineage_is_read_from_stage_names(path, lineage):
    assert detect(load_report(str(path))).lineage is lineage


def test_lineage_from_warnings_and_fields_when_names_are_shared():
    shared = {"stage_wall_seconds": {"normalize": 1.0, "minhash": 2.0, "tokenize": 3.0}}
    assert detect(parse_report(shared)).lineage is None  # the mini ferry's subset: unknown
    log = parse_report(
        {**shared, "warnings": ["driver step log unavailable; stage_wall_seconds empty"]}
    )
    assert detect(log).lineage is STEP_LOG
    named = parse_report(
        {**shared, "warnings": ["expected steps neither ran nor were cached: store"]}
    )
    assert detect(named).lineage is STEP_LOG
    sums = parse_report({**shared, "stage_sum_task_wall_seconds": {}})
    assert detect(sums).lineage is CHILD_JOB  # the step-log collector has no such field
    both = parse_report({"stage_wall_seconds": {"fuzzy_dups": 1.0, "dedup": 1.0}})
    found = detect(both)
    assert found.lineage is None and "conflicting" in found.evidence


def test_missing_steps_only_for_the_step_log_lineage():
    report = json.loads((REPORTS / "lineage_step_log_missing_step.json").read_text())
    assert list(missing_steps(parse_report(report))) == ["dedup"]
    child = parse_report({"stage_wall_seconds": {"fuzzy_dups": 1.0}})
    assert missing_steps(child) == {}
