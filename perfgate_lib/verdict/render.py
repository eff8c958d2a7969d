"""PR comment markdown: the figures ``templates/verdict.md.j2`` and ``halted.md.j2`` show.

Untrusted strings are escaped in one place (:mod:`perfgate_lib.mdtemplate`). A body is
redacted, then kept within GitHub's 65,536 characters (``docs/comment.md``).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from perfgate_lib import MAX_COMMENT_CHARS
from perfgate_lib.io.redaction import redact
from perfgate_lib.mdtemplate import Trusted, render
from perfgate_lib.mdtext import fmt_age, fmt_counts, fmt_duration, fmt_number, fmt_pct, md_escape
from perfgate_lib.typed import FORBID_EXTRA
from perfgate_lib.verdict.abfacts import ABFacts
from perfgate_lib.verdict.attribution import attribute, attribution_markdown
from perfgate_lib.verdict.measured import SECONDS, Measured, Unit, chart_number, metric_view
from perfgate_lib.verdict.report import PerfReport
from perfgate_lib.verdict.rules import SignalRow, Verdict
from perfgate_lib.verdict.where import TITLE as WHERE_TITLE
from perfgate_lib.verdict.where import WhereFacts, where_markdown

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
    """Optional parts of the verdict comment; ``sections`` and ``top_notes`` never come
    from a context file (:func:`perfgate_lib.verdict.compare.split_context`)."""

    __pydantic_config__ = FORBID_EXTRA

    # stage -> text for an extra column titled stage_context_title
    stage_context: dict[str, str] = field(default_factory=dict)
    stage_context_title: str = "Recent baseline spread"
    # (title, safe markdown) after the stage table
    sections: list[tuple[str, str]] = field(default_factory=list)
    top_notes: list[str] = field(default_factory=list)  # trusted lines under the verdict
    run_link: str | None = None
    title: str | None = None  # replaces "Gate <N> (<tier name>)", e.g. for a local A/B
    # gate 0's decision metric, shown beside wall time with its own delta
    measured: Measured | None = None
    ab: ABFacts | None = None  # gate 0's run, for its notes (templates/_ab_notes.md.j2)
    where: WhereFacts | None = None  # gate 0's function delta (verdict/where.py)


def gate_title(gate: int | str, tier_name: str | None = None) -> str:
    """``Gate 1 (smoke)``; the tier name comes from ``parameters/gate<N>.yaml``."""
    return f"Gate {gate} ({md_escape(tier_name)})" if tier_name else f"Gate {gate}"


def baseline_line(prov: Mapping[str, Any]) -> str:
    """``**Baseline:** scheduled run [#id](url), sha=`abc1234`, age=5h 12m``, stale or not."""
    return render(
        "_baseline",
        run_id=prov.get("run_id"),
        run_url=prov.get("run_url"),
        source=prov.get("source") or "file",
        sha=prov.get("sha"),
        age=fmt_age(prov.get("age_hours")),
        stale=bool(prov.get("stale")),
        max_age=fmt_age(prov.get("max_age_hours")),
    ).rstrip("\n")


def _with_delta(value: str, delta_pct: float | None) -> str:
    return f"{value} ({fmt_pct(delta_pct)})" if delta_pct is not None else value


def _side(report: PerfReport, status: str | None) -> dict[str, Any]:
    """One side's cells of the run summary and infra tables (formatted, not escaped)."""
    return {
        "job": report.iris_job_id or "?",
        "status": status or "unknown",
        "mem": "unknown" if report.peak_memory_mb is None else fmt_number(report.peak_memory_mb),
        "preemptions": fmt_number(report.preemption_count),
        "failed_shards": fmt_number(report.failed_shards),
        "infra_failures": Trusted(fmt_counts(report.infra_failures)),
        "task_states": Trusted(fmt_counts(report.task_state_counts)),
    }


def _sides(v: Verdict, base: PerfReport, treat: PerfReport, gate0: bool) -> tuple[dict, dict]:
    """Both sides' cells; the treatment's wall time and memory carry their deltas."""
    by_name = {s.signal: s for s in v.signals}
    treat_status = treat.status if gate0 else treat.status or v.treatment.get("job_state")
    b, t = _side(base, base.status), _side(treat, treat_status)
    mem = by_name.get("peak_worker_memory_mb")
    t["mem"] = _with_delta(t["mem"], None if mem is None else mem.delta_pct)
    wall = by_name.get("wall_seconds_total")
    if wall is not None and not gate0:
        b["wall"] = fmt_duration(wall.baseline)
        t["wall"] = _with_delta(fmt_duration(wall.treatment), wall.delta_pct)
    return b, t


def _stage_notes(v: Verdict) -> dict[str, list[str]]:
    """Stages shown but not counted, as "stage (note)" / "stage: note" texts."""
    return {
        "cached": [f"{r.stage} ({r.note})" for r in v.stages if r.verdict == "cached"],
        "not_finished": [f"{r.stage} ({r.note})" for r in v.stages if r.verdict == "not_finished"],
        "not_counted": [
            f"{r.stage}: {r.note}" for r in v.stages if r.verdict in ("not_comparable", "n/a")
        ],
    }


def _gate0(v: Verdict, measured: Measured) -> dict[str, Any]:
    """Gate 0's run-summary totals, the decision metric's and wall time's, with deltas."""
    unit = measured.unit
    by_name = {s.signal: s for s in v.signals}
    total, wall = by_name.get(unit.total), by_name.get("wall_seconds_total")
    out: dict[str, Any] = {"total": None, "wall": None}
    out["wall_words"] = "wall time under valgrind" if unit.counts else "wall time"
    out["wall_column"] = unit.metric != "wall"
    if total is not None and unit.total != "wall_seconds_total":
        out["total"] = _figures(unit, total)
    if wall is not None:
        out["wall"] = _figures(SECONDS, wall)
    return out


def _figures(unit: Unit, row: SignalRow) -> dict[str, str]:
    """A whole-run row's two figures in ``unit``, the treatment's with its delta."""
    return {"b": unit.fmt(row.baseline), "t": _with_delta(unit.fmt(row.treatment), row.delta_pct)}


def _stage_cells(v: Verdict, extras: CommentExtras, measured: Measured | None) -> list[dict]:
    """The stage table's rows: wall times and delta, or for gate 0 the decision metric's
    medians and delta, then the wall times with theirs."""
    view = {r.stage: r for r in metric_view(v, measured).stages}
    rows = []
    for row in v.stages:
        cells = {
            "stage": row.stage,
            "icon": ROW_ICONS.get(row.verdict, row.verdict),
            "context": extras.stage_context.get(row.stage, ""),
            "delta": fmt_pct(view[row.stage].delta_pct),  # the row itself without a metric
        }
        if measured:
            shown, unit = view[row.stage], measured.unit
            cells["b"], cells["t"] = unit.fmt(shown.baseline_s), unit.fmt(shown.treatment_s)
            cells["wall_b"] = SECONDS.fmt(row.baseline_s)
            cells["wall_t"] = _with_delta(SECONDS.fmt(row.treatment_s), row.delta_pct)
        else:
            dash = row.verdict in ("cached", "not_finished")
            cells["b"] = "—" if row.verdict == "cached" else fmt_duration(row.baseline_s)
            cells["t"] = "—" if dash else fmt_duration(row.treatment_s)
        rows.append(cells)
    return rows


MAX_LABEL = 20
_ENTITY_CHARS = frozenset('"#`\\;<>&')
_BREAKING = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})  # controls, line separators


