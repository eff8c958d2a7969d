"""Steps that did not finish, and reports a collector returned unusable (issue 14).

marin's collector calls a step "cached" when no direct child job of the ferry has both a
start and a finish time, and exits 0 when its iris calls fail. Both must never hide a
regression: a step that did not finish is shown and counted as such, and an unusable
report is inconclusive, never compared.
"""

from __future__ import annotations

from perfgate_lib.gate.steptree import direct_children, step_of, unfinished_steps
from perfgate_lib.verdict.render import render_comment
from perfgate_lib.verdict.report import collector_problems, parse_report
from tests.test_rules import rep, run, stage, treat

FERRY = "/perfgate/zephyr-perf-pr7-g1-treatment-20261203T070000Z"
TREE = [
    {"job_id": FERRY, "state": "JOB_STATE_SUCCEEDED"},
    {"job_id": f"{FERRY}/zephyr-normalize-p0-a0", "state": "JOB_STATE_SUCCEEDED"},
    {"job_id": f"{FERRY}/zephyr-minhash-attrs-p1-a0", "state": "JOB_STATE_KILLED"},
    {"job_id": f"{FERRY}/zephyr-minhash-attrs-p1-a0/coord", "state": "JOB_STATE_KILLED"},
    {"job_id": f"{FERRY}/zephyr-tokenize-train-p3-a0", "state": "JOB_STATE_FAILED"},
    {"job_id": f"{FERRY}/zephyr-tokenize-train-p3-a1", "state": "succeeded"},
    {"job_id": f"{FERRY}/zephyr-fuzzy-dups-p2-a0", "state": "running"},
    {"job_id": f"{FERRY}-2/zephyr-consolidate-filter-p0", "state": "killed"},
]


def test_a_step_with_child_jobs_none_of_which_succeeded_did_not_finish():
    out = unfinished_steps(FERRY, TREE)
    assert set(out) == {"minhash", "fuzzy_dups"}
    assert "zephyr-minhash-attrs-p1-a0 killed" in out["minhash"]
    # a retried step whose second attempt succeeded finished; another ferry's job is not ours
    assert "tokenize" not in out and "consolidate" not in out
    # unrooted ids (older submit scripts) give the same answer
    unrooted = [{**e, "job_id": e["job_id"].lstrip("/")} for e in TREE]
    assert unfinished_steps(FERRY.lstrip("/"), unrooted) == out
    assert len(direct_children(FERRY, TREE)) == 5
    assert step_of("zephyr-levanter-cache-copy-x") == ("tokenize", "zephyr-levanter-cache-copy-")
    assert step_of("zephyr-embed-x") is None


def test_a_step_listed_as_cached_that_did_not_finish_makes_the_verdict_inconclusive():
    # marin's collector: minhash's child has no finish time -> "cached", 0.0
    t = treat(
        stage_wall_seconds={"normalize": 100.0, "minhash": 0.0, "tokenize": 400.0},
        cached_steps=["minhash"],
    )
    plain = run(rep(), t)  # today's reading: a cache hit, dropped, pass
    assert plain.verdict == "pass" and stage(plain, "minhash").verdict == "cached"
    v = run(
        rep(),
        t,
        treatment_unfinished_steps={"minhash": "child job zephyr-minhash-attrs-p1-a0 killed"},
    )
    row = stage(v, "minhash")
    assert row.verdict == "not_finished" and "listed as cached" in row.note
    assert v.verdict == "inconclusive"
    assert any("minhash did not finish" in r for r in v.inconclusive_reasons)
    body = render_comment(v, parse_report(rep(), "b"), parse_report(t, "t"))
    assert "| minhash | 3m 20s | — | — | not finished ² |" in body
    assert "² Not finished" in body and "zephyr-minhash-attrs-p1-a0 killed" in body


