"""Issue 28: gate 0 on today's marin-zephyr, and on the oldest it supports.

Fast tests use the kit's own venv (marin-zephyr 0.2.227) and real files of that release.
The slow ones build a marin-shaped repository from each published wheel in
:data:`tests.zephyr_releases.GATE0_RELEASES` (0.2.20, the oldest supported, and 0.2.227,
the newest published): ``lib/zephyr/src`` from the wheel, ``lib/zephyr/pyproject.toml``
from its metadata, so each side's uv environment holds that release's own dependencies
and the Python its ``requires-python`` asks for (3.11 for 0.2.20, 3.12 for 0.2.227),
found by the kit without touching ``PATH``. Wheels are downloaded once (pip) into
``~/.cache/perfgate/wheels``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from perfgate_lib.local import ferry_pipeline, zephyr_api
from perfgate_lib.local.corpus import CorpusSpec, write_corpus
from perfgate_lib.local.sandbox import (
    ZEPHYR_PKG,
    Change,
    build_sandbox,
    installed_zephyr_dir,
    route_hash_change,
)
from perfgate_lib.local.stats import row_interval
from perfgate_lib.mdtemplate import render
from perfgate_lib.mdtext import md_rich
from perfgate_lib.verdict.paired import band_call
from tests.cli_helpers import GATE0_HANG_S, perfgate, perfgate_here
from tests.marin_layout import ZSRC, MarinRepo, worktrees
from tests.zephyr_releases import FIXTURES, GATE0_RELEASES, release_checkout

FERRY = Path(ferry_pipeline.__file__)
PLAN_0_2_227 = FIXTURES / "plan-0.2.227.dev40316220070.py.txt"

# A comment-only change to the scatter path (Zephyr's code is unchanged).
COMMENT_ONLY = Change(
    branch="pr/comment-only",
    message="zephyr: say what the shuffle module holds",
    edits={str(ZEPHYR_PKG / "shuffle.py"): lambda text: "# Scatter and gather.\n" + text},
)

# A planted scatter-path slowdown: the shard re-checks each shuffled item's routing hash
# 60 times (per-item work in the shard's own thread, so gate 0 counts it). 0.2.20 routes
# in ScatterWriter, 0.2.227 in _item_routing; the other stages do not shuffle.
ROUTE_HASH = route_hash_change(60, "pr/route-hash")


def _serve_ready(zephyr_src: Path, tmp_path: Path) -> dict:
    """Start the mini ferry's server (kit interpreter) on ``zephyr_src``; its first answer."""
    write_corpus(CorpusSpec(docs=10, seed=0), tmp_path / "corpus")
    done = subprocess.run(
        [sys.executable, str(FERRY), "serve", "--corpus", str(tmp_path / "corpus")]
        + ["--work-dir", str(tmp_path / "work"), "--zephyr-src", str(zephyr_src)],
        input='{"cmd": "exit"}\n',
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return json.loads(done.stdout.splitlines()[0])


def test_the_mini_ferry_starts_on_todays_zephyr(tmp_path):
    """Issue 28, failure 1: `ImportError: cannot import name 'ZephyrContext' from
    'zephyr'` on every Zephyr since 0.2.42; the kit's venv holds 0.2.227."""
    answer = _serve_ready(installed_zephyr_dir().parent, tmp_path)
    assert answer["ready"] is True, answer
    where = answer["identity"]["zephyr_api"]
    assert where["ZephyrContext"] == "zephyr.context" and where["Dataset"] == "zephyr.dataset"
    assert where["compute_plan"] == "zephyr.plan"
    assert where["zephyr_worker_ctx"] == "zephyr.worker_context"
    assert answer["identity"]["execution_paths"] == {
        "mini_ferry": "InlineRunner",
        "cluster": "SubprocessRunner",
    }


def _renamed_context(tmp_path: Path) -> Path:
    """Today's Zephyr with ``ZephyrContext`` renamed (a future release outside the range)."""
    src = tmp_path / "future"
    shutil.copytree(
        installed_zephyr_dir(), src / "zephyr", ignore=shutil.ignore_patterns("__pycache__")
    )
    context = src / "zephyr" / "context.py"
    context.write_text(context.read_text().replace("ZephyrContext", "ZephyrSession"))
    return src


def test_a_zephyr_outside_the_supported_api_is_named_with_the_range(tmp_path):
    src = _renamed_context(tmp_path)
    answer = _serve_ready(src, tmp_path)
    assert answer["ready"] is False
    assert "zephyr.context.ZephyrContext" in answer["error"]
    assert zephyr_api.SUPPORTED_RANGE in answer["error"]
    assert "ImportError" not in answer["error"].split("first import error")[0]

    probe = zephyr_api.probe_zephyr_api(sys.executable, str(src))
    assert not probe.ok and probe.missing == ("zephyr.context.ZephyrContext",)
    assert probe.version and zephyr_api.SUPPORTED_RANGE in probe.detail
    good = zephyr_api.probe_zephyr_api(sys.executable, str(installed_zephyr_dir().parent))
    assert good.ok and good.missing == () and good.version == answer_version()


def answer_version() -> str:
    from importlib.metadata import version

    return version("marin-zephyr")


def test_the_probe_reports_a_broken_environment_instead_of_raising(tmp_path):
    missing = zephyr_api.probe_zephyr_api(str(tmp_path / "no-python"))
    assert not missing.ok and missing.version is None and "cannot run" in missing.detail
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 'Fatal Python error: init' >&2\nexit 1\n")
    script.chmod(0o755)
    crashed = zephyr_api.probe_zephyr_api(str(script))
    assert not crashed.ok and "exit 1" in crashed.detail and "Fatal Python error" in crashed.detail
    hung = zephyr_api.probe_zephyr_api(sys.executable, timeout_s=0.001)
    assert not hung.ok and "cannot run" in hung.detail


def test_local_ab_stops_before_timing_with_exit_4_outside_the_supported_api(tmp_path):
    """`perfgate local-ab` on a repository whose Zephyr renamed ZephyrContext: exit 4,
    the missing name and the supported range, no pairs, no raw ImportError."""
    box = build_sandbox(
        tmp_path / "repo", COMMENT_ONLY, zephyr_dir=_renamed_context(tmp_path) / "zephyr"
    )
    out = tmp_path / "out"
    proc = perfgate(
        "local-ab", "--checkout", box.path, "--head", box.head, "--env", "kit",
        "--metric", "cpu", "--docs", "10", "--out", str(out), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "zephyr.context.ZephyrContext" in text and zephyr_api.SUPPORTED_RANGE in text
    assert "cannot import name 'ZephyrContext'" not in text
    assert not (out / "ab" / "pairs.json").exists()


def test_assess_calls_a_comment_only_edit_of_pep_695_code_trivial(tmp_path):
    """Issue 28, item 2: the kit parses today's Zephyr (``def _read_input[T](...)``)."""
    plan = PLAN_0_2_227.read_text()
    assert "def _read_input[T](" in plan
    compile(plan, "plan.py", "exec")  # the kit's interpreter parses PEP 695 syntax
    repo = MarinRepo(tmp_path / "repo")
    repo.root.mkdir()
    repo.git("init", "-q")
    repo.write(f"{ZSRC}/plan.py", plan, dedent=False)
    repo.commit("marin-zephyr 0.2.227 plan.py")
    repo.branch("feature")
    repo.edit(f"{ZSRC}/plan.py", "def _read_input[T](", "# One input file.\ndef _read_input[T](")
    repo.commit("comment")
    code, out, _ = perfgate_here(
        "assess", "--checkout", str(repo.root), "--base", "main", "--head", "feature", "--json"
    )
    assert code == 0
    data = json.loads(out)
    row = data["per_file"][f"{ZSRC}/plan.py"]
    assert row["trivial"] is True and data["max_gate"] == "skip", row
    assert "cannot parse" not in json.dumps(data)


def _local_ab(box, out: Path) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """`perfgate local-ab` with the smallest settings that decide; (proc, ab, verdict)."""
    proc = perfgate(
        "local-ab", "--checkout", box.path, "--head", box.head, "--docs", "20",
        "--max-pairs", "6", "--out", str(out), timeout=GATE0_HANG_S,
    )  # fmt: skip
    ab = json.loads((out / "ab" / "ab.json").read_text()) if (out / "ab/ab.json").is_file() else {}
    verdict_file = out / "verdict.json"
    verdict = json.loads(verdict_file.read_text()) if verdict_file.is_file() else {}
    return proc, ab, verdict


def _assert_own_environments(ab: dict, version: str) -> None:
    for side in ("control", "treatment"):
        info = ab["sides"][side]
        assert info["mode"] == "uv", info
        assert info["versions"]["marin-zephyr"] == version
        assert info["versions"]["marin-fray"] == version  # the release's own pin


@pytest.mark.slow
def test_gate0_passes_a_comment_only_change_counting_both_sides_at_once(tmp_path):
    """The newest release, Zephyr's code unchanged: an A/A of the shipped metric. Every
    stage of every pair carries a count from both sides, one process per side measured
    every pair, both sides at once, and each call follows its interval (what the method
    guarantees; the counts are measurements). The oldest release's unchanged stages are
    held to pass by the slowdown test below, so this run is not repeated there."""
    version = GATE0_RELEASES[-1]
    box = release_checkout(version, tmp_path / "repo", COMMENT_ONLY)
    out = tmp_path / "out"
    proc, ab, verdict = _local_ab(box, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert verdict["verdict"] == "pass"
    _assert_own_environments(ab, version)
    pairs = json.loads((out / "ab" / "pairs.json").read_text())
    assert len(pairs) == 6
    stages = [s["stage"] for s in verdict["stages"]]
    for side in ("control", "treatment"):
        assert len({p["pids"][side] for p in pairs}) == 1
        assert all(p[side][s]["instructions"] > 0 for p in pairs for s in stages)
    assert {p["first"][stages[0]] for p in pairs} == {"both at once"}
    assert ab["order"].startswith("both sides at once")
    assert "paired instruction counts with a 95%" in ab["method"]
    paired = pd.read_csv(out / "ab" / "paired.csv")
    assert set(paired["metric"]) == {"instructions"} and len(paired) == len(stages) + 1
    for row in paired.to_dict("records"):
        assert row["low"] <= row["ratio"] <= row["high"]
        assert row["call"] == band_call(row_interval(row), 5.0, 10.0)
    assert "callgrind" in (out / "comment.md").read_text()
    assert worktrees(box.path) == [f"worktree {Path(box.path).resolve()}"]


@pytest.mark.slow
@pytest.mark.parametrize("version", GATE0_RELEASES)
def test_gate0_fails_a_planted_scatter_slowdown_in_the_shuffling_stage(version, tmp_path):
    box = release_checkout(version, tmp_path / "repo", ROUTE_HASH)
    proc, ab, verdict = _local_ab(box, tmp_path / "out")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    stages = {s["stage"]: s["verdict"] for s in verdict["stages"]}
    assert stages.pop("fuzzy_dups") == "fail", stages
    assert set(stages.values()) == {"pass"}, stages  # the unchanged stages are decided
    _assert_own_environments(ab, version)
    if version == GATE0_RELEASES[-1]:  # the release has the cluster's subprocess path
        assert any("SubprocessRunner" in line for line in ab["limitations"])
        assert "zephyr.shard_subprocess" in (tmp_path / "out" / "comment.md").read_text()


def _ab_result(cluster: str | None):
    """A gate-0 result of 6 identical pairs whose sides report ``cluster`` as the runner a
    cluster would use (as the ferry's identity does)."""
    from perfgate_lib.local import ab as local

    row = {"wall_s": 1.0, "cpu_s": 1.0, "instructions": 10**9, "peak_mb": 200.0}
    row |= {"tasks": 8, "records_out": 10}
    stages = ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")
    pairs = [
        {
            "pair": i,
            "control": {s: dict(row) for s in stages},
            "treatment": {s: dict(row) for s in stages},
            "first": {s: "control" for s in stages},
        }
        for i in range(1, 7)
    ]
    paths = {"mini_ferry": "InlineRunner", "cluster": cluster}
    sides = {side: {"identity": {"execution_paths": paths}} for side in ("control", "treatment")}
    return local.summarize_pairs(
        pairs, ab_id="ab-test", control_sha="a" * 40, treatment_sha="b" * 40, sides=sides
    )


def test_the_comment_says_what_the_mini_ferry_cannot_see():
    """Issue 28, item 2: the cluster runs each shard in a subprocess; the mini ferry does
    not, and gate 0's note says so (ab.json's ``limitations``, the comment's notes)."""
    result = _ab_result("SubprocessRunner")
    (line,) = result.limitations
    assert "zephyr.shard_subprocess" in line and "InlineRunner" in line and "Gate 1" in line
    assert f"Not measured here: {md_rich(line)}." in render("_ab_notes", ab=result.facts())
    assert _ab_result(None).limitations == []
    assert "Not measured" not in render("_ab_notes", ab=_ab_result(None).facts())