def _mermaid_escape(text: str) -> str:
    """Mermaid entity codes (``#<code point>;``) for quotes, ``#``, backticks, ``;``, HTML
    characters, control characters and line separators; everything else as is."""
    return "".join(
        f"#{ord(ch)};" if ch in _ENTITY_CHARS or unicodedata.category(ch) in _BREAKING else ch
        for ch in text
    )


def _short_label(name: str) -> str:
    text = name.strip() or "(unnamed)"
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def labels(names: Iterable[str]) -> list[str]:
    """One escaped label per stage name; shortened names that collide get `` (2)``, ..."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        label, n = _short_label(name), 1
        while label in seen:
            n += 1
            label = f"{_short_label(name)} ({n})"
        seen.add(label)
        out.append(_mermaid_escape(label))
    return out


def _mermaid_num(value: float | None) -> str:
    return "0" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")


def stage_xychart(verdict: Verdict, unit: Unit | None = None) -> str:
    """A Mermaid ``xychart-beta`` of the stages (bars baseline, line treatment) that GitHub
    draws, or "" without stages; labels are escaped and distinct (``docs/comment.md``)."""
    unit = unit or SECONDS
    rows = [r for r in verdict.stages if r.verdict != "cached"]
    if not rows:
        return ""
    base_values = [chart_number(unit.scaled(r.baseline_s)) for r in rows]
    treat_values = [chart_number(unit.scaled(r.treatment_s)) for r in rows]
    top = max([*base_values, *treat_values, 1.0])
    axis = ", ".join(f'"{label}"' for label in labels(r.stage for r in rows))
    base = ", ".join(_mermaid_num(v) for v in base_values)
    treat = ", ".join(_mermaid_num(v) for v in treat_values)
    what = "Stage wall time (s)" if unit is SECONDS else f"Stage {unit.label} ({unit.axis})"
    if unit.counts:
        what = f"Stage {unit.label} (millions)"
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{what}: bars baseline, line treatment"',
            f"    x-axis [{axis}]",
            f'    y-axis "{unit.axis}" 0 --> {_mermaid_num(top * 1.1)}',
            f"    bar [{base}]",
            f"    line [{treat}]",
            "```",
        ]
    )


def _chart_and_attribution(v: Verdict, measured: Measured | None) -> list[tuple[str, str]]:
    """The Mermaid stage chart and the attribution table (gate 0: its decision metric)."""
    unit = measured.unit if measured else None  # None: wall seconds
    view = metric_view(v, measured)
    chart = stage_xychart(view, unit)
    out = [("### Stage chart", chart)] if chart else []
    if any(r.verdict in ("pass", "warn", "fail") for r in view.stages):
        out.append(("### Attribution", attribution_markdown(attribute(view, unit=unit))))
    return out


def _where(facts: WhereFacts | None) -> list[tuple[str, str]]:
    body = where_markdown(facts.attribution, per_file=facts.per_file) if facts else ""
    return [(f"### {WHERE_TITLE}", body)] if body else []


def comment_context(
    v: Verdict, base: PerfReport, treat: PerfReport, extras: CommentExtras, tier_name: str | None
) -> dict[str, Any]:
    """What ``templates/verdict.md.j2`` shows but the assessment, the raw report and the
    omission notes (:func:`render_comment` adds those)."""
    measured = extras.measured
    gate0 = measured is not None
    b, t = _sides(v, base, treat, gate0)
    title = md_escape(extras.title) if extras.title else gate_title(v.gate, tier_name)
    sections = [*_chart_and_attribution(v, measured), *_where(extras.where), *extras.sections]
    return {
        "title": Trusted(title),
        "badge": VERDICT_BADGES[v.verdict],
        "baseline": Trusted(baseline_line(v.baseline)),
        "top_notes": [Trusted(n) for n in extras.top_notes],
        "ab": extras.ab,
        "bullets": [
            ("Hard fails", v.hard_fails),
            ("Warns", v.warns),
            ("Inconclusive because", v.inconclusive_reasons),
            ("Self-check", v.self_check),
            (COLLECTOR_NOTES, v.collector_notes),
        ],
        "run_link": extras.run_link,
        "base": b,
        "treat": t,
        "gate0": _gate0(v, measured) if measured else None,
        "unit": measured.unit if measured else None,
        "context_title": extras.stage_context_title if extras.stage_context else None,
        "stages": _stage_cells(v, extras, measured),
        **_stage_notes(v),
        "sections": [(Trusted(h), Trusted(body)) for h, body in sections],
    }


# warnings that did not make a report unusable (docs/verdict-rules.md, "Usable reports")
COLLECTOR_NOTES = "Note (collector warnings, not counted)"


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
    """The verdict comment (``templates/verdict.md.j2``) within ``max_chars``;
    ``assessment_md``: the "Diff assessment" section, already rendered and escaped."""
    context = comment_context(verdict, baseline, treatment, extras or CommentExtras(), tier_name)
    assessment = Trusted(assessment_md) if assessment_md else None
    raw = json.dumps(treatment.raw, indent=2, sort_keys=False)

    def build(raw: str | None, assessment: Trusted | None, omitted: list[str]) -> str:
        return redact(render("verdict", **context, assessment=assessment, raw=raw, omitted=omitted))

    body = build(raw, assessment, [])
    if len(body) > max_chars:
        body = build(None, assessment, ["Raw treatment report"])
    if len(body) > max_chars and assessment:
        body = build(None, None, ["Raw treatment report", "Diff assessment"])
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
    """The halt comment when local checks failed: no ferry was submitted."""
    body = render("halted", sha=sha, failed_step=failed_step, output_tail=output_tail)
    return truncate(body, max_chars)
