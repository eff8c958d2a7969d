"""PR comment markdown: the canonical verdict comment, the halt and the waiver comment.

Every comment starts with the sentinel so re-runs replace it (the waiver comment is
``assess.render.render_waiver_comment``). Untrusted strings are
escaped (:mod:`perfgate_lib.mdtext`). Bodies never exceed GitHub's 65,536 characters:
the raw treatment report is dropped first (and the comment says so), then the
assessment evidence, then the body is cut with a note. Bodies are redacted
(:func:`perfgate_lib.io.redaction.redact`) before they are measured or cut, so a secret in a
report, a log line or a title never reaches the comment, not even half of one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from perfgate_lib import MAX_COMMENT_CHARS, SENTINEL
from perfgate_lib.io.redaction import redact
from perfgate_lib.mdtext import (
    fmt_age,
    fmt_counts,
    fmt_duration,
    fmt_number,
    fmt_pct,
    md_code,
    md_escape,
    md_fence,
)
from perfgate_lib.verdict.attribution import attribute, attribution_markdown
from perfgate_lib.verdict.measured import Measured, fmt_seconds, metric_view
from perfgate_lib.verdict.mermaid import stage_xychart
from perfgate_lib.verdict.report import PerfReport
from perfgate_lib.verdict.rules import Verdict

VERDICT_BADGES = {
    "pass": "✅ pass",
    "warn": "⚠ warn",
    "inconclusive": "⚠ inconclusive",
    "fail": "❌ fail",
}
ROW_ICONS = {
    "pass": "✅",
    "warn": "⚠",
    "fail": "❌",
    "n/a": "n/a",
    "not_comparable": "not comparable",
    "cached": "— ¹",
    "undecided": "❔ undecided",
    "not_finished": "not finished ²",
}


@dataclass
class CommentExtras:
    """Optional sections a caller adds to the verdict comment.

    ``stage_context``: stage -> short text shown in an extra column (noise context),
    titled ``stage_context_title``. ``sections``: (title, markdown) pairs rendered after
    the stage table (charts, failure evidence); their markdown must already be safe.
    ``top_notes``: trusted lines shown under the verdict (e.g. what the ladder did).
    ``title``: the heading after "Zephyr perf gate —" when it is not a cluster gate.
    ``measured``: gate 0's decision metric; its comment shows that metric's figures
    (:func:`gate0_sections`) beside wall time, each with its own delta.
    """

    stage_context: dict[str, str] = field(default_factory=dict)
    stage_context_title: str = "Recent baseline spread"
    sections: list[tuple[str, str]] = field(default_factory=list)
    top_notes: list[str] = field(default_factory=list)
    run_link: str | None = None
    title: str | None = None  # replaces "Gate <N> (<tier name>)", e.g. for a local A/B
    measured: Measured | None = None


def gate_title(gate: int | str, tier_name: str | None = None) -> str:
    """``Gate 1 (smoke)``; the tier name comes from ``parameters/gate<N>.yaml``."""
    return f"Gate {gate} ({md_escape(tier_name)})" if tier_name else f"Gate {gate}"


def baseline_line(prov: Mapping[str, Any]) -> str:
    """``**Baseline:** scheduled run [#id](url), sha=`abc1234`, age=5h 12m``."""
    run_id, url = prov.get("run_id"), prov.get("run_url")
    source = prov.get("source") or "file"
    if run_id and url:
        run = f"scheduled run [#{md_escape(run_id)}]({md_escape(url)})"
    elif run_id:
        run = f"scheduled run #{md_escape(run_id)}"
    else:
        run = f"report from {md_escape(source)}"
    if source == "gcs-mirror":
        run += " (from the GCS mirror)"
    sha = prov.get("sha")
    parts = [run, f"sha={md_code(str(sha)[:12])}" if sha else "sha=unknown"]
    parts.append(f"age={fmt_age(prov.get('age_hours'))}")
    line = "**Baseline:** " + ", ".join(parts)
    if prov.get("stale"):
        limit = prov.get("max_age_hours")
        line += (
            f"\n\n> ⚠ **Stale baseline:** {fmt_age(prov.get('age_hours'))} old "
            f"(tier limit {fmt_age(limit)}). The verdict stands; weigh it with the age in mind."
        )
    return line


def _run_summary(v: Verdict, base: PerfReport, treat: PerfReport) -> str:
    wall = next(s for s in v.signals if s.signal == "wall_seconds_total")
    mem = next(s for s in v.signals if s.signal == "peak_worker_memory_mb")
    wall_delta = f" ({fmt_pct(wall.delta_pct)})" if wall.delta_pct is not None else ""
    mem_delta = f" ({fmt_pct(mem.delta_pct)})" if mem.delta_pct is not None else ""
    status_b = md_escape(base.status or "unknown")
    status_t = md_escape(treat.status or v.treatment.get("job_state") or "unknown")
    return "\n".join(
        [
            "| | Baseline | Treatment |",
            "|---|---|---|",
            f"| Iris job | {md_code(base.iris_job_id or '?')} | {md_code(treat.iris_job_id or '?')} |",
            f"| Status | {status_b} | {status_t} |",
            f"| Total wall-time | {fmt_duration(wall.baseline)} | {fmt_duration(wall.treatment)}{wall_delta} |",
            f"| Peak worker memory (MB) | {_mem(base)} | {_mem(treat)}{mem_delta} |",
        ]
    )


def _mem(report: PerfReport) -> str:
    return "unknown" if report.peak_memory_mb is None else fmt_number(report.peak_memory_mb)


def _stage_table(v: Verdict, extras: CommentExtras) -> str:
    ctx = extras.stage_context
    header = "| Stage | Baseline | Treatment | Δ | Verdict |"
    rule = "|---|---|---|---|---|"
    if ctx:
        header += f" {md_escape(extras.stage_context_title)} |"
        rule += "---|"
    lines = [header, rule]
    for row in v.stages:
        cached = row.verdict == "cached"
        b = "—" if cached else fmt_duration(row.baseline_s)
        t = "—" if cached or row.verdict == "not_finished" else fmt_duration(row.treatment_s)
        line = (
            f"| {md_escape(row.stage)} | {b} | {t} | {fmt_pct(row.delta_pct)} | "
            f"{ROW_ICONS.get(row.verdict, row.verdict)} |"
        )
        if ctx:
            line += f" {md_escape(ctx.get(row.stage, ''))} |"
        lines.append(line)
    if not v.stages:
        lines.append("| (no stages reported) | | | | |" + (" |" if ctx else ""))
    notes = []
    if any(r.verdict == "cached" for r in v.stages):
        hits = [md_escape(f"{r.stage} ({r.note})") for r in v.stages if r.verdict == "cached"]
        notes.append(
            "¹ Cached step (cache hit): its time is 0 and its delta meaningless, so it does not "
            "count toward the verdict: " + ", ".join(hits) + "."
        )
    unfinished = [r for r in v.stages if r.verdict == "not_finished"]
    if unfinished:
        notes.append(
            "² Not finished: the treatment did not finish the step. Either its child job "
            "did not succeed (killed, preempted or never finished; marin's child-job collector "
            "reports such a step as a cache hit), or the driver's step log has no line for it "
            "(the step-log collector leaves it out). It is not compared and makes the verdict "
            "inconclusive at least: "
            + ", ".join(md_escape(f"{r.stage} ({r.note})") for r in unfinished)
            + "."
        )
    other = [r for r in v.stages if r.verdict in ("not_comparable", "n/a")]
    if other:
        notes.append(
            "Not counted: " + "; ".join(md_escape(f"{r.stage}: {r.note}") for r in other) + "."
        )
    return "\n".join(lines) + ("\n\n" + "\n\n".join(notes) if notes else "")


def _infra_table(base: PerfReport, treat: PerfReport) -> str:
    return "\n".join(
        [
            "| | Baseline | Treatment |",
            "|---|---|---|",
            f"| Preemptions | {fmt_number(base.preemption_count)} | {fmt_number(treat.preemption_count)} |",
            f"| Failed shards | {fmt_number(base.failed_shards)} | {fmt_number(treat.failed_shards)} |",
            f"| Infra failures | {fmt_counts(base.infra_failures)} | {fmt_counts(treat.infra_failures)} |",
            f"| Task states | {fmt_counts(base.task_state_counts)} | {fmt_counts(treat.task_state_counts)} |",
        ]
    )


def _chart_and_attribution(v: Verdict) -> list[tuple[str, str]]:
    """The Mermaid stage chart and the attribution table, when there are stage times."""
    out = []
    chart = stage_xychart(v)
    if chart:
        out.append(("### Stage chart", chart))
    if any(r.verdict in ("pass", "warn", "fail") for r in v.stages):
        out.append(("### Attribution", attribution_markdown(attribute(v))))
    return out


# ---------------------------------------------------------------------------
# Gate 0 (the local A/B): the decision metric beside wall time, each with its delta.
# One function per section, so that a section can be added between them.
# ---------------------------------------------------------------------------


def _with_delta(value: str, delta_pct: float | None) -> str:
    return f"{value} ({fmt_pct(delta_pct)})" if delta_pct is not None else value


def _wall_words(measured: Measured) -> str:
    return "wall time under valgrind" if measured.unit.counts else "wall time"


def gate0_run_summary(v: Verdict, base: PerfReport, treat: PerfReport, measured: Measured) -> str:
    """Runs, status, the decision metric's total, wall time and peak memory; every
    delta is (treatment - baseline) / baseline of the two figures in its row."""
    unit = measured.unit
    lines = [
        "| | Baseline | Treatment |",
        "|---|---|---|",
        f"| Run | {md_code(base.iris_job_id or '?')} | {md_code(treat.iris_job_id or '?')} |",
        f"| Status | {md_escape(base.status or 'unknown')} | {md_escape(treat.status or 'unknown')} |",
    ]
    by_name = {s.signal: s for s in v.signals}
    total = by_name.get(unit.total)
    if total is not None and unit.total != "wall_seconds_total":
        lines.append(
            f"| Total {unit.label} (sum of the stages) | {unit.fmt(total.baseline)} | "
            f"{_with_delta(unit.fmt(total.treatment), total.delta_pct)} |"
        )
    wall = by_name.get("wall_seconds_total")
    if wall is not None:
        b = "—" if wall.baseline is None else fmt_seconds(wall.baseline)
        t = "—" if wall.treatment is None else fmt_seconds(wall.treatment)
        lines.append(
            f"| Total {_wall_words(measured)} (sum of the stages) | {b} | "
            f"{_with_delta(t, wall.delta_pct)} |"
        )
    mem = by_name.get("peak_worker_memory_mb")
    mem_delta = None if mem is None else mem.delta_pct
    lines.append(
        f"| Peak worker memory (MB) | {_mem(base)} | {_with_delta(_mem(treat), mem_delta)} |"
    )
    return "\n".join(lines)


def gate0_stage_table(v: Verdict, extras: CommentExtras) -> str:
    """One row per stage: the decision metric's medians and their delta, the verdict, the
    paired interval that decided it, and (for a count) the wall times with their delta."""
    measured = extras.measured
    assert measured is not None
    unit = measured.unit
    view = {r.stage: r for r in metric_view(v, measured).stages}
    ctx = extras.stage_context
    wall_col = unit.metric != "wall"
    header = (
        f"| Stage | Baseline ({unit.label}) | Treatment ({unit.label}) | Δ {unit.label} | Verdict |"
    )
    rule = "|---|---|---|---|---|"
    if ctx:
        header += f" {md_escape(extras.stage_context_title)} |"
        rule += "---|"
    if wall_col:
        header += f" {_wall_words(measured).capitalize()}: baseline → treatment (Δ) |"
        rule += "---|"
    lines = [header, rule]
    for row in v.stages:
        shown = view[row.stage]
        line = (
            f"| {md_escape(row.stage)} | {unit.fmt(shown.baseline_s)} | "
            f"{unit.fmt(shown.treatment_s)} | {fmt_pct(shown.delta_pct)} | "
            f"{ROW_ICONS.get(row.verdict, row.verdict)} |"
        )
        if ctx:
            line += f" {md_escape(ctx.get(row.stage, ''))} |"
        if wall_col:
            b = "—" if row.baseline_s is None else fmt_seconds(row.baseline_s)
            t = "—" if row.treatment_s is None else fmt_seconds(row.treatment_s)
            line += f" {b} → {_with_delta(t, row.delta_pct)} |"
        lines.append(line)
    if not v.stages:
        lines.append(
            "| (no stages measured) | | | | |" + (" |" if ctx else "") + (" |" if wall_col else "")
        )
    other = [r for r in v.stages if r.verdict in ("not_comparable", "n/a")]
    if other:
        lines.append("")
        lines.append(
            "Not counted: " + "; ".join(md_escape(f"{r.stage}: {r.note}") for r in other) + "."
        )
    return "\n".join(lines)


def gate0_chart_and_attribution(v: Verdict, measured: Measured) -> list[tuple[str, str]]:
    """The Mermaid chart and the attribution, both in the decision metric."""
    view = metric_view(v, measured)
    unit = measured.unit
    out = []
    chart = stage_xychart(view, unit)
    if chart:
        out.append(("### Stage chart", chart))
    if any(r.verdict in ("pass", "warn", "fail") for r in view.stages):
        out.append(("### Attribution", attribution_markdown(attribute(view, unit=unit))))
    return out


def gate0_sections(
    v: Verdict, base: PerfReport, treat: PerfReport, extras: CommentExtras
) -> list[tuple[str, str]]:
    """Gate 0's sections after the verdict, in order: run summary, stages, chart and
    attribution, then the caller's sections."""
    measured = extras.measured
    assert measured is not None
    return [
        ("### Run summary", gate0_run_summary(v, base, treat, measured)),
        (f"### Stages ({measured.unit.label})", gate0_stage_table(v, extras)),
        *gate0_chart_and_attribution(v, measured),
        *extras.sections,
    ]


# --- collector notes (docs/verdict-rules.md, "Usable reports") -----------------------------
def collector_notes_md(v: Verdict) -> str:
    """Collector warnings that did not make a report unusable, as one note block ("" if none).

    Such a warning is about a field the verdict does not use (today's non-admin
    ``iris query task_wall_ms: failed; ...``) or about a signal shown as ``n/a``."""
    return _bullets("Note (collector warnings, not counted)", v.collector_notes)


# -------------------------------------------------------------------------------------------
def _bullets(title: str, items: list[str]) -> str:
    if not items:
        return ""
    if len(items) == 1:
        return f"**{title}:** {md_escape(items[0])}"
    return f"**{title}:**\n" + "\n".join(f"- {md_escape(i)}" for i in items)


def _raw_report(treat: PerfReport) -> str:
    text = json.dumps(treat.raw, indent=2, sort_keys=False)
    return (
        "<details><summary>Raw treatment report</summary>\n\n"
        + md_fence(text, "json")
        + "\n\n</details>"
    )


def render_comment(
    verdict: Verdict,
    baseline: PerfReport,
    treatment: PerfReport,
    *,
    assessment_md: str | None = None,
    tier_name: str | None = None,
    extras: CommentExtras | None = None,
    max_chars: int = MAX_COMMENT_CHARS,
) -> str:
    """The canonical verdict comment, within ``max_chars``.

    ``assessment_md``: the "Diff assessment" section's markdown, already rendered and
    escaped (:func:`perfgate_lib.assess.render.render_assessment_table`); None for none.
    """
    extras = extras or CommentExtras()
    v = verdict
    head = [
        SENTINEL,
        f"🤖 ## Zephyr perf gate — {md_escape(extras.title) if extras.title else gate_title(v.gate, tier_name)}",
        "",
        f"**Verdict:** {VERDICT_BADGES[v.verdict]}",
        baseline_line(v.baseline),
    ]
    blocks = ["\n".join(head), *extras.top_notes]
    blocks += [
        b
        for b in (
            _bullets("Hard fails", v.hard_fails),
            _bullets("Warns", v.warns),
            _bullets("Inconclusive because", v.inconclusive_reasons),
            _bullets("Self-check", v.self_check),
            collector_notes_md(v),
        )
        if b
    ]
    if extras.run_link:
        blocks.append(f"Archived run: [executed gate notebook]({md_escape(extras.run_link)})")
    if extras.measured is not None:
        sections = gate0_sections(v, baseline, treatment, extras)
    else:
        sections = [
            ("### Run summary", _run_summary(v, baseline, treatment)),
            ("### Stage timings", _stage_table(v, extras)),
            *_chart_and_attribution(v),
            *extras.sections,
        ]
    tail_sections = [*sections, ("### Infra", _infra_table(baseline, treatment))]
    assess_block = ("### Diff assessment", assessment_md) if assessment_md else None

    def build(raw: str | None, with_assessment: bool, omitted: list[str]) -> str:
        parts = list(blocks)
        if with_assessment and assess_block:
            parts.append("\n\n".join(assess_block))
        parts += ["\n\n".join(s) for s in tail_sections]
        if raw:
            parts.append(raw)
        for what in omitted:
            parts.append(
                f"_{what} omitted to stay under GitHub's comment size limit; see the run folder._"
            )
        return redact("\n\n".join(parts) + "\n")

    body = build(_raw_report(treatment), True, [])
    if len(body) > max_chars:
        body = build(None, True, ["Raw treatment report"])
    if len(body) > max_chars and assess_block:
        body = build(None, False, ["Raw treatment report", "Diff assessment"])
    return truncate(body, max_chars)


def truncate(body: str, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """Redact, then cut a body to ``max_chars`` with a visible note (last resort)."""
    body = redact(body)
    if len(body) <= max_chars:
        return body
    note = "\n\n_…comment cut to stay under GitHub's size limit; see the run folder._\n"
    return body[: max_chars - len(note)] + note


def render_halt(
    sha: str, failed_step: str, output_tail: str = "", *, max_chars: int = MAX_COMMENT_CHARS
) -> str:
    """The skill's halt comment when local checks failed: no ferry was submitted."""
    body = "\n".join(
        [
            SENTINEL,
            "🤖 ## Zephyr perf gate — halted (local tests failed)",
            "",
            f"Treatment worktree ({md_code(sha)}) failed lint / pyrefly / zephyr tests "
            f"(failing step: {md_code(failed_step)}).",
            "Ferries were not submitted.",
            "Fix the failing tests and the gate will re-run.",
        ]
    )
    if output_tail:
        body += (
            "\n\n<details><summary>Output tail</summary>\n\n"
            + md_fence(output_tail[-6000:])
            + "\n\n</details>"
        )
    return truncate(body + "\n", max_chars)
