"""The local A/B runner: noise rule, medians, worktrees, A/A and an injected slowdown."""

from __future__ import annotations

import json
import math
import random
import subprocess
from pathlib import Path

import pytest

from perfgate_lib.miniferry import StageResult, build_report
from perfgate_lib.runners import local
from perfgate_lib.sandbox import ZEPHYR_PKG, Change, build_sandbox

STAGES = ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")


def _report(run_id: str, seconds: dict[str, float], mb: float = 220.0, **kw) -> dict:
    stages = {s: StageResult(t, mb, 8, 100) for s, t in seconds.items()}
    return build_report(run_id, stages, memory_method="test", **kw)


def _result(control: list[dict], treatment: list[dict]) -> local.ABResult:
    return local.summarize_runs(
        control, treatment, ab_id="ab-test", control_sha="a" * 40, treatment_sha="b" * 40
    )


def _worktrees(repo: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", repo, "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.startswith("worktree ")]


# ---------------------------------------------------------------------------
# The noise rule (pure)
# ---------------------------------------------------------------------------


def test_noise_row_separated_vs_overlapping():
    apart = local.noise_row("s", [1.0, 1.1, 1.05], [2.0, 2.1, 2.2])
    assert apart["delta_pct"] == pytest.approx(100 * (2.1 - 1.05) / 1.05, abs=0.01)
    assert apart["noise_pct"] == pytest.approx(100 * 0.2 / 2.1, abs=0.01)
    assert apart["runs_overlap"] is False and apart["within_noise"] is False

    overlap = local.noise_row("s", [1.0, 1.5, 1.1], [1.2, 1.3, 1.4])
    assert overlap["runs_overlap"] is True and overlap["within_noise"] is True

    # separated, but the medians moved less than a side's spread: still within the noise
    wide = local.noise_row("s", [1.0, 1.05, 1.1], [1.12, 1.3, 1.5])
    assert wide["runs_overlap"] is False
    assert wide["delta_pct"] < wide["noise_pct"] and wide["within_noise"] is True


def test_noise_is_unknown_with_one_repeat():
    row = local.noise_row("s", [1.0], [3.0])
    assert math.isnan(row["noise_pct"]) and row["within_noise"] is False


def test_median_report_takes_medians_and_the_worst_counts():
    runs = [
        _report("c1", {"normalize": 1.0, "minhash": 3.0}, mb=200),
        _report("c2", {"normalize": 2.0, "minhash": 1.0}, mb=260),
        _report("c3", {"normalize": 4.0, "minhash": 2.0}, mb=220),
    ]
    med = local.median_report(runs, "local/ab/control")
    assert med["stage_wall_seconds"] == {"normalize": 2.0, "minhash": 2.0}
    assert med["wall_seconds_total"] == 4.0  # median of totals 4, 3, 6
    assert med["peak_worker_memory_mb"] == 220
    assert med["status"] == "succeeded" and len(med["local_run"]["repeats"]) == 3

    runs.append(
        _report(
            "c4",
            {"normalize": 9.0},
            status="failed",
            error="ferry failed: X",
            failure_bucket="application_failure",
        )
    )
    med = local.median_report(runs, "local/ab/control")
    assert med["status"] == "failed" and med["failed_shards"] == 1
    assert med["stage_wall_seconds"]["normalize"] == 2.0  # failed runs do not count
    assert "ferry failed: X" in med["warnings"]


def test_verdict_downgrades_only_fails_within_the_noise():
    control = [_report(f"c{i}", dict.fromkeys(STAGES, 1.0 + 0.01 * i)) for i in range(5)]
    treatment = []
    for i in range(5):
        seconds = dict.fromkeys(STAGES, 1.0 + 0.01 * i)
        seconds["fuzzy_dups"] = 2.0 + 0.01 * i  # a real slowdown, far outside the noise
        seconds["minhash"] = [1.0, 1.5, 1.3, 0.9, 1.4][i]  # noisy: +30%, runs overlap
        treatment.append(_report(f"t{i}", seconds))
    result = _result(control, treatment)
    noise = result.noise.set_index("stage")
    assert not noise.loc["fuzzy_dups", "within_noise"]
    assert noise.loc["minhash", "within_noise"] and noise.loc["minhash", "delta_pct"] > 10

    verdict = local.local_verdict(result)
    rows = {r.stage: r for r in verdict.stages}
    assert verdict.verdict == "fail"
    assert rows["fuzzy_dups"].verdict == "fail"
    assert rows["minhash"].verdict == "warn" and "within noise" in rows["minhash"].note
    assert any("fuzzy_dups" in f for f in verdict.hard_fails)
    assert not any("minhash" in f for f in verdict.hard_fails)

    only_noise = _result(control, [dict(t) for t in control])
    only_noise.treatment_report["stage_wall_seconds"]["minhash"] = 1.3
    only_noise.noise.loc[only_noise.noise["stage"] == "minhash", "within_noise"] = True
    assert local.local_verdict(only_noise).verdict == "warn"


