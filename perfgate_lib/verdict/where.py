"""Where the instructions went: gate 0's function delta (``profile/attribution.json``) as
a comment section and as terminal text; instructions, Δ = treatment − control; names
from the code under test are untrusted. The method: ``docs/attribution.md``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from perfgate_lib.errors import usage_at
from perfgate_lib.mdtext import md_code, md_escape
from perfgate_lib.typed import Number, Text, Whole, read_model

TITLE = "Where the instructions went"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_ROWS = 15
SEEN_PCT = 1.0
"""A file's functions changed the stage when their Δ is at least this % of the stage's
control count (gate 0's own noise is within ±0.5%, its pass band +5%)."""
_NAMED = re.compile(r"`([A-Za-z_][\w.]*)`")


class PrTie(TypedDict):
    """The PR's hunk a row's function is defined in."""

    file: Text
    hunk: NotRequired[Text | None]


class FunctionRow(TypedDict):
    """One function's own (exclusive) instructions in the representative pair."""

    function: Text
    origin: Text  # Zephyr, Python, a library, ...
    control: Number  # instructions
    treatment: Number  # instructions
    delta: Number  # treatment - control, instructions
    status: Text  # changed | new | gone
    listed: bool  # shown in the comment's table
    file: NotRequired[Text | None]
    pr: NotRequired[PrTie | None]


class StageWhere(TypedDict):
    """One stage's function delta (``profile/attribution.json``'s ``stages.<name>``)."""

    stage: Text
    view: Text  # python | c
    control_total: Number  # instructions
    treatment_total: Number  # instructions
    delta: Number  # instructions
    delta_pct: Number  # % of control_total
    rows: list[FunctionRow]
    pair: NotRequired[Whole]
    pair_ratio: NotRequired[Number]
    estimate: NotRequired[Number | None]
    notes: NotRequired[list[Text]]
    files: NotRequired[list[Text]]


class Attribution(TypedDict):
    """``profile/attribution.json`` as far as the comment reads it."""

    stages: NotRequired[dict[Text, StageWhere]]
    notes: NotRequired[list[Text]]
    error: NotRequired[Text]


class CpuAnswer(TypedDict):
    """One file's answer to "Affects CPU?" in ``assessment.json``'s ``per_file``."""

    cpu: NotRequired[bool | None]
    evidence: NotRequired[dict[Text, list[Text]]]


@dataclass(frozen=True)
class WhereFacts:
    """The section's facts (``comment.where``), never markdown; ``per_file``: CPU answers."""

    attribution: Attribution
    per_file: dict[Text, CpuAnswer] = field(default_factory=dict)


def read_where(
    attribution: Mapping[str, Any], per_file: Mapping[str, Any], source: str
) -> WhereFacts:
    """:class:`WhereFacts` of an attribution and assessment.json's ``per_file``, keeping the
    rows the section shows; a bad value is a UsageError naming ``source`` and its field."""
    answers = {
        str(path): {"cpu": a["cpu"], "evidence": {"cpu": (a.get("evidence") or {}).get("cpu", [])}}
        for path, a in per_file.items()
        if isinstance(a, Mapping) and isinstance(a.get("cpu"), bool)
    }
    facts = read_model(
        WhereFacts,
        {"attribution": attribution, "per_file": answers},
        lambda key, problem: usage_at(source, key, problem),
    )
    for stage in facts.attribution.get("stages", {}).values():
        stage["rows"] = [r for r in stage["rows"] if r["listed"] or _in_files(r, answers)]
    return facts


def _in_files(row: Mapping[str, Any], paths: Iterable[str]) -> bool:
    """Whether the row's function is defined in one of ``paths`` (a row's file is relative)."""
    file = row.get("file")
    return bool(file) and any(p == file or p.endswith("/" + str(file)) for p in paths)


def _plain(text: object) -> str:
    """Terminal text: control characters (escape sequences) shown as ``?``."""
    return _CONTROL.sub("?", str(text))


def fmt_instr(value: float) -> str:
    """An instruction count, short: ``257.5M instr``, ``12.0K instr``, ``950 instr``."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if v >= size:
            return f"{sign}{v / size:.1f}{suffix} instr"
    return f"{sign}{v:.0f} instr"


def fmt_delta(value: float) -> str:
    """A signed instruction delta: ``+12.3M instr``."""
    return ("+" if value >= 0 else "") + fmt_instr(value)


def _share(stage: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> float:
    delta = stage.get("delta") or 0
    return 100.0 * sum(r["delta"] for r in rows) / delta if delta else 0.0


def reconcile_line(stage: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> str:
    """ "These 10 functions explain 94% of the stage's +53.1% (+48.2M of +51.3M instr)"."""
    listed = sum(r["delta"] for r in rows)
    return (
        f"these {len(rows)} rows explain {_share(stage, rows):.0f}% of the stage's "
        f"{stage['delta_pct']:+.1f}% ({fmt_delta(listed)} of {fmt_delta(stage['delta'])}: "
        f"{fmt_instr(stage['control_total'])} → {fmt_instr(stage['treatment_total'])} in "
        f"pair {stage.get('pair')}, ratio ×{stage.get('pair_ratio', 0):.3f}; "
        + (
            f"gate 0's estimate ×{stage['estimate']:.3f})"
            if stage.get("estimate") is not None
            else "gate 0 has no estimate yet)"
        )
    )


def _listed(stage: Mapping[str, Any], max_rows: int | None) -> list[Mapping[str, Any]]:
    return [r for r in stage.get("rows", []) if r.get("listed")][:max_rows]


def _view(stage: Mapping[str, Any]) -> str:
    return "Python functions" if stage.get("view") == "python" else "C functions"


def _pr_cell(row: Mapping[str, Any]) -> str:
    pr = row.get("pr")
    if not pr:
        return ""
    where = md_code(pr["file"])
    return f"changed by the PR: {where} {md_code(pr['hunk'])}" if pr.get("hunk") else where


def stage_markdown(
    stage: Mapping[str, Any], max_rows: int = MAX_ROWS, per_file: Mapping[str, Any] | None = None
) -> str:
    """One stage's table (at most ``max_rows`` rows), its reconciling line and
    :func:`agreement` lines."""
    rows = _listed(stage, max_rows)
    lines = [
        f"**{md_escape(stage['stage'])}** ({_view(stage)}, exclusive instructions): "
        + md_escape(reconcile_line(stage, rows)),
        "",
        "| Δ instr | control | treatment | function | origin | PR |",
        "|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        where = f" ({md_escape(row['file'])})" if row.get("file") else ""
        status = "" if row["status"] == "changed" else f" _{row['status']}_"
        lines.append(
            f"| {fmt_delta(row['delta'])} | {fmt_instr(row['control'])} | "
            f"{fmt_instr(row['treatment'])} | {md_code(row['function'])}{where}{status} | "
            f"{md_escape(row['origin'])} | {_pr_cell(row)} |"
        )
    lines += [f"\n_Note: {md_escape(note)}_" for note in stage.get("notes", [])]
    agreed = agreement_markdown(agreement(stage, per_file or {}))
    if agreed:
        lines += ["", agreed]
    return "\n".join(lines)


def where_markdown(
    attribution: Mapping[str, Any] | None,
    max_bytes: int = 12_000,
    max_rows: int = MAX_ROWS,
    per_file: Mapping[str, Any] | None = None,
) -> str:
    """The folded comment section ("" for none) within ``max_bytes`` (UTF-8): rows are
    dropped from the largest table first until it fits."""
    if not attribution:
        return ""
    if attribution.get("error"):
        return f"_{TITLE}: not computed ({md_escape(attribution['error'])})._"
    stages = attribution.get("stages") or {}
    if not stages:
        return ""
    limits = {name: max_rows for name in stages}
    while True:
        body = _folded(attribution, stages, limits, per_file)
        if len(body.encode()) <= max_bytes or not any(limits.values()):
            return body
        largest = max(limits, key=lambda n: limits[n])
        limits[largest] -= 1


def _folded(
    attribution: Mapping[str, Any],
    stages: Mapping[str, Any],
    limits: Mapping[str, int],
    per_file: Mapping[str, Any] | None,
) -> str:
    listed = {name: _listed(stage, limits[name]) for name, stage in stages.items()}
    summary = "; ".join(
        f"{md_escape(name)} {stage['delta_pct']:+.1f}%: {len(listed[name])} "
        f"rows explain {_share(stage, listed[name]):.0f}%"
        for name, stage in stages.items()
    )
    parts = [f"<details><summary>{TITLE} ({summary})</summary>", ""]
    for name, stage in stages.items():
        parts += [stage_markdown(stage, limits[name], per_file), ""]
    parts += [f"_Note: {md_escape(note)}_\n" for note in attribution.get("notes", [])]
    parts.append(
        "Each row: one function's own (exclusive) instructions in the representative pair "
        "of each side; Δ = treatment − control. `perfgate explain RUN_DIR` prints every row."
    )
    parts += ["", "</details>"]
    return "\n".join(parts)


def where_text(
    attribution: Mapping[str, Any],
    stage: str | None = None,
    max_rows: int | None = None,
    per_file: Mapping[str, Any] | None = None,
) -> str:
    """The tables as plain text for a terminal (``perfgate explain``)."""
    stages = attribution.get("stages") or {}
    if stage is not None:
        if stage not in stages:
            known = ", ".join(stages) or "none"
            raise KeyError(f"stage {stage!r} has no attribution in this run (kept: {known})")
        stages = {stage: stages[stage]}
    out: list[str] = []
    for name, entry in stages.items():
        rows = _listed(entry, max_rows)
        out.append(_plain(f"{name} ({_view(entry)}, exclusive instructions)"))
        out.append("  " + _plain(reconcile_line(entry, rows)))
        out.append(f"  {'Δ instr':>14} {'control':>14} {'treatment':>14}  {'origin':<13} function")
        for row in rows:
            pr = row.get("pr")
            where_in_pr = " ".join(filter(None, [pr["file"], pr.get("hunk")])) if pr else ""
            tie = f"  [changed by the PR: {where_in_pr}]" if pr else ""
            where = f" ({row['file']})" if row.get("file") else ""
            status = "" if row["status"] == "changed" else f" [{row['status']}]"
            out.append(
                f"  {fmt_delta(row['delta']):>14} {fmt_instr(row['control']):>14} "
                f"{fmt_instr(row['treatment']):>14}  {_plain(row['origin']):<13} "
                + _plain(f"{row['function']}{where}{status}{tie}")
            )
        out += [f"  note: {_plain(note)}" for note in entry.get("notes", [])]
        out += agreement_text(agreement(entry, per_file or {}))
        files = entry.get("files") or []
        out += [f"  evidence: {', '.join(files) if files else 'not kept (size budget)'}", ""]
    out += [f"note: {_plain(note)}" for note in attribution.get("notes", [])]
    return "\n".join(out).rstrip() + "\n"


def agreement(stage: Mapping[str, Any], per_file: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each assessed Python file's "Affects CPU?" answer against its functions' Σ Δ in % of
    the stage's control count: ``agrees``, ``disagrees`` or ``not seen`` (``docs/attribution.md``)."""
    out = []
    control = stage.get("control_total") or 0
    for path, answers in sorted(per_file.items()):
        if not str(path).endswith(".py") or not isinstance(answers, Mapping):
            continue
        if not isinstance(answers.get("cpu"), bool):
            continue
        rows = [r for r in stage.get("rows", []) if _in_files(r, [str(path)])]
        change = sum(r["delta"] for r in rows)
        pct = 100.0 * change / control if control else 0.0
        changed = abs(pct) >= SEEN_PCT
        cpu = answers["cpu"]
        status = "agrees" if changed == cpu else "not seen" if cpu else "disagrees"
        evidence = [_short(str(e)) for e in (answers.get("evidence") or {}).get("cpu", [])][:2]
        named = {m for e in evidence for m in _NAMED.findall(e)}
        found = [
            {"function": r["function"], "delta": r["delta"]}
            for r in rows
            if r["function"] in named or r["function"].rsplit(".", 1)[-1] in named
        ]
        top = max(rows, key=lambda r: abs(r["delta"]), default=None)
        out.append(
            {
                "file": str(path),
                "cpu": answers["cpu"],
                "evidence": evidence,
                "status": status,
                "delta": change,
                "pct_of_stage": round(pct, 2),
                "functions": len(rows),
                "top": None if top is None else {k: top[k] for k in ("function", "delta")},
                "named": found,
            }
        )
    return out


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _agreement_line(item: Mapping[str, Any], code, text) -> str:
    said = "yes" if item["cpu"] else "no"
    why = f" ({'; '.join(text(e) for e in item['evidence'])})" if item["evidence"] else ""
    shows = (
        f"its {item['functions']} function{'s' if item['functions'] > 1 else ''} "
        f"{fmt_delta(item['delta'])}, "
        f"{item['pct_of_stage']:+.2f}% of the stage's control count"
        if item["functions"]
        else "no function of it ran in this stage"
    )
    top = item.get("top")
    if top and top["delta"]:
        shows += f"; most: {code(top['function'])} {fmt_delta(top['delta'])}"
    for named in item.get("named", []):
        if not top or named["function"] != top["function"]:
            shows += f"; {code(named['function'])} {fmt_delta(named['delta'])}"
    return (
        f"{code(item['file'])}: assessment said CPU: {said}{why}; profile {item['status']}: {shows}"
    )


def agreement_markdown(items: Sequence[Mapping[str, Any]]) -> str:
    """The assessment-vs-profile lines under a stage's table (markdown, escaped)."""
    if not items:
        return ""
    lines = [
        f"Assessment vs profile (a file's functions changed the stage when their Δ is at "
        f"least {SEEN_PCT:g}% of its control count):"
    ]
    lines += [f"- {_agreement_line(i, md_code, md_escape)}" for i in items]
    return "\n".join(lines)


def agreement_text(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The same lines for a terminal."""
    return ["  assessment vs profile: " + _plain(_agreement_line(i, str, str)) for i in items]