def test_a_killed_step_with_a_partial_time_is_not_compared_either():
    t = treat(stage_wall_seconds={"normalize": 100.0, "minhash": 20.0, "tokenize": 400.0})
    v = run(rep(), t, treatment_unfinished_steps={"minhash": "child job m killed"})
    assert stage(v, "minhash").verdict == "not_finished" and v.verdict == "inconclusive"
    # a count-based hard fail still fails
    oom = treat(**{**t, "infra_failures": {"oom": 2}})
    assert run(rep(), oom, treatment_unfinished_steps={"minhash": "x"}).verdict == "fail"


def test_a_report_whose_collector_failed_quietly_is_inconclusive_and_never_compared():
    # collect exited 0, its iris calls failed: zero stages, every step cached, a warning
    quiet = treat(
        wall_seconds_total=990.0,
        stage_wall_seconds={"normalize": 0.0, "minhash": 0.0, "tokenize": 0.0},
        cached_steps=["normalize", "minhash", "tokenize"],
        warnings=["iris job list failed (exit 1): connection refused"],
    )
    v = run(rep(), quiet)
    assert v.verdict == "inconclusive"
    assert v.inconclusive_reasons[0].startswith("treatment report unusable")
    assert any("connection refused" in r for r in v.inconclusive_reasons)
    assert all(s.verdict == "n/a" for s in v.stages)
    total = next(s for s in v.signals if s.signal == "wall_seconds_total")
    assert total.verdict == "n/a" and total.delta_pct is None, "the total is not compared"
    # empty stage times, or a warning alone, are unusable too
    assert collector_problems(parse_report(treat(stage_wall_seconds={}), "t"))
    warned = treat(warnings=["could not reach iris: iris job summary timed out"])
    assert run(rep(), warned).verdict == "inconclusive"
    # a warning about something else is not
    assert run(rep(), treat(warnings=["status file not found"])).verdict == "pass"


# --- the step-log lineage (issue 28): the report is the signal, the tree says nothing ---------
STEP_LOG_TREE = [  # the newest ferry: steps run on the shared Zephyr pool, no child job each
    {"job_id": FERRY, "state": "JOB_STATE_SUCCEEDED"},
    {"job_id": f"{FERRY}/zephyr-pool-workers", "state": "JOB_STATE_KILLED"},
]
STEP_LOG_REPORT = {
    "stage_wall_seconds": {
        "normalize": 800.0,
        "tokenize": 600.0,
        "embed": 1200.0,
        "quality": 300.0,
        "decontam": 180.0,
        "minhash": 400.0,
        "verify_fuzzy_clusters": 60.0,
        "store": 90.0,
    },
    "cached_steps": [],
    "warnings": ["expected steps neither ran nor were cached: dedup"],
}


def test_the_guard_finds_a_step_log_step_with_no_line():
    report = parse_report(STEP_LOG_REPORT, "t")
    assert unfinished_steps(FERRY, STEP_LOG_TREE) == {}, "the tree alone cannot tell"
    out = unfinished_steps(FERRY, STEP_LOG_TREE, report)
    assert list(out) == ["dedup"] and "driver's step log" in out["dedup"]
    # without the collector's warning, the expected step missing from the report is the signal
    quiet = parse_report({**STEP_LOG_REPORT, "warnings": []}, "t")
    assert list(unfinished_steps(FERRY, STEP_LOG_TREE, quiet)) == ["dedup"]
    # a step skipped as already succeeded is a cache hit, not unfinished
    cached = parse_report(
        {
            **STEP_LOG_REPORT,
            "stage_wall_seconds": {**STEP_LOG_REPORT["stage_wall_seconds"], "dedup": 0.0},
            "cached_steps": ["dedup"],
            "warnings": [],
        },
        "t",
    )
    assert unfinished_steps(FERRY, STEP_LOG_TREE, cached) == {}


def test_the_guard_keeps_reading_the_tree_for_the_child_job_lineage():
    child = parse_report(
        {"stage_wall_seconds": {"normalize": 100.0, "minhash": 0.0, "fuzzy_dups": 1.0}}, "t"
    )
    assert unfinished_steps(FERRY, TREE, child) == unfinished_steps(FERRY, TREE)
    assert set(unfinished_steps(FERRY, TREE, child)) == {"minhash", "fuzzy_dups"}
