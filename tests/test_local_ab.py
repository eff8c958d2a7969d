"""The local A/B runner: noise rule, medians, worktrees, A/A and an injected slowdown."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate_lib.local import ab as local
from perfgate_lib.local import pairs as gate0_pairs
from perfgate_lib.local import pairs as gate0_sides
from perfgate_lib.local import stats as abstats
from perfgate_lib.local.sandbox import ZEPHYR_PKG, Change, build_sandbox
from perfgate_lib.mdtemplate import render
from perfgate_lib.verdict.abfacts import ABFacts
from tests.cli_helpers import GATE0_HANG_S, perfgate_here
from tests.marin_layout import worktrees

STAGES = ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")


def _row(cpu: float, wall: float | None = None, mb: float = 220.0) -> dict:
    """One stage's measurement; the instruction count moves with the CPU seconds (1e9/s),
    so the statistics tests read the same on every metric."""
    return {
        "wall_s": cpu if wall is None else wall,
        "cpu_s": cpu,
        "instructions": round(cpu * 1e9),
        "peak_mb": mb,
        "tasks": 8,
        "records_out": 100,
    }


def _pairs(control: list[dict[str, float]], treatment: list[dict[str, float]], mb=(220, 220)):
    """Pair records from per-pair {stage: cpu seconds} on each side."""
    out = []
    for i, (c, t) in enumerate(zip(control, treatment, strict=True), start=1):
        out.append(
            {
                "pair": i,
                "control": {s: _row(v, mb=mb[0]) for s, v in c.items()},
                "treatment": {s: _row(v, mb=mb[1]) for s, v in t.items()},
                "first": {s: gate0_pairs.first_side(i, j) for j, s in enumerate(c)},
            }
        )
    return out


def _result(pairs: list[dict], **given) -> local.ABResult:
    return local.summarize_pairs(
        pairs, ab_id="ab-test", control_sha="a" * 40, treatment_sha="b" * 40, **given
    )


def _noisy_pairs(n: int, slow: dict[str, float], seed: int, noise: float = 0.04) -> list[dict]:
    """n pairs of all five stages; ``slow`` scales treatment stages; common drift per pair."""
    rng = random.Random(seed)
    control, treatment = [], []
    for _ in range(n):
        drift = rng.uniform(0.7, 1.5)  # load shared by both runs of a pair
        c = {s: drift * rng.lognormvariate(0, noise) for s in STAGES}
        t = {s: drift * slow.get(s, 1.0) * rng.lognormvariate(0, noise) for s in STAGES}
        control.append(c)
        treatment.append(t)
    return _pairs(control, treatment)


# ---------------------------------------------------------------------------
# Pairs -> intervals, calls, reports (pure)
# ---------------------------------------------------------------------------


def test_order_alternates_by_stage_and_pair():
    firsts = [[gate0_pairs.first_side(p, j) for j in range(5)] for p in (1, 2)]
    assert firsts[0] == ["control", "treatment", "control", "treatment", "control"]
    assert firsts[1] == ["treatment", "control", "treatment", "control", "treatment"]


def test_paired_table_judges_each_stage_on_its_interval():
    pairs = _noisy_pairs(12, {"fuzzy_dups": 2.0}, seed=1)
    table = _result(pairs).paired.set_index("stage")
    assert list(table.index) == [*STAGES, "wall_seconds_total"]
    assert table.loc["fuzzy_dups", "call"] == "fail"
    assert table.loc["fuzzy_dups", "low"] > 1.10
    assert table.loc["fuzzy_dups", "ratio"] == pytest.approx(2.0, rel=0.05)
    for stage in ("normalize", "minhash", "consolidate", "tokenize"):
        assert table.loc[stage, "call"] == "pass", table.loc[stage].to_dict()
        assert table.loc[stage, "high"] <= 1.05
    assert table.loc["fuzzy_dups", "pairs"] == 12


def test_drift_shared_by_a_pair_cancels_and_the_spread_rule_would_not():
    """Load that doubles both runs of a pair leaves the paired ratio exact."""
    control = [{"fuzzy_dups": d} for d in (1.0, 1.4, 2.0, 1.1, 0.9, 1.8, 1.3)]
    treatment = [{"fuzzy_dups": 1.2 * c["fuzzy_dups"]} for c in control]
    table = _result(_pairs(control, treatment)).paired.set_index("stage")
    assert table.loc["fuzzy_dups", "low"] == pytest.approx(1.2)
    assert table.loc["fuzzy_dups", "call"] == "fail"
    # each side's spread is far wider than the change: the old spread rule called it noise
    old = local.abstats.noise_row(
        "f", [c["fuzzy_dups"] for c in control], [t["fuzzy_dups"] for t in treatment]
    )
    assert old["within_noise"] is True


def test_an_interval_across_a_band_edge_is_undecided_and_never_a_pass():
    pairs = _noisy_pairs(6, {"minhash": 1.08}, seed=3, noise=0.10)
    table = _result(pairs).paired.set_index("stage")
    assert table.loc["minhash", "call"] == "undecided"
    verdict = local.local_verdict(_result(pairs))
    row = {r.stage: r for r in verdict.stages}["minhash"]
    assert row.verdict == "undecided" and "pairs" in row.note
    assert verdict.verdict == "inconclusive"


def test_undecided_that_may_fail_is_inconclusive_unless_a_fail_decides():
    control = [{"minhash": 1.0, "fuzzy_dups": 1.0} for _ in range(6)]
    wobble = (0.95, 1.25, 1.0, 1.2, 0.98, 1.15)
    only_undecided = [{"minhash": w, "fuzzy_dups": 1.0} for w in wobble]
    verdict = local.local_verdict(_result(_pairs(control, only_undecided)))
    assert {r.stage: r.verdict for r in verdict.stages}["minhash"] == "undecided"
    assert verdict.verdict == "inconclusive"
    assert any("undecided, may exceed +10%" in r for r in verdict.inconclusive_reasons)

    with_fail = [{"minhash": w, "fuzzy_dups": 2.0} for w in wobble]
    verdict = local.local_verdict(_result(_pairs(control, with_fail)))
    assert verdict.verdict == "fail"
    assert any("stage fuzzy_dups" in f and "wholly above +10%" in f for f in verdict.hard_fails)
    assert any("stage minhash" in w and "undecided" in w for w in verdict.warns)


def test_undecided_across_the_pass_warn_edge_only_is_inconclusive_not_a_warn():
    """An interval inside (-5%, +10%] that straddles +5% cannot fail, yet it is no warn
    either: the verdict is inconclusive and the reason says it cannot exceed +10%."""
    control = [{"minhash": 1.0, "fuzzy_dups": 1.0} for _ in range(8)]
    near = (1.02, 1.08, 1.04, 1.06, 1.03, 1.07, 1.05, 1.01)
    treatment = [{"minhash": m, "fuzzy_dups": 1.0} for m in near]
    result = _result(_pairs(control, treatment))
    row = result.paired.set_index("stage").loc["minhash"]
    assert row["call"] == "undecided" and row["low_pct"] < 5 < row["high_pct"] <= 10
    verdict = local.local_verdict(result)
    assert verdict.verdict == "inconclusive" and not verdict.warns
    assert any(
        "stage minhash" in r and "cannot exceed +10%" in r for r in verdict.inconclusive_reasons
    )


def test_aa_paired_rule_never_fails_on_exchangeable_pairs():
    """Seeded A/A simulations (deterministic): no stage ever fails, whatever the drift."""
    for seed in range(40):
        table = _result(_noisy_pairs(8, {}, seed=seed, noise=0.06)).paired
        assert "fail" not in set(table["call"]), table.to_dict("records")


def test_median_reports_carry_wall_medians_and_cpu_medians():
    control = [{"normalize": c} for c in (1.0, 2.0, 4.0)]
    treatment = [{"normalize": t} for t in (1.5, 2.5, 3.0)]
    result = _result(_pairs(control, treatment))
    report = result.control_report
    assert report["stage_wall_seconds"] == {"normalize": 2.0}
    assert report["local_run"]["stage_cpu_seconds"] == {"normalize": 2.0}
    assert report["wall_seconds_total"] == 2.0
    assert report["status"] == "succeeded"
    assert len(report["local_run"]["repeats"]) == 3


def test_memory_keeps_its_own_noise_rule():
    pairs = _noisy_pairs(6, {}, seed=5)
    for p, mb in zip(pairs, (200, 260, 220, 240, 210, 230), strict=True):
        for row in p["control"].values():
            row["peak_mb"] = mb
        for row in p["treatment"].values():
            row["peak_mb"] = mb + 5
    result = _result(pairs)
    assert result.memory["within_noise"] is True
    assert local.MEMORY in result.compare_context()["within_noise"]


def test_compare_context_carries_intervals_and_the_comment_column():
    result = _result(_noisy_pairs(8, {"fuzzy_dups": 1.5}, seed=2))
    ctx = result.compare_context()
    assert set(ctx["intervals"]) == {*STAGES, "wall_seconds_total"}
    assert ctx["intervals"]["fuzzy_dups"]["call"] == "fail"
    cell = ctx["comment"]["stage_context"]["fuzzy_dups"]
    assert cell.startswith("instructions ×1.") and "8 pairs" in cell
    assert "wall" not in cell, "wall time has its own column with its own delta"
    measured = ctx["measured"]
    assert measured["metric"] == "instructions"
    row = result.paired.set_index("stage").loc["fuzzy_dups"]
    assert measured["rows"]["fuzzy_dups"] == {
        "baseline": row["control_instructions"],
        "treatment": row["treatment_instructions"],
    }
    assert ctx["comment"]["stage_context_title"] == "Paired ratio, 95% CI"
    assert "top_notes" not in ctx["comment"], "facts travel, not markdown"
    notes = render("_ab_notes", ab=ABFacts(**ctx["comment"]["ab"]))
    assert "8 pairs" in notes and "valgrind callgrind counts" in notes
    result.settings = local.Gate0Settings(metric="cpu")
    assert "paired CPU-time ratio" in render("_ab_notes", ab=result.facts())
    result.zephyr_sources = {"control": None, "treatment": None}
    assert "cannot see a Zephyr change" in render("_ab_notes", ab=result.facts())


def test_settings_come_from_gate0_yaml_and_reject_bad_values(tmp_path):
    from perfgate_lib.errors import UsageError

    shipped = local.Gate0Settings.load()
    assert shipped == local.Gate0Settings()  # the dataclass defaults are the file's
    assert shipped.metric == "instructions" and shipped.min_pairs >= 6
    assert local.Gate0Settings.load(max_pairs=30).max_pairs == 30
    timed = local.Gate0Settings.load(metric="cpu")  # the file's time_metric section
    assert (timed.docs, timed.large_docs, timed.pairs_per_process) == (600, 3, 1)
    assert (shipped.shards, timed.shards) == (4, 8)  # counted: 10 documents a task
    assert local.Gate0Settings.load(metric="cpu", docs=300).docs == 300
    bad = tmp_path / "gate0.yaml"
    bad.write_text("schema: 1\nmin_pairs: 6\nmax_paris: 3\n")
    with pytest.raises(UsageError, match="max_paris"):
        local.Gate0Settings.load(bad)
    bad.write_text("schema: 1\ntime_metric:\n  doc: 3\n")
    with pytest.raises(UsageError, match="time_metric: unknown setting 'doc'"):
        local.Gate0Settings.load(bad)
    with pytest.raises(UsageError, match="metric"):
        local.Gate0Settings(metric="cycles")
    with pytest.raises(UsageError, match="large_docs"):
        local.Gate0Settings(docs=10, large_docs=11)
    with pytest.raises(UsageError, match="shards"):
        local.Gate0Settings(docs=10, shards=11)


@pytest.mark.parametrize(
    ("yaml_line", "problem"),
    [
        ("docs: '40'", "invalid docs='40'"),
        ("metric: [cpu]", "invalid metric=['cpu']"),
        ("max_pairs: 1e400", "invalid max_pairs='1e400'"),
        ("confidence: null", "invalid confidence=None"),
        ("shards: 4.5", "invalid shards=4.5"),
    ],
)
def test_a_setting_of_the_wrong_type_is_named(tmp_path, yaml_line, problem):
    """gate0.yaml's values have their field's type (counts whole, seconds and MB numbers,
    names text): one of another type is named, not a TypeError from comparing it."""
    from perfgate_lib.errors import UsageError

    bad = tmp_path / "gate0.yaml"
    bad.write_text(f"schema: 1\n{yaml_line}\n")
    with pytest.raises(UsageError, match=f"gate 0 settings: {re.escape(problem)}$"):
        local.Gate0Settings.load(bad)


def test_gate0_options_reach_the_settings_as_one_mapping_of_what_was_given():
    """demo, local-ab and run share the gate-0 options: the command gets one ``gate0``
    mapping holding only the options given, and the file keeps every other value."""
    import click
    from click.testing import CliRunner

    from perfgate_lib.commands.options import gate0_options

    seen = []

    @click.command()
    @gate0_options
    @click.option("--out", default="")
    def command(gate0, out):
        seen.append((gate0, out))

    runner = CliRunner()
    args = ["--max-pairs", "8", "--budget", "40", "--env", "kit", "--out", "x"]
    assert runner.invoke(command, args).exit_code == 0
    assert runner.invoke(command, ["--metric", "cpu", "--docs", "300"]).exit_code == 0
    assert runner.invoke(command, []).exit_code == 0
    assert runner.invoke(command, ["--profile", "all"]).exit_code == 0
    assert seen == [
        ({"max_pairs": 8, "budget_s": 40.0, "env": "kit"}, "x"),
        ({"docs": 300, "metric": "cpu"}, ""),
        ({}, ""),
        ({"profile": "all"}, ""),
    ]
    assert local.Gate0Settings.load(**seen[3][0]).profile == "all"
    assert local.Gate0Settings().profile == "flagged"  # the shipped file's value
    given = local.Gate0Settings.load(**seen[0][0])
    assert (given.max_pairs, given.budget_s, given.env) == (8, 40.0, "kit")
    assert given.docs == local.Gate0Settings().docs  # not given: the file's value
    assert local.Gate0Settings.load(**seen[2][0]) == local.Gate0Settings()
    bad = runner.invoke(command, ["--env", "conda"])
    assert bad.exit_code == 2 and "--env" in bad.output
    bad = runner.invoke(command, ["--profile", "some"])
    assert bad.exit_code == 2 and "--profile" in bad.output


# ---------------------------------------------------------------------------
# Real git worktrees and real Zephyr
# ---------------------------------------------------------------------------


def _broken(text: str) -> str:
    return text + "\ndef broken(:\n"


TINY = local.Gate0Settings(
    docs=120, large_docs=3, min_pairs=6, max_pairs=6, budget_s=60, metric="cpu", pairs_per_process=1
)


def _assert_calls_follow_the_intervals(result: local.ABResult) -> None:
    """What the method guarantees whatever the machine did: calls and intervals agree."""
    from perfgate_lib.verdict.paired import band_call

    for row in result.paired.to_dict("records"):
        assert row["low"] <= row["ratio"] <= row["high"]
        assert row["call"] == band_call(local.abstats.row_interval(row), 5.0, 10.0)


class _FailingTreatment:
    """A side whose treatment fails every stage at run time (its Zephyr raises)."""

    pid = 1

    def __init__(self, side: str) -> None:
        self.side = side

    def run_stage(self, stage: str, _timeout: float) -> dict:
        if self.side == "treatment":
            return {"status": "failed", "stages": {}, "error": "KeyError: 'text'"}
        return {"status": "succeeded", "stages": {stage: _row(1.0)}}

    def send_stage(self, _stage: str) -> None:  # instructions: requests queued up front
        pass

    stage_answer = run_stage


@pytest.mark.parametrize("metric", ["cpu", "instructions"])
def test_a_treatment_failing_its_first_stage_fails_the_gate_instead_of_crashing(metric):
    """Pair 1's first stage fails on the treatment side: no stage is measured on both sides,
    so no interval exists; gate 0 still answers, a fail naming the error (not exit 4)."""
    servers = {side: _FailingTreatment(side) for side in gate0_pairs.SIDES}
    settings = local.Gate0Settings(metric=metric, min_pairs=2, max_pairs=4, budget_s=1e9)
    pairs, stop, errors = gate0_pairs.measure_pairs(lambda _n: servers, settings)
    assert len(pairs) == 1 and "failed in pair 1" in stop
    assert errors == ["treatment normalize: KeyError: 'text'"]
    result = _result(pairs, settings=settings, errors=errors)
    assert result.paired.empty
    assert result.treatment_report["status"] == "failed"
    verdict = local.local_verdict(result)
    assert verdict.verdict == "fail"
    assert any("application_failure" in line for line in verdict.hard_fails)
    assert any("KeyError: 'text'" in w for w in result.treatment_report["warnings"])


@pytest.mark.slow
def test_broken_treatment_fails_and_worktrees_are_removed(tmp_path):
    box = build_sandbox(
        tmp_path / "repo",
        Change("pr/broken", "break zephyr", {str(ZEPHYR_PKG / "plan.py"): _broken}),
    )
    result = local.run_local_ab(
        box.path, box.base, box.head, out_dir=tmp_path / "ab", settings=TINY, progress=None
    )
    assert result.n_pairs == 0 and result.stop_reason == "the treatment did not start"
    assert result.treatment_report["status"] == "failed"
    assert any("SyntaxError" in w for w in result.treatment_report["warnings"])
    verdict = local.local_verdict(result)
    assert verdict.verdict == "fail"
    assert any("application_failure" in f for f in verdict.hard_fails)
    assert worktrees(box.path) == [f"worktree {Path(box.path).resolve()}"]
    for name in ("control-report.json", "treatment-report.json", "paired.csv", "ab.json"):
        assert (tmp_path / "ab" / name).is_file()
    assert "SyntaxError" in (tmp_path / "ab" / "logs" / "treatment-0.log").read_text()


@pytest.mark.slow
def test_side_processes_share_one_bytecode_cache_outside_the_worktree(tmp_path, monkeypatch):
    """The first process compiles the worktree's Zephyr into the run's cache folder (even
    where PYTHONDONTWRITEBYTECODE is set); the worktree itself gets no __pycache__."""
    from perfgate_lib.local.corpus import CorpusSpec, write_corpus
    from perfgate_lib.local.sideenv import prepare_side_env

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    box = build_sandbox(tmp_path / "repo")
    write_corpus(CorpusSpec(docs=20, seed=0), tmp_path / "corpus")
    src = local.zephyr_source(box.path)
    cache = tmp_path / "pycache"
    for generation in (0, 1):
        server = gate0_sides.SideServer(
            "control",
            prepare_side_env(box.path, progress=None),
            corpus_dir=tmp_path / "corpus",
            work_dir=tmp_path / f"work-{generation}",
            zephyr_src=src,
            log=tmp_path / f"control-{generation}.log",
            max_workers=1,
            pycache=cache,
        )
        try:
            assert server.wait_ready(120)["zephyr_source"] == src
        finally:
            server.close()
        compiled = list(cache.rglob("zephyr/*.pyc"))
        assert compiled and all(str(Path(src).resolve()).lstrip("/") in str(p) for p in compiled)
    assert not list(Path(src).rglob("__pycache__"))


@pytest.mark.slow
def test_aa_pairs_alternate_and_calls_follow_the_intervals(tmp_path):
    box = build_sandbox(tmp_path / "repo")
    result = local.run_local_ab(
        box.path, box.base, box.base, out_dir=tmp_path / "ab", settings=TINY, progress=None
    )
    assert result.control_sha == result.treatment_sha == box.base_sha
    assert all(src and src.endswith("lib/zephyr/src") for src in result.zephyr_sources.values())
    assert result.n_pairs == 6 and result.stop_reason
    assert list(result.paired["stage"]) == [*STAGES, "wall_seconds_total"]
    _assert_calls_follow_the_intervals(result)
    pairs = json.loads((tmp_path / "ab" / "pairs.json").read_text())
    assert [p["first"]["normalize"] for p in pairs[:2]] == ["control", "treatment"]
    pids = [p["pids"][side] for p in pairs for side in ("control", "treatment")]
    assert len(set(pids)) == len(pids)  # pairs_per_process 1: fresh processes every pair
    for pair in pairs:
        for side in ("control", "treatment"):
            assert set(pair[side]) == set(STAGES)
            assert all(r["cpu_s"] > 0 and r["wall_s"] > 0 for r in pair[side].values())
    ab = json.loads((tmp_path / "ab" / "ab.json").read_text())
    assert ab["settings"]["metric"] == "cpu" and ab["pairs"] == 6
    assert "the first side alternates" in ab["order"] and "paired cpu time with" in ab["method"]
    for side in ("control", "treatment"):
        assert ab["sides"][side]["versions"]["marin-zephyr"]  # from its own environment
    assert worktrees(box.path) == [f"worktree {Path(box.path).resolve()}"]


SHADOW_PROBE = """
import importlib, json, pkgutil, sys
local_dir = sys.argv[1]
sys.path.insert(0, local_dir)  # what running ferry_pipeline.py as a script does
import zephyr
for info in pkgutil.walk_packages(zephyr.__path__, "zephyr."):
    try:
        importlib.import_module(info.name)
    except Exception:
        pass
