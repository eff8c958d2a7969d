"""The canonical comment: golden shape, escaping, size budget, halt and waiver."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.assess.render import render_assessment_table
from perfgate_lib.mdtext import fmt_age, fmt_duration, md_code, md_escape, md_fence
from perfgate_lib.verdict.render import (
    MAX_COMMENT_CHARS,
    CommentExtras,
    render_comment,
    render_halt,
)
from perfgate_lib.verdict.report import parse_report
from perfgate_lib.verdict.rules import GateContext, decide
from perfgate_lib.verdict.thresholds import load_thresholds
from tests.render_cases import ASSESSMENT, TIER, example_pair


def test_golden_comment(fixtures_dir):
    base, treat, verdict = example_pair()
    body = render_comment(
        verdict, base, treat, assessment_md=render_assessment_table(ASSESSMENT), tier_name=TIER
    )
    assert body == (fixtures_dir / "golden" / "comment_tier1_fail.md").read_text()


def test_sections_in_the_skill_order():
    base, treat, verdict = example_pair()
    body = render_comment(
        verdict, base, treat, assessment_md=render_assessment_table(ASSESSMENT), tier_name=TIER
    )
    lines = body.splitlines()
    assert lines[0] == SENTINEL
    assert lines[1] == "🤖 ## Zephyr perf gate — Gate 1 (smoke)"
    order = [
        "**Verdict:** ❌ fail",
        "**Baseline:** scheduled run [#19876543210]",
        "**Hard fails:**",
        "### Diff assessment",
        "### Run summary",
        "### Stage timings",
        "### Infra",
        "<details><summary>Raw treatment report</summary>",
    ]
    positions = [body.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "**Warns:**" not in body  # omitted when none
    assert "| minhash | 6m 50s | 7m 52s | +15.1% | ❌ |" in body


def test_durations_and_ages():
    assert fmt_duration(845) == "14m 05s"
    assert fmt_duration(12) == "12s"
    assert fmt_duration(3723) == "1h 02m 03s"
    assert fmt_duration(0.42) == "0.4s"
    assert fmt_age(5.2) == "5h 12m"
    assert fmt_age(24) == "24h"
    assert fmt_age(200) == "8d 8h"


def _verdict_for(base_raw, treat_raw, **ctx):
    base = parse_report(base_raw, "b")
    treat = parse_report(treat_raw, "t")
    ctx.setdefault("treatment_ferry_module", "experiments.ferries.datakit_ferry")
    return base, treat, decide(base, treat, load_thresholds(), GateContext(**ctx))


def test_cached_stage_dash_and_footnote():
    b = {
        "iris_job_id": "a",
        "wall_seconds_total": 10,
        "stage_wall_seconds": {"download": 0.0, "x": 5.0},
        "cached_steps": ["download"],
    }
    t = {
        "iris_job_id": "b",
        "wall_seconds_total": 10,
        "stage_wall_seconds": {"download": 30.0, "x": 5.0},
    }
    base, treat, verdict = _verdict_for(b, t)
    body = render_comment(verdict, base, treat)
    assert "| download | — | — | — | — ¹ |" in body
    assert "¹ Cached step" in body


def test_stale_baseline_called_out():
    base, treat, verdict = _verdict_for(
        {"iris_job_id": "a", "wall_seconds_total": 1},
        {"iris_job_id": "b", "wall_seconds_total": 1},
        gate=1,
        baseline={"age_hours": 60},
    )
    body = render_comment(verdict, base, treat)
    assert "⚠ **Stale baseline:** 2d 12h old (tier limit 24h)" in body


def test_untrusted_strings_are_escaped():
    evil_stage = "a|b`c<img src=x onerror=alert(1)>@octocat [x](http://e)"
    b = {"iris_job_id": "x|y`", "wall_seconds_total": 1, "stage_wall_seconds": {evil_stage: 1.0}}
    t = {
        "iris_job_id": "z",
        "wall_seconds_total": 1,
        "stage_wall_seconds": {evil_stage: 1.0},
        "status": "ok</details>",
    }
    assessment = copy.deepcopy(ASSESSMENT)
    assessment["per_file"] = {
        "lib/zephyr/src/zephyr/a|`b`.py": {
            **dict.fromkeys(("trivial", "shuffle", "memory", "cpu", "design"), False),
            "summary": "@team please <b>look</b>",
        }
    }
    base, treat, verdict = _verdict_for(b, t)
    body = render_comment(verdict, base, treat, assessment_md=render_assessment_table(assessment))
    table_part = body.split("<details><summary>Raw")[0]
    assert "<img" not in table_part and "@octocat" not in table_part and "@team" not in table_part
    assert "&#64;octocat" in table_part
    assert "a&#124;b&#96;c&lt;img" in table_part
    assert "\\[x\\]" in table_part
    assert "<b>" not in table_part
    # each stage row keeps exactly six cell separators
    row = next(line for line in table_part.splitlines() if "octocat" in line)
    assert row.count("|") == 6


def test_md_helpers():
    assert md_escape("a|b") == "a&#124;b"
    assert md_code("x`y") == "``x`y``"
    fence = md_fence("```\nnot closed")
    assert fence.startswith("````") and fence.endswith("````")


def test_raw_report_fence_cannot_be_broken():
    b = {"iris_job_id": "a", "wall_seconds_total": 1}
    t = {"iris_job_id": "b", "wall_seconds_total": 1, "warnings": ["```\n</details>\n@all"]}
    base, treat, verdict = _verdict_for(b, t)
    body = render_comment(verdict, base, treat)
    raw = body.split("<details><summary>Raw treatment report</summary>")[1]
    assert raw.lstrip().startswith("````json")


def test_oversized_comment_drops_raw_report_first():
    base, treat, verdict = example_pair()
    big_raw = dict(treat.raw, warnings=["x" * 80_000])
    treat = dataclasses.replace(treat, raw=big_raw)
    body = render_comment(verdict, base, treat, assessment_md=render_assessment_table(ASSESSMENT))
    assert len(body) <= MAX_COMMENT_CHARS
    assert "Raw treatment report omitted" in body
    assert "### Diff assessment" in body


def test_oversized_everything_is_cut_with_a_note():
    base, treat, verdict = example_pair()
    extras = CommentExtras(sections=[("### Huge", "y" * 100_000)])
    body = render_comment(
        verdict, base, treat, assessment_md=render_assessment_table(ASSESSMENT), extras=extras
    )
    assert len(body) <= MAX_COMMENT_CHARS
    assert body.startswith(SENTINEL)
    assert "comment cut" in body


def test_stage_context_column():
    base, treat, verdict = example_pair()
    body = render_comment(
        verdict, base, treat, extras=CommentExtras(stage_context={"minhash": "±3.1% (n=14)"})
    )
    assert "| Stage | Baseline | Treatment | Δ | Verdict | Recent baseline spread |" in body
    assert "| minhash | 6m 50s | 7m 52s | +15.1% | ❌ | ±3.1% (n=14) |" in body


def test_halt_comment():
    body = render_halt(
        "abc1234", "uv run pytest lib/zephyr/tests/", "FAILED test_x - assert 1 == 2"
    )
    assert body.startswith(SENTINEL + "\n🤖 ## Zephyr perf gate — halted (local tests failed)")
    assert "Ferries were not submitted." in body
    assert "FAILED test_x" in body


# --- Mermaid chart and attribution (issue 8) ---------------------------------------------


def _many_stage_verdict(n):
    stages_b = {f'stage{i:02d}-Map → Scatter|`x`"y': 100.0 + i for i in range(n)}
    stages_t = {k: v * 1.02 for k, v in stages_b.items()}
    b = {
        "iris_job_id": "a",
        "wall_seconds_total": sum(stages_b.values()),
        "stage_wall_seconds": stages_b,
    }
    t = {
        "iris_job_id": "b",
        "wall_seconds_total": sum(stages_t.values()),
        "stage_wall_seconds": stages_t,
    }
    return _verdict_for(b, t)


def test_mermaid_block_valid_and_small_for_40_stages():
    from perfgate_lib.verdict.render import stage_xychart

    base, treat, verdict = _many_stage_verdict(40)
    block = stage_xychart(verdict)
    lines = block.splitlines()
    assert lines[0] == "```mermaid" and lines[-1] == "```" and lines[1] == "xychart-beta"
    x_axis = next(line for line in lines if line.strip().startswith("x-axis"))
    labels = x_axis.split("[", 1)[1].rsplit("]", 1)[0]
    assert labels.count('"') == 80  # 40 quoted labels, no stray quotes
    assert "`" not in "\n".join(lines[1:-1]) and "|" not in x_axis
    bar = next(line for line in lines if line.strip().startswith("bar"))
    line_series = next(line for line in lines if line.strip().startswith("line"))
    assert len(bar.split(",")) == len(line_series.split(",")) == 40
    assert len(block) < 3000
    body = render_comment(verdict, base, treat)
    assert len(body) <= MAX_COMMENT_CHARS and block in body


def test_attribution_shares_when_stages_add_up():
    from perfgate_lib.verdict.attribution import attribute

    _, _, verdict = _many_stage_verdict(3)
    attr = attribute(verdict)
    assert attr.accounted is True and attr.layout == "sequential"
    assert abs(sum(s.share_pct for s in attr.shares) - 100) < 1e-6


def test_attribution_says_when_stages_overlap():
    from perfgate_lib.verdict.attribution import attribute

    b = {
        "iris_job_id": "a",
        "wall_seconds_total": 100.0,
        "stage_wall_seconds": {"a": 90.0, "b": 80.0},
    }
    t = {
        "iris_job_id": "b",
        "wall_seconds_total": 104.0,
        "stage_wall_seconds": {"a": 99.0, "b": 88.0},
    }
    _, _, verdict = _verdict_for(b, t)
    attr = attribute(verdict)
    assert attr.layout == "overlapping" and attr.accounted is False
    assert "overlap or run in parallel" in attr.summary


def test_example_attribution_names_time_outside_stages():
    base, treat, verdict = example_pair()
    body = render_comment(verdict, base, treat)
    assert "| minhash | +62.0s | 94% |" in body
    assert "time outside them" in body


def test_docs_example_is_the_golden_comment(fixtures_dir):
    """docs/comment.md shows reviewers the real output (the golden comment, raw report folded
    away)."""
    from tests.conftest import REPO_ROOT

    golden = (fixtures_dir / "golden" / "comment_tier1_fail.md").read_text()
    shown = golden.split("<details><summary>Raw treatment report</summary>")[0].rstrip()
    assert shown.removeprefix(SENTINEL + "\n") in (REPO_ROOT / "docs" / "comment.md").read_text()


# --- attribution when the total's change is inside the noise (issue 15) ------------------


def _attribution_section(body):
    return body.split("### Attribution", 1)[1].split("\n### ", 1)[0]


def _two_stage_reports(total_b, total_t, stages_b, stages_t):
    b = {"iris_job_id": "a", "wall_seconds_total": total_b, "stage_wall_seconds": stages_b}
    t = {"iris_job_id": "b", "wall_seconds_total": total_t, "stage_wall_seconds": stages_t}
    return b, t


def test_no_shares_when_the_total_barely_moved():
    from perfgate_lib.verdict.attribution import attribute

    # total +4 s of 1000 s (0.4%, pass); stage deltas -10 s and +14 s would be -250% / 350%
    b, t = _two_stage_reports(1000.0, 1004.0, {"a": 500.0, "b": 400.0}, {"a": 490.0, "b": 414.0})
    base, treat, verdict = _verdict_for(b, t)
    wall = next(s for s in verdict.signals if s.signal == "wall_seconds_total")
    assert wall.verdict == "pass"
    attr = attribute(verdict)
    assert attr.within_noise is True
    assert [(s.stage, s.delta_s, s.share_pct) for s in attr.shares] == [
        ("b", 14.0, None),
        ("a", -10.0, None),
    ]
    section = _attribution_section(render_comment(verdict, base, treat))
    assert "| b | +14.0s | — † |" in section and "| a | -10.0s | — † |" in section
    assert "† total change within noise: shares not meaningful (+4.0s)." in section
    assert "%" not in section


def test_shares_kept_when_a_passing_total_moved_more_than_one_percent():
    from perfgate_lib.verdict.attribution import attribute

    # +20 s of 1000 s (2%): inside the 5% pass band but not tiny, so shares are meaningful
    b, t = _two_stage_reports(1000.0, 1020.0, {"a": 500.0, "b": 400.0}, {"a": 505.0, "b": 415.0})
    base, treat, verdict = _verdict_for(b, t)
    attr = attribute(verdict)
    assert attr.within_noise is False
    assert [(s.stage, s.share_pct) for s in attr.shares] == [("b", 75.0), ("a", 25.0)]
    section = _attribution_section(render_comment(verdict, base, treat))
    assert "| b | +15.0s | 75% |" in section and "shares not meaningful" not in section


def test_sub_second_total_change_of_a_short_run_is_noise():
    from perfgate_lib.verdict.attribution import attribute

    # +0.8 s of 50 s is 1.6% (above 1%) but below the one-second resolution
    b, t = _two_stage_reports(50.0, 50.8, {"a": 20.0, "b": 20.0}, {"a": 19.7, "b": 20.5})
    _, _, verdict = _verdict_for(b, t)
    attr = attribute(verdict)
    assert attr.within_noise is True and all(s.share_pct is None for s in attr.shares)
    assert [round(s.delta_s, 6) for s in attr.shares] == [0.5, -0.3]


def test_total_marked_within_noise_by_the_caller_has_no_shares():
    from perfgate_lib.verdict.attribution import attribute

    # +15% would fail; the local A/B measured it inside its run-to-run noise (warn)
    b, t = _two_stage_reports(100.0, 115.0, {"a": 50.0, "b": 40.0}, {"a": 60.0, "b": 44.0})
    base, treat, verdict = _verdict_for(
        b, t, within_noise={"wall_seconds_total": "±20% over 5 repeats"}
    )
    wall = next(s for s in verdict.signals if s.signal == "wall_seconds_total")
    assert wall.verdict == "warn" and wall.note.startswith("within noise")
    assert attribute(verdict).within_noise is True
    assert "shares not meaningful" in _attribution_section(render_comment(verdict, base, treat))
    # the same reports without the caller's note: a flagged total keeps its shares
    _, _, plain = _verdict_for(b, t)
    assert attribute(plain).within_noise is False
    assert attribute(plain, total_within_noise_marked=True).within_noise is True


# --- gate 0: each figure says what it measures, every delta from its figures (issue 30) ---

GATE0_STAGES = ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")


def _gate0_pairs(n: int, slow_instr: dict, slow_wall: dict) -> list[dict]:
    """n pairs; instruction counts and wall times slowed by different factors, so that a
    figure of one metric beside a delta of the other shows."""
    import random

    rng = random.Random(7)
    size = {"fuzzy_dups": 200e6}
    pairs = []
    for i in range(1, n + 1):
        pair = {"pair": i, "control": {}, "treatment": {}, "first": {}}
        for stage in GATE0_STAGES:
            count = size.get(stage, 50e6)
            for side, f_i, f_w in (
                ("control", 1.0, 1.0),
                ("treatment", slow_instr.get(stage, 1.0), slow_wall.get(stage, 1.0)),
            ):
                pair[side][stage] = {
                    "instructions": round(count * f_i * rng.uniform(0.999, 1.001)),
                    "wall_s": count / 1e7 * f_w * rng.uniform(0.9, 1.1),
                    "cpu_s": count / 1e7 * f_w * rng.uniform(0.95, 1.05),
                    "peak_mb": 200.0 + rng.uniform(0, 4),
                    "tasks": 4,
                    "records_out": 10,
                }
            pair["first"][stage] = "both at once"
        pairs.append(pair)
    return pairs


def _gate0_compare(tmp_path, pairs):
    from perfgate_lib.local.ab import summarize_pairs, write_outputs
    from perfgate_lib.local.corpus import CorpusSpec
    from perfgate_lib.verdict.compare import run_compare

    ab = tmp_path / "ab"
    ab.mkdir()
    result = summarize_pairs(
        pairs, ab_id="ab-t", control_sha="a" * 40, treatment_sha="b" * 40, out_dir=str(ab)
    )
    write_outputs(result, CorpusSpec(docs=10))
    compared = run_compare(
        str(ab / "control-report.json"),
        str(ab / "treatment-report.json"),
        gate=0,
        out_dir=str(tmp_path),
        context=str(ab / "compare_context.json"),
    )
    return result, compared


def test_gate0_comment_verdict_csv_and_charts_agree_on_what_they_measure(tmp_path):
    from perfgate_lib.verdict import charts
    from perfgate_lib.verdict.measured import metric_view
    from tests.render_cases import (
        chart_label_problems,
        delta_problems,
        paired_csv_problems,
        verdict_json_problems,
    )

    pairs = _gate0_pairs(8, {"fuzzy_dups": 1.5}, {"fuzzy_dups": 2.0})
    _result, compared = _gate0_compare(tmp_path, pairs)
    body = (tmp_path / "comment.md").read_text()
    data = json.loads((tmp_path / "verdict.json").read_text())

    assert data["gate"] == 0 and data["verdict"] == "fail"
    assert data["baseline"]["max_age_hours"] is None and data["baseline"]["stale"] is False
    assert "Gate 0" in body.splitlines()[1]
    names = [s["signal"] for s in data["signals"]]
    assert "instructions_total" in names
    wall = next(s for s in data["signals"] if s["signal"] == "wall_seconds_total")
    assert wall["verdict"] == "n/a" and "instructions_total" in wall["note"]
    lines = data["hard_fails"] + data["warns"] + data["inconclusive_reasons"]
    assert any(line.startswith("instructions_total:") for line in lines)
    assert not any(line.startswith("wall_seconds_total") for line in lines)

    checked, problems = delta_problems(body)
    assert problems == [] and checked >= 12, problems
    assert verdict_json_problems(data) == []
    fuzzy = next(s for s in data["stages"] if s["stage"] == "fuzzy_dups")
    assert 49 < fuzzy["instructions_delta_pct"] < 51, "counts: +50%"
    assert fuzzy["delta_pct"] > 60, "wall time (about +100%), beside the wall figures"
    row = next(line for line in body.splitlines() if line.startswith("| fuzzy\\_dups |"))
    assert " instr | " in row and "(+" in row.split("|")[-2], row  # counts, then wall with Δ
    attribution = body.split("### Attribution")[1].split("###")[0]
    assert "| Stage | Δ instructions | Share of total Δ |" in attribution
    assert "account for the total's" in attribution and " instr)" in attribution

    rows = pd.read_csv(tmp_path / "ab" / "paired.csv").to_dict("records")
    assert not any(c.endswith("_median_s") for c in rows[0]), "a column says its metric"
    assert {"control_instructions", "treatment_instructions", "control_wall_s"} <= set(rows[0])
    assert paired_csv_problems(rows) == []
    by_stage = {r["stage"]: r for r in rows}
    assert fuzzy["baseline_instructions"] == by_stage["fuzzy_dups"]["control_instructions"]

    view = metric_view(compared.verdict, compared.measured)
    fig = charts.stage_chart(view, compared.measured.unit)
    assert chart_label_problems(fig) == []
    assert "Gate 0" in fig.axes[0].get_title() and "instructions" in fig.axes[0].get_xlabel()
    from tests.render_cases import gate0_agreement_problems

    assert gate0_agreement_problems(tmp_path)[1] == []
    summary = charts.summary_chart(view, compared.measured.unit)
    labels = [t.get_text() for t in summary.axes[0].get_yticklabels()]
    assert labels == ["total instructions", "peak worker memory"]


def test_cluster_comment_deltas_recompute_from_their_figures():
    from tests.render_cases import delta_problems, verdict_json_problems

    base, treat, verdict = example_pair()
    checked, problems = delta_problems(render_comment(verdict, base, treat, tier_name=TIER))
    assert problems == [] and checked >= 8
    assert verdict_json_problems(verdict.to_json()) == []


def test_the_delta_check_catches_a_delta_of_another_metric():
    """The issue's row: 52s -> 1m 07s printed with the instruction ratio's +14.1%."""
    from tests.render_cases import delta_problems

    table = (
        "| | Baseline | Treatment |\n|---|---|---|\n| Total wall-time | 52s | 1m 07s (+14.1%) |\n"
    )
    checked, problems = delta_problems(table)
    assert checked == 1 and problems and "+28.85%" in problems[0]


def test_summary_chart_keeps_its_axis_label_inside_the_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from perfgate_lib.verdict import charts

    _base, _treat, verdict = example_pair()
    fig = charts.summary_chart(verdict)
    FigureCanvasAgg(fig).draw()  # as savefig draws it
    label = fig.axes[0].xaxis.label.get_window_extent()
    box = fig.bbox
    assert box.x0 <= label.x0 and label.x1 <= box.x1 and box.y0 <= label.y0 and label.y1 <= box.y1


def test_compare_accepts_gate_0_without_a_staleness_limit():
    from perfgate_lib.errors import UsageError
    from perfgate_lib.verdict.compare import compare_reports
    from perfgate_lib.verdict.gates import COMPARE_GATES, check_gate

    base, treat, _ = example_pair()
    verdict = compare_reports(base, treat, gate=0, context={"baseline": {"age_hours": 500.0}})
    assert verdict.gate == 0 and verdict.baseline["stale"] is False
    assert verdict.to_json()["gate"] == 0
    assert check_gate(0, COMPARE_GATES) == 0
    with pytest.raises(UsageError, match="gate must be 0, 1, 2 or 3"):
        check_gate(4, COMPARE_GATES)
    for odd in (float("inf"), float("nan"), "1e400", True):
        with pytest.raises(UsageError, match="gate must be 1, 2 or 3"):
            check_gate(odd)


def test_a_real_gate0_run_rerendered_by_the_current_code_agrees_with_itself(tmp_path, fixtures_dir):
    """The archived ``ab/`` of one real gate-0 run (tests/fixtures/gate0_run), reloaded,
    compared and rendered by today's code: comment, verdict.json, paired.csv and charts
    agree, every printed delta from its printed figures."""
    import shutil

    from perfgate_lib.local.ab import write_outputs
    from perfgate_lib.local.corpus import CorpusSpec
    from perfgate_lib.local.reload import load_ab
    from perfgate_lib.verdict.compare import run_compare
    from tests.render_cases import gate0_agreement_problems

    shutil.copytree(fixtures_dir / "gate0_run" / "ab", tmp_path / "ab")
    result = load_ab(tmp_path)
    result.read_only = False
    write_outputs(result, CorpusSpec(docs=result.settings.docs))  # today's files from its pairs
    run_compare(
        str(tmp_path / "ab" / "control-report.json"),
        str(tmp_path / "ab" / "treatment-report.json"),
        gate=0,
        out_dir=str(tmp_path),
        context=str(tmp_path / "ab" / "compare_context.json"),
    )
    checked, problems = gate0_agreement_problems(tmp_path)
    assert problems == [] and checked >= 12, problems
    body = (tmp_path / "comment.md").read_text()
    assert "| fuzzy\\_dups | 182.5M instr | 183.2M instr | +0.4% |" in body


@pytest.mark.parametrize(
    ("baseline", "treatment"),
    [(194.451527, 194.356214), (100.0, 100.05), (100.0, 99.95), (3.0, 4.5), (1e9, 1.0000004e9)],
)
def test_stage_chart_labels_recompute_from_their_bars_at_the_rounding_edge(baseline, treatment):
    """A -0.049% change is labelled -0.0%, not -0.1% (the delta is rounded once, from the
    bars, never re-rounded from a 2-decimal figure)."""
    from perfgate_lib.verdict import charts
    from perfgate_lib.verdict.rules import StageRow, Verdict
    from tests.render_cases import chart_label_problems

    row = StageRow("fuzzy_dups", baseline, treatment, None, "pass")
    verdict = Verdict(0, "pass", [], [], [], [], [row], [], {}, {})
    fig = charts.stage_chart(verdict)
    assert chart_label_problems(fig) == []
    assert fig.axes[0].texts[0].get_text() == f"{100 * (treatment - baseline) / baseline:+.1f}%"


@pytest.mark.parametrize(
    "name", ["$\\frac{$", "$x^{$", "$\\nosuchmacro$", "a$b$c", "tab\there\x85"]
)
def test_hostile_names_are_drawn_literally_and_never_stop_the_charts(name, tmp_path):
    """A stage or function name is drawn as written: a ``$`` pair is not parsed as mathtext
    (an unparsable one used to raise inside savefig), an unprintable character is U+FFFD."""
    import warnings

    from perfgate_lib.audit.history import History
    from perfgate_lib.audit.history_charts import trend_chart
    from perfgate_lib.verdict import charts, flamegraph
    from perfgate_lib.verdict.rules import StageRow, Verdict

    shown = name.replace("\t", "\ufffd").replace("\x85", "\ufffd")
    verdict = Verdict(
        1, "fail", [], [], [], [], [StageRow(name, 1.0, 2.0, 100.0, "fail")], [], {}, {}
    )
    stacks = {(name, "inner"): 10}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph or a mathtext problem fails here
        fig = charts.stage_chart(verdict)
        assert charts.png_bytes(fig).startswith(b"\x89PNG")
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels == [shown.replace("$", "\\$")]
        flame = flamegraph.draw(stacks, stacks, f"stage {name}")
        flame.savefig(tmp_path / "flame.png")
        frames = [t.get_text() for t in flame.axes[0].texts]
        assert shown.replace("$", "\\$") in frames  # the root frame is "all"
        times = pd.DatetimeIndex(["2026-12-01", "2026-12-02", "2026-12-03"], name="time", tz="UTC")
        stages = pd.DataFrame({name: [10.0, 10.5, 10.2]}, index=times)
        trend = trend_chart(History(1, "mirror", stages, pd.DataFrame(index=times)))
        assert charts.png_bytes(trend).startswith(b"\x89PNG")
        assert trend.axes[0].get_title().startswith(shown.replace("$", "\\$"))


@pytest.mark.parametrize(
    ("baseline", "treatment"),
    [
        ({"a": 1e-300, "b": 10.0}, {"a": 1e308, "b": 10.0}),  # a +inf% change
        ({"a": 5e-324}, {"a": 1.0}),  # over a denormal baseline: +inf% too
        ({"a": 1.0, "b": 1.0}, {"a": 1.7e308, "b": 1.7e308}),  # the axis limit overflows
    ],
)
def test_huge_figures_in_a_report_never_stop_the_comparison(baseline, treatment, tmp_path):
    """Figures are finite but can be absurd (a report is written by the PR's code): the
    charts clip what they draw, so the comparison still ends in a verdict and both charts."""
    from perfgate_lib.verdict.compare import run_compare

    paths = []
    for side, stages in (("b", baseline), ("t", treatment)):
        report = {"iris_job_id": side, "status": "succeeded", "stage_wall_seconds": stages}
        report["wall_seconds_total"] = max(stages.values())
        report["peak_worker_memory_mb"] = 1.7e308 if side == "t" else 100
        report["ferry_module"] = "experiments.ferries.datakit_ferry"
        report["task_state_counts"] = {"succeeded": 3}
        (tmp_path / f"{side}.json").write_text(json.dumps(report))
        paths.append(str(tmp_path / f"{side}.json"))
    result = run_compare(*paths, out_dir=str(tmp_path / "out"))
    assert result.verdict.verdict == "fail"
    for path in result.charts.values():
        assert Path(path).read_bytes()[:4] == b"\x89PNG"


def test_an_infinite_change_is_strict_json_the_kit_reads_back(tmp_path):
    """A +inf% change (a 1e-300 s baseline) is written as strict JSON: ``delta_pct`` null,
    named under the row's ``non_finite`` ("+inf"); the kit reads its own file back with the
    figure, and the Mermaid chart's axis stays finite."""
    import math
    import re

    from perfgate_lib.verdict.compare import load_compare, run_compare

    paths = []
    for side, seconds in (("b", 1e-300), ("t", 1.7e308)):
        report = {"iris_job_id": side, "status": "succeeded", "wall_seconds_total": 20.0}
        report["stage_wall_seconds"] = {"a": seconds, "b": 10.0}
        report["ferry_module"] = "experiments.ferries.datakit_ferry"
        (tmp_path / f"{side}.json").write_text(json.dumps(report))
        paths.append(str(tmp_path / f"{side}.json"))
    result = run_compare(*paths, out_dir=str(tmp_path / "out"))

    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")

    data = json.loads((tmp_path / "out" / "verdict.json").read_text(), parse_constant=refuse)
    row = next(s for s in data["stages"] if s["stage"] == "a")
    assert row["delta_pct"] is None and row["non_finite"] == {"delta_pct": "+inf"}
    assert row["verdict"] == "fail"
    again = load_compare(str(tmp_path / "out"))
    assert again.verdict.stages[0].delta_pct == math.inf
    assert again.verdict.stages == result.verdict.stages
    axis = re.search(r'y-axis "seconds" 0 --> (\S+)', result.comment)
    assert axis and math.isfinite(float(axis.group(1))), axis
    assert "inf" not in result.comment.split("```mermaid")[1].split("```")[0]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1]",
        '{"verdict": "pass", "gate": "one"}',
        '{"verdict": "pass", "stages": [1]}',
        '{"verdict": "pass", "signals": [{"signal": "x"}]}',
        '{"verdict": "pass", "decision_metric": {"metric": "wall"}, "stages": [7]}',
        "[" * 100_000,
    ],
)
def test_a_damaged_verdict_json_is_a_usage_error_naming_it(tmp_path, text):
    from perfgate_lib.errors import UsageError
    from perfgate_lib.verdict.compare import load_compare

    (tmp_path / "verdict.json").write_text(text)
    with pytest.raises(UsageError, match=f"^{tmp_path / 'verdict.json'}: "):
        load_compare(str(tmp_path))


def test_the_stage_chart_of_two_reports_of_many_stages_stays_a_bounded_image():
    """Two reports within report_max_stages (2000 each) whose names all differ give up to
    4000 rows; the chart grew 0.55 inches a row (4000 rows: 220,000 pixels, 1 GB to draw).
    400 rows here would be 22,120 pixels tall uncapped."""
    from perfgate_lib.verdict import charts
    from perfgate_lib.verdict.rules import StageRow, Verdict

    rows = [StageRow(f"{side}{i}", 10.0, 10.0, None, "n/a") for side in "bt" for i in range(200)]
    fig = charts.stage_chart(Verdict(1, "inconclusive", [], [], [], [], rows, [], {}, {}))
    width, height = fig.get_size_inches() * fig.dpi
    assert height <= charts.MAX_CHART_PIXELS and width <= charts.MAX_CHART_PIXELS
