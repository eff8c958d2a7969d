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