print(json.dumps(sorted(
    name for name, module in list(sys.modules.items())
    if (getattr(module, "__file__", None) or "").startswith(local_dir)
)))
"""


def test_no_module_of_local_shadows_what_a_side_imports(tmp_path):
    """ferry_pipeline.py runs as a script, so ``perfgate_lib/local`` is each side's
    ``sys.path[0]``: a module there named like one Zephyr or its dependencies import
    (``settings``, ``pairs``, ``stats``...) would be imported in its place."""
    local_dir = str(gate0_sides.FERRY_SCRIPT.parent)

    def shadowed(folder: str) -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-c", SHADOW_PROBE, folder],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(proc.stdout)

    assert shadowed(local_dir) == []
    planted = tmp_path / "local"
    shutil.copytree(local_dir, planted, ignore=shutil.ignore_patterns("__pycache__"))
    (planted / "cloudpickle.py").write_text("PLANTED = True\n")  # a name Zephyr imports
    assert shadowed(str(planted)) == ["cloudpickle"]


def test_callgrind_requests_are_no_ops_outside_valgrind(tmp_path):
    """Natively the client request returns 0: nothing is counted, and a server asked to
    count instructions outside callgrind refuses to start, naming why."""
    from perfgate_lib.local import ferry_pipeline

    callgrind = ferry_pipeline.Callgrind(str(tmp_path / "callgrind.out"))
    assert not callgrind.active
    assert callgrind.count(lambda: 42) == (42, None)
    proc = subprocess.run(
        [
            sys.executable,
            str(gate0_sides.FERRY_SCRIPT),
            "serve",
            "--corpus",
            str(tmp_path),
            "--work-dir",
            str(tmp_path / "work"),
            "--callgrind-out",
            str(tmp_path / "callgrind.out"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = json.loads(proc.stdout.splitlines()[0])
    assert answer["ready"] is False and "valgrind --tool=callgrind" in answer["error"]


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
def test_callgrind_counts_the_instructions_of_the_bracketed_work_only(tmp_path):
    """Under callgrind, count() reads back the dump of the bracketed work alone: twice the
    loop counts about twice the instructions (the dumps hold nothing else)."""
    script = tmp_path / "count.py"
    script.write_text(
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(gate0_sides.FERRY_SCRIPT).parent)!r})\n"
        "import ferry_pipeline as fp\n"
        "cg = fp.Callgrind(sys.argv[1])\n"
        "cg.start()\n"
        "def loop(n):\n"
        "    return sum(i * i for i in range(n))\n"
        "out = [cg.active, cg.count(lambda: loop(20_000))[1], cg.count(lambda: loop(40_000))[1]]\n"
        "print(json.dumps(out))\n"
    )
    out = tmp_path / "callgrind.out"
    proc = subprocess.run(
        [
            *gate0_sides.CALLGRIND,
            f"--callgrind-out-file={out}",
            sys.executable,
            str(script),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=GATE0_HANG_S,
    )
    assert proc.returncode == 0, proc.stderr
    active, once, twice = json.loads(proc.stdout.splitlines()[-1])
    assert active and 0 < once < twice < 3 * once


def test_the_loop_stops_when_every_stage_is_decided_or_the_budget_is_spent():
    """measure_pairs on scripted servers: a fixed 2x change decides at min_pairs."""

    class Scripted:
        def __init__(self, factor: float) -> None:
            self.factor, self.calls = factor, 0

        def run_stage(self, stage: str, _timeout: float) -> dict:
            self.calls += 1
            return {"status": "succeeded", "stages": {stage: _row(self.factor)}}

    servers = {"control": Scripted(1.0), "treatment": Scripted(2.0)}
    settings = local.Gate0Settings(min_pairs=6, max_pairs=20, budget_s=1e9, metric="cpu")
    pairs, stop, errors = gate0_pairs.measure_pairs(lambda _n: servers, settings, stages=("a", "b"))
    assert len(pairs) == 6 and stop == "every stage decided after 6 pairs" and not errors

    ticks = iter(range(0, 10_000, 10))  # every clock reading 10 s later
    servers = {"control": Scripted(1.0), "treatment": Scripted(1.0)}
    settings = local.Gate0Settings(min_pairs=2, max_pairs=20, budget_s=25, metric="cpu")
    pairs, stop, _ = gate0_pairs.measure_pairs(
        lambda _n: servers, settings, stages=("a",), clock=lambda: float(next(ticks))
    )
    assert stop.startswith("time budget (25 s) spent after") and len(pairs) == 2


class _Queued:
    """A scripted instruction-counting server: requests queue up, answers come in order;
    ``counts`` gives the instructions of each answer (a stage may fail: ``None``)."""

    def __init__(self, counts) -> None:
        self.counts, self.queued, self.answered = iter(counts), [], 0

    def send_stage(self, stage: str) -> None:
        self.queued.append(stage)

    def stage_answer(self, stage: str, _timeout: float) -> dict:
        assert stage == self.queued[self.answered]  # answers follow the requests
        self.answered += 1
        count = next(self.counts)
        if count is None:
            return {"status": "failed", "stages": {}, "error": "ferry failed: boom"}
        row = {**_row(1.0), "instructions": count}
        return {"status": "succeeded", "stages": {stage: row}}


def test_instruction_pairs_queue_every_request_at_once_and_stop_when_decided():
    """measure_pairs with instruction counts: both sides get max_pairs pairs of requests before any answer
    (no side ever waits for the other), pairs are judged as both complete them, and the
    loop stops at the first pair where every stage is decided."""
    settings = local.Gate0Settings(min_pairs=6, max_pairs=12, budget_s=1e9)
    servers = {
        "control": _Queued(1_000_000 + i for i in range(100)),
        "treatment": _Queued(2_000_000 + i for i in range(100)),
    }
    pairs, stop, errors = gate0_pairs.measure_pairs(lambda _n: servers, settings, stages=("a", "b"))
    assert not errors and stop == "every stage decided after 6 pairs" and len(pairs) == 6
    assert all(len(server.queued) == 24 for server in servers.values())
    assert [p["pair"] for p in pairs] == [1, 2, 3, 4, 5, 6]
    assert pairs[0]["control"]["a"]["instructions"] == 1_000_000
    assert pairs[5]["treatment"]["b"]["instructions"] == 2_000_011
    assert pairs[0]["first"] == {"a": "both at once", "b": "both at once"}

    undecided = local.Gate0Settings(min_pairs=6, max_pairs=8, budget_s=1e9)
    noisy = [1_000_000, 1_100_000, 950_000, 1_080_000] * 10  # ±10%: never decided
    servers = {"control": _Queued([1_000_000] * 40), "treatment": _Queued(noisy)}
    pairs, stop, _ = gate0_pairs.measure_pairs(lambda _n: servers, undecided, stages=("a",))
    assert stop == "max_pairs (8) reached" and len(pairs) == 8

    failing = {"control": _Queued([1, 1, 1, None]), "treatment": _Queued([1] * 40)}
    pairs, stop, errors = gate0_pairs.measure_pairs(lambda _n: failing, settings, stages=("a", "b"))
    assert stop == "a stage failed in pair 2" and errors == ["control b: ferry failed: boom"]
    assert pairs[-1]["failed"] == {"control": "control b: ferry failed: boom"}


class _Process:
    """A scripted side server: every stage takes ``factor`` seconds; records its life."""

    def __init__(self, side: str, generation: int, log: list, factor: float = 1.0) -> None:
        self.side, self.generation, self.log, self.factor = side, generation, log, factor
        self.pid = 1000 + 2 * generation + (side == "treatment")
        log.append(("start", side, generation))

    def wait_ready(self, _timeout: float) -> dict:
        if self.factor < 0:
            raise local.LocalRunError(f"{self.side}: the ferry process exited (1)")
        self.log.append(("ready", self.side, self.generation))
        return {}

    def run_stage(self, stage: str, _timeout: float) -> dict:
        return {"status": "succeeded", "stages": {stage: _row(self.factor)}}

    def close(self) -> None:
        self.log.append(("close", self.side, self.generation))


@pytest.mark.parametrize("per_process, generations", [(1, [0, 1, 2, 3]), (2, [0, 0, 1, 1])])
def test_each_generation_of_processes_measures_per_process_pairs(per_process, generations):
    """Fresh processes replace both sides every ``pairs_per_process`` pairs, and the old
    ones are closed before the new ones start (never two generations at once)."""
    log: list = []
    processes = gate0_sides.SideProcesses(lambda s, g: _Process(s, g, log), per_process, 10)
    processes.launch()
    processes.ready()
    settings = local.Gate0Settings(min_pairs=4, max_pairs=4, budget_s=1e9, metric="cpu")
    pairs, stop, errors = gate0_pairs.measure_pairs(processes, settings, stages=("a",))
    processes.close()
    assert not errors and len(pairs) == 4
    assert [(p["pids"]["control"] - 1000) // 2 for p in pairs] == generations
    started = [g for what, side, g in log if what == "start" and side == "control"]
    assert started == sorted(set(generations))
    for g in started[:-1]:  # generation g closes (both sides) before g + 1 starts
        assert log.index(("close", "treatment", g)) < log.index(("start", "control", g + 1))
    assert log[-2:] == [("close", "control", started[-1]), ("close", "treatment", started[-1])]


def test_a_side_that_does_not_restart_ends_the_loop_with_an_error():
    log: list = []

    def start(side: str, generation: int) -> _Process:
        return _Process(side, generation, log, -1.0 if generation == 2 else 1.0)

    processes = gate0_sides.SideProcesses(start, 1, 10)
    processes.launch()
    settings = local.Gate0Settings(min_pairs=6, max_pairs=20, budget_s=1e9, metric="cpu")
    pairs, stop, errors = gate0_pairs.measure_pairs(processes, settings, stages=("a",))
    assert len(pairs) == 2 and stop == "a side did not start for pair 3"
    assert errors == ["control: the ferry process exited (1)"]


def test_the_comment_states_the_resolution_when_a_stage_stays_undecided():
    """Noisy pairs leave a stage undecided: the notes say how wide its interval still is
    (the median half-width over stages); decided stages alone need no such line."""
    noisy = (1.12, 0.9, 1.1, 0.88, 1.08, 0.93, 1.05, 0.95)
    control = [{"minhash": 1.0, "fuzzy_dups": 1.0} for _ in noisy]
    treatment = [{"minhash": m, "fuzzy_dups": 2.0} for m in noisy]
    result = _result(_pairs(control, treatment))
    table = result.paired
    assert list(table[table["stage"] == "minhash"]["call"]) == ["undecided"]
    row = table[table["stage"] == "minhash"].iloc[0]
    minhash_half = 100 * ((row["high"] / row["low"]) ** 0.5 - 1)
    assert minhash_half > 5
    # fuzzy_dups doubles in every pair: a zero-width interval; the median of the two
    assert abstats.resolution_pct(table) == pytest.approx(minhash_half / 2)
    notes = render("_ab_notes", ab=result.facts())
    assert (
        f"after 8 pairs a stage's interval reaches about ±{abstats.resolution_pct(table):.0f}%"
        in notes
    )
    decided = _result(_pairs(control, [{"minhash": 2.0, "fuzzy_dups": 2.0} for _ in noisy]))
    assert "Resolution" not in render("_ab_notes", ab=decided.facts())
    assert abstats.resolution_pct(_result(_pairs(control[:3], treatment[:3])).paired) is None


def test_ensure_checkout_builds_the_demo_sandbox_when_empty(tmp_path):
    from perfgate_lib.local.sandbox import default_change, ensure_checkout

    assert ensure_checkout(str(tmp_path), "a", "b") == (str(tmp_path), "a", "b")
    checkout, base, head = ensure_checkout("", "main", "ignored")
    assert (base, head) == ("main", default_change().branch)  # H1: per Zephyr release
    control, treatment = local.resolve_revisions(checkout, base, head)
    assert control != treatment
    assert (Path(checkout) / "lib/zephyr/pyproject.toml").is_file()
    assert local.zephyr_source(checkout).endswith("lib/zephyr/src")


@pytest.mark.slow
def test_demo_command_renders_a_comment_flagging_fuzzy_dups(tmp_path):
    """`perfgate demo` (the README's main command) end to end, on a small corpus.

    The planted change (zstd level 3 -> 6) makes fuzzy_dups execute about 1.5x the
    instructions. The one measured claim: every pair shows fuzzy_dups above +10% in
    instructions; from there the method guarantees the rest (the interval's low end is
    the lowest pair at 6 pairs).
    """
    from tests.cli_helpers import perfgate

    run = tmp_path / "runs" / "demo" / "t"
    proc = perfgate(
        "demo",
        "--out",
        str(run),
        "--max-pairs",
        "6",
        "--budget",
        "30",
        "--docs",
        "20",
        env={"PERFGATE_RUNS_ROOT": str(tmp_path / "runs")},
        timeout=GATE0_HANG_S,
    )
    assert proc.returncode == 0, proc.stderr
    pairs = json.loads((run / "ab" / "pairs.json").read_text())
    ratios = [
        p["treatment"]["fuzzy_dups"]["instructions"] / p["control"]["fuzzy_dups"]["instructions"]
        for p in pairs
    ]
    assert len(pairs) == 6 and min(ratios) > 1.10, ratios
    comment = (run / "comment.md").read_text()
    assert comment.startswith("<!-- zephyr-perf-gate -->")
    assert "fuzzy\\_dups" in comment and "Paired ratio, 95% CI" in comment
    row = next(line for line in comment.splitlines() if line.startswith("| fuzzy\\_dups |"))
    assert "instructions ×" in row and "6 pairs" in row and "❌" in row  # ratio, interval
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    stages = {s["stage"]: s for s in verdict["stages"]}
    assert stages["fuzzy_dups"]["verdict"] == "fail"
    assert any(f.startswith("stage fuzzy_dups:") for f in verdict["hard_fails"])
    for name in ("assess", "local_ab", "compare"):
        assert (run / f"{name}.ipynb").is_file() and (run / f"{name}.html").is_file()
    # H1: on the kit's Zephyr 0.2.227 the demo plants sandbox.ROUTE_HASH_CHANGE
    assert (run / "pr.diff").read_text().count("hash_encoded_key(encode_key(key))") == 1
    assert (run / "ab" / "paired.csv").is_file()
    ab = json.loads((run / "ab" / "ab.json").read_text())
    assert {ab["sides"][side]["mode"] for side in ("control", "treatment")} == {"uv"}
    assert "uv environment" in comment  # the demo sandbox is a uv project: the worktree path
    assert json.loads((run / "demo.json").read_text())["verdict"] == "fail"
    assert "fuzzy_dups" in proc.stdout.split("flagged stages:")[1].splitlines()[0]
    assert "local_ab" in proc.stdout and "pairs" in proc.stdout  # where the time went
    assert "KeyboardInterrupt caught in kernel" not in proc.stdout + proc.stderr
    assert str(run / "comment.md") in proc.stdout
    assert json.loads((run / "demo.json").read_text())["sandbox"]["path"] is None  # removed
    # issue 30: comment, verdict.json, CSV and charts agree; gate 0 everywhere
    from perfgate_lib.audit.runindex import list_runs
    from tests.render_cases import gate0_agreement_problems

    checked, problems = gate0_agreement_problems(run)
    assert problems == [] and checked >= 12, problems
    assert [e.gate for e in list_runs(str(tmp_path / "runs"))] == [0]
    assert "instructions_total" in [s["signal"] for s in verdict["signals"]]
    # issue 31: where the instructions went, tied to the PR and held against the assessment
    where = comment.split("### Where the instructions went")[1]
    assert where.lstrip().startswith(
        "<details><summary>Where the instructions went (fuzzy\\_dups +"
    )
    table = where.split("</details>")[0]
    top = next(line for line in table.splitlines() if line.startswith("| +"))
    assert "changed by the PR: `lib/zephyr/src/zephyr/shuffle.py`" in table
    assert "`_item_routing`" in top or "shard\\_keys.py" in top, top  # the planted call path
    assert "- `lib/zephyr/src/zephyr/shuffle.py`: assessment said CPU: yes" in table
    assert "profile agrees:" in table and "wall\\_seconds\\_total" not in table
    assert (run / "ab" / "profile" / "attribution.json").is_file()
    assert "about 2 minutes" not in proc.stdout
    assert "pair 6 of at most 6" in (run / "ab" / "progress.log").read_text()


def test_local_ab_command_rejects_bad_checkout_and_revision(tmp_path):
    out = str(tmp_path / "o")
    code, _, err = perfgate_here(
        "local-ab", "--checkout", str(tmp_path), "--head", "x", "--out", out
    )
    assert code == 2 and "not a git checkout" in err

    box = build_sandbox(tmp_path / "repo")
    code, _, err = perfgate_here(
        "local-ab", "--checkout", box.path, "--head", "no-such-branch", "--out", out
    )
    assert code == 2, "a bad --head is a usage error, as in assess"
    assert "--head no-such-branch: unknown revision" in err
    assert "fatal:" not in err, "no raw git text"


def test_sandbox_is_marin_shaped_and_its_changes_apply(tmp_path):
    from perfgate_lib.errors import PerfgateError, UsageError
    from perfgate_lib.local.sandbox import SUB_BATCH_CHANGE, ZSTD_LEVEL_CHANGE, diff_text

    box = build_sandbox(tmp_path / "a", ZSTD_LEVEL_CHANGE)
    diff = diff_text(box)
    # H1: the kit's 0.2.227 writes Parquet scatter chunks (0.2.20: test_sandbox_releases.py)
    assert 'compression="zstd", compression_level=19' in diff
    assert box.changed_files == ("lib/zephyr/src/zephyr/shuffle.py",)
    assert (Path(box.path) / "lib/zephyr/src/zephyr/__init__.py").is_file()
    assert 'name = "marin-zephyr"' in (Path(box.path) / "lib/zephyr/pyproject.toml").read_text()

    other = build_sandbox(tmp_path / "b", SUB_BATCH_CHANGE)
    assert "+_DATAFRAME_ROW_COUNT = 1\n" in diff_text(other)
    with pytest.raises(UsageError, match="not empty"):
        build_sandbox(tmp_path / "b")
    (edit,) = ZSTD_LEVEL_CHANGE.edits.values()
    shuffle = subprocess.run(  # the PR head's shuffle.py: the line is gone
        ["git", "-C", box.path, "show", f"{box.head}:lib/zephyr/src/zephyr/shuffle.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "compression_level=19" in shuffle
    with pytest.raises(PerfgateError, match="neither a `_ZSTD_COMPRESS_LEVEL = 3` line"):
        edit(shuffle)  # a release without the line the change was written for


def test_attribution_shows_no_shares_when_the_total_interval_holds_no_change():
    from perfgate_lib.verdict.attribution import attribute

    control = [{"minhash": 1.0, "fuzzy_dups": 1.0} for _ in range(6)]
    treatment = [
        {"minhash": m, "fuzzy_dups": f}
        for m, f in zip(
            (1.02, 0.97, 1.01, 0.99, 1.03, 0.98), (0.98, 1.02, 1.0, 1.01, 0.97, 1.02), strict=True
        )
    ]
    from perfgate_lib.verdict.measured import UNITS, Measured, metric_view

    result = _result(_pairs(control, treatment))
    verdict = local.local_verdict(result)
    total = verdict.signals[0]
    assert total.signal == "instructions_total" and total.note.startswith("within noise")
    view = metric_view(verdict, Measured.from_json(result.measured()))
    assert attribute(view, unit=UNITS["instructions"]).within_noise is True


@pytest.mark.slow
def test_a_dependency_pin_change_runs_each_side_with_its_own_version(tmp_path):
    """The PR pins xxhash 3.5.0 in lib/zephyr/pyproject.toml: each side's uv
    environment holds its own pin, and the comment says so."""
    from importlib.metadata import version

    from perfgate_lib.local.sandbox import DEP_PIN_CHANGE, KIT_XXHASH, PINNED_XXHASH
    from tests.cli_helpers import perfgate

    box = build_sandbox(tmp_path / "repo", DEP_PIN_CHANGE)
    out = tmp_path / "run"
    proc = perfgate(
        "local-ab",
        "--checkout",
        box.path,
        "--head",
        box.head,
        "--env",
        "uv",
        "--max-pairs",
        "2",
        "--docs",
        "10",
        "--out",
        str(out),
        timeout=GATE0_HANG_S,
    )
    from perfgate_lib.errors import EXIT_BY_VERDICT

    verdict = json.loads((out / "verdict.json").read_text())["verdict"]  # not the point here
    assert proc.returncode == EXIT_BY_VERDICT[verdict], proc.stderr  # but the exit code says it
    took = [line for line in proc.stdout.splitlines() if line.startswith("took ")]
    assert len(took) == 1 and "local_ab " in took[0] and "pairs " in took[0], proc.stdout
    ab = json.loads((out / "ab" / "ab.json").read_text())
    change = f"xxhash {KIT_XXHASH} -> {PINNED_XXHASH}"
    assert ab["dependency_changes"] == [change]
    assert ab["sides"]["control"]["env_digest"] != ab["sides"]["treatment"]["env_digest"]
    assert {ab["sides"][s]["mode"] for s in ("control", "treatment")} == {"uv"}
    comment = (out / "comment.md").read_text()
    assert change.replace(">", "&gt;") in comment or change in comment
    zephyr = version("marin-zephyr")
    assert comment.count(f"zephyr {zephyr}") >= 2, comment  # each side's versions are named


# ---------------------------------------------------------------------------
# Issue 30: no pass without a measurement that could fail; progress; reloading a run
# ---------------------------------------------------------------------------


def _commit(repo: Path, rel: str, text: str, message: str) -> str:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", rel], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            message,
        ],
        check=True,
    )
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_diff_outside_zephyr_is_nothing_to_measure_not_a_pass(tmp_path, monkeypatch):
    """The issue's case: a repository with no lib/zephyr/src; before, both sides ran the
    installed Zephyr for minutes and the command printed ``verdict: pass``."""

    monkeypatch.setenv("PERFGATE_RUNS_ROOT", str(tmp_path / "runs"))
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _commit(repo, "README.md", "one\n", "first")
    _commit(repo, "docs/notes.md", "two\n", "second")
    with pytest.raises(local.NothingToMeasure, match="changes no file under lib/zephyr/"):
        local.run_local_ab(repo, "HEAD~1", "HEAD", out_dir=tmp_path / "ab", progress=None)
    assert not (tmp_path / "ab").exists(), "stopped before anything ran"
    code, out, _ = perfgate_here(
        "local-ab", "--checkout", str(repo), "--base", "HEAD~1", "--head", "HEAD"
    )
    assert code == 0
    assert "nothing to measure" in out and "docs/notes.md" in out
    assert "verdict:" not in out and "pass" not in out
    assert not (tmp_path / "runs").exists()


def test_a_side_on_anything_but_its_own_zephyr_or_identical_sides_cannot_be_measured():
    sources = {"control": "/w/control/lib/zephyr/src", "treatment": "/w/treatment/lib/zephyr/src"}
    own = {side: f"{src}/zephyr/__init__.py" for side, src in sources.items()}
    digests = {"control": "aaa", "treatment": "bbb"}
    changes = ["lib/zephyr/src/zephyr/shuffle.py"]
    assert local.measurability_problems(sources, digests, own, changes, []) == []

    installed = {**own, "treatment": "/venv/site-packages/zephyr/__init__.py"}
    (problem,) = local.measurability_problems(sources, digests, installed, changes, [])
    assert problem.startswith("treatment imported Zephyr from /venv/site-packages")

    no_src = {**sources, "control": None}
    (problem,) = local.measurability_problems(no_src, digests, own, changes, [])
    assert "control has no lib/zephyr/src/zephyr package" in problem

    same = {"control": "aaa", "treatment": "aaa"}
    (problem,) = local.measurability_problems(sources, same, own, changes, [])
    assert "identical Zephyr sources" in problem and "shuffle.py" in problem
    # identical sources with different dependencies still measure something
    assert (
        local.measurability_problems(sources, same, own, changes, ["braceexpand 0.1.7 -> 0.1.6"])
        == []
    )
    # an A/A (same commit, asked for) has no change to find
    assert local.measurability_problems(sources, same, own, [], []) == []
    # a treatment that did not start reports nothing: it is a failed treatment, not this
    assert (
        local.measurability_problems(sources, digests, {"control": own["control"]}, changes, [])
        == []
    )


def test_source_digest_sees_any_file_change_but_not_bytecode(tmp_path):
    src = tmp_path / "src"
    (src / "zephyr" / "__pycache__").mkdir(parents=True)
    (src / "zephyr" / "__init__.py").write_text("x = 1\n")
    first = local.source_digest(str(src))
    (src / "zephyr" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    assert local.source_digest(str(src)) == first
    (src / "zephyr" / "__init__.py").write_text("x = 2\n")
    assert local.source_digest(str(src)) != first
    assert local.source_digest(None) is None


@pytest.mark.slow
def test_zephyr_files_changed_but_no_zephyr_source_stops_with_exit_4(tmp_path):
    """The diff touches lib/zephyr/ but neither side has lib/zephyr/src/zephyr: both would
    run the installed marin-zephyr, so gate 0 stops instead of passing."""
    from tests.cli_helpers import perfgate

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _commit(repo, "lib/zephyr/README.md", "one\n", "first")
    _commit(repo, "lib/zephyr/README.md", "two\n", "second")
    proc = perfgate(
        "local-ab",
        "--checkout",
        str(repo),
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--metric",
        "cpu",
        "--env",
        "kit",
        "--docs",
        "10",
        "--max-pairs",
        "1",
        "--out",
        str(tmp_path / "run"),
        timeout=GATE0_HANG_S,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "gate 0 cannot measure this diff" in proc.stderr
    assert "no lib/zephyr/src/zephyr package" in proc.stderr
    assert "verdict: pass" not in proc.stdout


def test_progress_is_logged_and_shown_on_a_terminal_only(tmp_path):
    import io

    from rich.console import Console

    from perfgate_lib.local.pairs import ProgressLog, follow, last_message

    log = tmp_path / "ab" / "progress.log"
    seen = []
    say = ProgressLog(log, seen.append)
    say("preparing each side's Python environment")
    say(gate0_pairs.pair_message(2, 12, 4.06, ["fuzzy_dups", "minhash"]))
    assert seen[-1] == "pair 2 of at most 12 done in 4.1 s; undecided: fuzzy_dups, minhash"
    total = gate0_pairs.pair_message(3, 12, 1.0, [local.TOTAL], "instructions")
    assert total.endswith("undecided: instructions_total")
    assert [line.split("\t")[1] for line in log.read_text().splitlines()] == seen
    assert last_message(log) == seen[-1]

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=160)
    with follow(log, "gate 0 (instructions, at most 12 pairs)", console=terminal) as newest:
        assert newest() == seen[-1]
    shown = screen.getvalue()
    assert "gate 0 (instructions, at most 12 pairs): pair 2 of at most 12" in shown
    assert "undecided: fuzzy_dups, minhash" in shown and "0:00:0" in shown  # elapsed

    piped = io.StringIO()
    with follow(log, "gate 0", console=Console(file=piped, force_terminal=False)):
        pass
    assert piped.getvalue() == "", "quiet when the output is not a terminal"


def test_a_finished_ab_reloads_from_its_run_folder_without_writing(tmp_path):
    import hashlib

    from perfgate_lib.errors import UsageError
    from perfgate_lib.local.corpus import CorpusSpec
    from perfgate_lib.local.reload import load_ab, notebook_ab

    run = tmp_path / "run"
    ab_dir = run / "ab"
    ab_dir.mkdir(parents=True)
    result = local.summarize_pairs(
        _noisy_pairs(8, {"fuzzy_dups": 1.5}, seed=3),
        ab_id="ab-x",
        control_sha="a" * 40,
        treatment_sha="b" * 40,
        out_dir=str(ab_dir),
        bands=(4.0, 8.0),
    )
    result.stop_reason = "every stage decided after 8 pairs"
    local.write_outputs(result, CorpusSpec(docs=10))

    def digests():
        return {
            p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()
        }

    before = digests()
    loaded = load_ab(run)
    assert loaded.read_only and loaded.n_pairs == 8 and loaded.bands == (4.0, 8.0)
    assert loaded.stop_reason == result.stop_reason
    assert loaded.paired.equals(result.paired)
    assert loaded.control_report == result.control_report
    assert local.local_verdict(loaded).verdict == local.local_verdict(result).verdict
    assert local.show_pairs_chart(loaded) == ""
    assert load_ab(ab_dir).n_pairs == 8  # the ab/ folder itself opens too
    assert notebook_ab(run_dir=str(run)).n_pairs == 8
    assert digests() == before, "opening a finished run writes nothing"
    with pytest.raises(UsageError, match="already holds a finished A/B"):
        notebook_ab(out_dir=str(ab_dir), checkout=str(tmp_path), base="x", head="y")
    with pytest.raises(UsageError, match="no ab.json"):
        load_ab(tmp_path)


def test_pairs_chart_colours_each_interval_by_its_call_with_a_legend():
    from perfgate_lib.local.ab import CALL_COLOURS

    result = _result(_noisy_pairs(8, {"fuzzy_dups": 1.5}, seed=2))
    fig = local.pairs_chart(result)
    ax = fig.axes[0]
    calls = dict(zip(result.paired["stage"], result.paired["call"], strict=True))
    intervals = [line for line in ax.lines if line.get_linewidth() == 3]
    colours = [line.get_color() for line in intervals]
    assert colours == [CALL_COLOURS[calls[s]] for s in STAGES]
    assert len(set(colours)) > 1, "not every interval red"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "interval: fail" in legend and "one pair's ratio" in legend
    assert "Gate 0" in ax.get_title()


def test_pairs_chart_draws_the_band_edges_the_calls_were_made_with():
    """A thresholds file with a 3% / 7% stage band: the chart's edges are the ones the
    calls used, not the default 5% / 10%."""
    result = _result(_noisy_pairs(8, {"fuzzy_dups": 1.5}, seed=2), bands=(3.0, 7.0))
    ax = local.pairs_chart(result).axes[0]
    edges = sorted({line.get_ydata()[0] for line in ax.lines if line.get_linewidth() == 0.8})
    assert edges == pytest.approx([1.0, 1.03, 1.07])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "+3% (pass edge)" in legend and "+7% (fail edge)" in legend


def test_too_few_pairs_write_strict_json_that_reads_back_unbounded(tmp_path):
    """Two pairs leave every interval open above (+inf): each JSON file of the run folder is
    still strict JSON (jq reads it), and the compare context reads back as +inf."""
    from perfgate_lib.local.corpus import CorpusSpec
    from perfgate_lib.verdict.compare import split_context

    result = _result(_noisy_pairs(2, {"fuzzy_dups": 1.5}, seed=3), out_dir=str(tmp_path))
    local.write_outputs(result, CorpusSpec(docs=10))

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    for path in tmp_path.rglob("*.json"):
        json.loads(path.read_text(), parse_constant=refuse)
    context, _, _ = split_context(str(tmp_path / "compare_context.json"))
    assert context["intervals"]["fuzzy_dups"]["high_pct"] == float("inf")


def test_max_pairs_help_describes_a_pair_without_back_to_back():
    code, out, _ = perfgate_here("local-ab", "--help")
    help_text = " ".join(out.split())
    assert code == 0
    assert "back to back" not in help_text
    assert "one pair: every stage measured once on control and once on treatment" in help_text


def test_what_a_side_reports_reaches_the_comment_as_text():
    """The sides run the PR's code and report their own environment, and the dependency
    changes come from the PR's pyproject: in the comment all of it stays text."""
    from perfgate_lib.verdict.compare import split_context
    from perfgate_lib.verdict.render import render_comment
    from tests.render_cases import example_pair
    from tests.test_templates import EVIL, _hostile_problems

    result = _result(_noisy_pairs(8, {"fuzzy_dups": 1.5}, seed=2))
    reported = {"python": EVIL, "executable": EVIL}
    result.sides = {
        side: {"mode": EVIL, "env_digest": EVIL, "identity": reported, "versions": {"x": EVIL}}
        for side in ("control", "treatment")
    }
    result.sides["treatment"]["versions"] = {"marin-zephyr": EVIL, "marin-iris": EVIL}
    result.dependency_changes = [EVIL]
    _ctx, extras, _tier = split_context(json.dumps(result.compare_context()))
    base, treat, verdict = example_pair()  # a cluster-shaped verdict: its notes are the test
    extras.measured = None
    body = render_comment(verdict, base, treat, extras=extras)
    assert "Dependencies differ between the sides: x&#96;" in body
    assert _hostile_problems(body) == []


def test_an_out_folder_that_is_a_file_is_named_before_anything_runs(tmp_path):
    """``local-ab --out`` naming a file was a FileExistsError crash (exit 4) once the
    revisions were resolved; now a usage error naming it, before anything runs."""
    out = tmp_path / "o.json"
    out.write_text("{}")
    code, _, err = perfgate_here(
        "local-ab", "--checkout", str(tmp_path), "--head", "HEAD", "--out", str(out)
    )
    assert code == 2 and err == f"perfgate: --out {out}: a file, not a folder\n", err


def _edit_json(folder: Path, name: str, edit) -> None:
    data = json.loads((folder / name).read_text())
    (folder / name).write_text(json.dumps(edit(data)))


@pytest.mark.parametrize(
    ("name", "edit", "problem"),
    [
        ("ab.json", lambda a: {**a, "bands_pct": {"warn": 10}}, "field 'bands_pct.pass': missing"),
        ("ab.json", lambda a: {**a, "bands_pct": [1, 2]}, "field 'bands_pct': "),
        ("ab.json", lambda a: {**a, "seconds": "x"}, "field 'seconds': "),
        ("ab.json", lambda a: {**a, "errors": 5}, "field 'errors': "),
        ("ab.json", lambda a: {**a, "timings_seconds": [1]}, "field 'timings_seconds': "),
        ("ab.json", lambda a: {**a, "settings": {"docs": "many"}}, "field 'settings': "),
        ("control-report.json", lambda _r: [], "must be an object"),
        ("pairs.json", lambda _p: [1, 2], r"field '\[0\]': "),
        ("pairs.json", lambda p: [{"pair": 1}], r"field '\[0\].control': missing"),
        ("pairs.json", lambda p: [{**p[0], "pair": "one"}], r"field '\[0\].pair': "),
    ],
    ids=[
        *("bands-no-pass", "bands-list", "seconds-text", "errors-number", "timings-list"),
        *("settings-text", "report-list", "pairs-numbers", "pair-no-side", "pair-text-number"),
    ],
)
def test_a_malformed_archived_ab_is_named_not_a_crash(tmp_path, fixtures_dir, name, edit, problem):
    """Reopening a run folder reads files from an archive: a wrong field stops with a
    usage error naming the file and the field, not a KeyError or TypeError traceback."""
    from perfgate_lib.errors import UsageError
    from perfgate_lib.local.reload import load_ab

    shutil.copytree(fixtures_dir / "gate0_run" / "ab", tmp_path / "ab")
    _edit_json(tmp_path / "ab", name, edit)
    with pytest.raises(UsageError, match=f"{name}.*{problem}"):
        load_ab(tmp_path)


def test_an_archived_ab_file_that_is_a_folder_is_named(tmp_path, fixtures_dir):
    from perfgate_lib.errors import UsageError
    from perfgate_lib.local.reload import load_ab

    shutil.copytree(fixtures_dir / "gate0_run" / "ab", tmp_path / "ab")
    (tmp_path / "ab" / "pairs.json").unlink()
    (tmp_path / "ab" / "pairs.json").mkdir()
    with pytest.raises(UsageError, match="pairs.json: cannot read"):
        load_ab(tmp_path)


def test_a_zephyr_change_in_a_file_git_quotes_is_still_a_zephyr_change(tmp_path):
    """git quotes a path with a tab, a newline or a quote (``"lib/zephyr/a\\tb"``) even
    with core.quotepath=off: such a change must not read as outside lib/zephyr/ (a skip)."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    base = _commit(repo, "README.md", "one\n", "first")
    head = _commit(repo, 'lib/zephyr/src/zephyr/a\t"b.json', "{}\n", "second")
    assert local.require_zephyr_change(repo, base, head) == ['lib/zephyr/src/zephyr/a\t"b.json']