def test_failed_treatment_is_a_hard_fail_not_noise():
    control = [_report(f"c{i}", dict.fromkeys(STAGES, 1.0)) for i in range(3)]
    treatment = [
        _report(
            "t0",
            {"normalize": 1.0},
            status="failed",
            error="ferry failed: SyntaxError",
            failure_bucket="application_failure",
        )
    ]
    verdict = local.local_verdict(_result(control, treatment))
    assert verdict.verdict == "fail"
    assert any("failed_shards" in f for f in verdict.hard_fails)


def test_aa_noise_rule_never_fails_on_exchangeable_runs():
    """Identical code on both sides: quantised scheduler noise plus spikes, 400 A/B pairs."""
    rng = random.Random(1234)

    def run(name: str) -> dict:
        seconds = {
            s: base * rng.gauss(1, 0.05) + 0.1 * rng.choice([0, 1, 1, 2]) + (rng.random() < 0.05)
            for s, base in zip(STAGES, (0.3, 0.5, 0.4, 0.6, 0.5), strict=True)
        }
        return _report(name, seconds, mb=220 * rng.gauss(1, 0.03))

    verdicts = []
    for trial in range(400):
        control = [run(f"c{trial}-{i}") for i in range(5)]
        treatment = [run(f"t{trial}-{i}") for i in range(5)]
        verdicts.append(local.local_verdict(_result(control, treatment)).verdict)
    assert "fail" not in verdicts
    assert "warn" in verdicts  # the raw bands alone would have failed some of these


def test_compare_context_carries_the_noise_column():
    control = [_report(f"c{i}", dict.fromkeys(STAGES, 1.0 + 0.01 * i)) for i in range(3)]
    result = _result(control, control)
    ctx = result.compare_context()
    assert set(ctx["comment"]["stage_context"]) == set(STAGES)
    assert ctx["comment"]["stage_context_title"] == "Noise (k=3)"
    assert ctx["baseline"]["sha"] == "a" * 40
    assert set(ctx["within_noise"]) >= set(STAGES)  # A/A: every stage inside its noise
    assert local.local_verdict(result).verdict == "pass"
    result.zephyr_sources = {"control": None, "treatment": None}
    notes = result.compare_context()["comment"]["top_notes"]
    assert any("cannot see a Zephyr change" in n for n in notes)


# ---------------------------------------------------------------------------
# Real git worktrees and real Zephyr
# ---------------------------------------------------------------------------


def _broken(text: str) -> str:
    return text + "\ndef broken(:\n"


def _burn_cpu_in_scatter(text: str) -> str:
    """Injected slowdown: the scatter writer hashes every routed key 300 extra times."""
    old = "        key = self._key_fn(item)\n"
    assert old in text
    return text.replace(
        old,
        old + "        for _ in range(300):\n            deterministic_hash(key)\n",
    )


@pytest.mark.slow
def test_broken_treatment_fails_and_worktrees_are_removed(tmp_path):
    box = build_sandbox(
        tmp_path / "repo",
        Change("pr/broken", "break zephyr", {str(ZEPHYR_PKG / "plan.py"): _broken}),
    )
    result = local.run_local_ab(
        box.path, box.base, box.head, out_dir=tmp_path / "ab", repeats=2, docs=60, progress=None
    )
    assert result.repeats == 1  # stopped after the first pair
    assert result.treatment_report["status"] == "failed"
    assert result.control_report["status"] == "succeeded"
    assert local.local_verdict(result).verdict == "fail"
    assert _worktrees(box.path) == [f"worktree {Path(box.path).resolve()}"]
    for name in ("control-report.json", "treatment-report.json", "noise.csv", "ab.json"):
        assert (tmp_path / "ab" / name).is_file()
    assert (tmp_path / "ab" / "logs" / "treatment-r1.log").is_file()


@pytest.mark.slow
def test_aa_same_code_on_both_sides_never_fails(tmp_path):
    box = build_sandbox(tmp_path / "repo")
    result = local.run_local_ab(
        box.path, box.base, box.base, out_dir=tmp_path / "ab", repeats=5, docs=500, progress=None
    )
    assert result.control_sha == result.treatment_sha == box.base_sha
    assert all(src and src.endswith("lib/zephyr/src") for src in result.zephyr_sources.values())
    assert result.control_report["iris_job_id"] != result.treatment_report["iris_job_id"]
    assert list(result.noise["stage"]) == [*STAGES, "wall_seconds_total"]
    verdict = local.local_verdict(result)
    assert verdict.verdict in ("pass", "warn"), verdict.to_json()
    assert _worktrees(box.path) == [f"worktree {Path(box.path).resolve()}"]


@pytest.mark.slow
def test_injected_scatter_slowdown_is_detected_in_fuzzy_dups(tmp_path):
    box = build_sandbox(
        tmp_path / "repo",
        Change("pr/slow", "slow scatter", {str(ZEPHYR_PKG / "shuffle.py"): _burn_cpu_in_scatter}),
    )
    result = local.run_local_ab(
        box.path, box.base, box.head, out_dir=tmp_path / "ab", repeats=3, docs=500, progress=None
    )
    noise = result.noise.set_index("stage")
    stage_deltas = noise.loc[list(STAGES), "delta_pct"]
    assert stage_deltas.idxmax() == "fuzzy_dups"
    assert noise.loc["fuzzy_dups", "delta_pct"] > 50
    assert not noise.loc["fuzzy_dups", "within_noise"]
    verdict = local.local_verdict(result)
    assert verdict.verdict == "fail"
    assert {r.stage: r.verdict for r in verdict.stages}["fuzzy_dups"] == "fail"
    saved = json.loads((tmp_path / "ab" / "compare_context.json").read_text())
    assert "outside noise" in saved["comment"]["stage_context"]["fuzzy_dups"]


def test_ensure_checkout_builds_the_demo_sandbox_when_empty(tmp_path):
    from perfgate_lib.sandbox import PR_BRANCH, ensure_checkout

    assert ensure_checkout(str(tmp_path), "a", "b") == (str(tmp_path), "a", "b")
    checkout, base, head = ensure_checkout("", "main", "ignored")
    assert (base, head) == ("main", PR_BRANCH)
    control, treatment = local.resolve_revisions(checkout, base, head)
    assert control != treatment
    assert (Path(checkout) / "lib/zephyr/pyproject.toml").is_file()
    assert local.zephyr_source(checkout).endswith("lib/zephyr/src")


@pytest.mark.slow
def test_demo_command_renders_a_comment_flagging_fuzzy_dups(tmp_path):
    """`perfgate demo` (the README's main command) end to end, on a small corpus."""
    from tests.cli_helpers import perfgate

    run = tmp_path / "runs" / "demo" / "t"
    proc = perfgate(
        "demo",
        "--out",
        str(run),
        "--repeats",
        "2",
        "--docs",
        "600",
        env={"PERFGATE_RUNS_ROOT": str(tmp_path / "runs")},
    )
    assert proc.returncode == 0, proc.stderr
    comment = (run / "comment.md").read_text()
    assert comment.startswith("<!-- zephyr-perf-gate -->")
    assert "fuzzy\\_dups" in comment and "Noise (k=2)" in comment
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    stages = {s["stage"]: s for s in verdict["stages"]}
    assert stages["fuzzy_dups"]["verdict"] == "fail"
    assert max(stages, key=lambda s: stages[s]["delta_pct"]) == "fuzzy_dups"
    for name in ("assess", "local_ab", "compare"):
        assert (run / f"{name}.ipynb").is_file() and (run / f"{name}.html").is_file()
    assert (run / "pr.diff").read_text().count("_ZSTD_COMPRESS_LEVEL = 12") == 1
    assert (run / "ab" / "noise.csv").is_file()
    assert json.loads((run / "demo.json").read_text())["verdict"] == "fail"
    assert "verdict: fail (flagged stages: fuzzy_dups" in proc.stdout
    assert str(run / "comment.md") in proc.stdout
    assert json.loads((run / "demo.json").read_text())["sandbox"]["path"] is None  # removed


def test_local_ab_command_rejects_bad_checkout_and_revision(tmp_path, capsys):
    from perfgate_lib.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["local-ab", "--checkout", str(tmp_path), "--head", "x", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "not a git checkout" in capsys.readouterr().err

    box = build_sandbox(tmp_path / "repo")
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "local-ab",
                "--checkout",
                box.path,
                "--head",
                "no-such-branch",
                "--out",
                str(tmp_path / "o"),
            ]
        )
    assert exit_info.value.code == 4
    assert "no-such-branch" in capsys.readouterr().err


def test_sandbox_is_marin_shaped_and_its_changes_apply(tmp_path):
    from perfgate_lib.errors import UsageError
    from perfgate_lib.sandbox import SUB_BATCH_CHANGE, diff_text

    box = build_sandbox(tmp_path / "a")
    diff = diff_text(box)
    assert "-_ZSTD_COMPRESS_LEVEL = 3" in diff and "+_ZSTD_COMPRESS_LEVEL = 12" in diff
    assert box.changed_files == ("lib/zephyr/src/zephyr/shuffle.py",)
    assert (Path(box.path) / "lib/zephyr/src/zephyr/__init__.py").is_file()
    assert 'name = "marin-zephyr"' in (Path(box.path) / "lib/zephyr/pyproject.toml").read_text()

    other = build_sandbox(tmp_path / "b", SUB_BATCH_CHANGE)
    assert "+_SUB_BATCH_SIZE = 1\n" in diff_text(other)
    with pytest.raises(UsageError, match="not empty"):
        build_sandbox(tmp_path / "b")
