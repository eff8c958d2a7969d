"""Text of the assessment: the confirmation block, the comment table, the waiver.

Untrusted text is escaped (:mod:`perfgate_lib.mdtext`): a file name cannot forge a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from perfgate_lib.assess.assessment import QUESTIONS, Assessment, FileAssessment
from perfgate_lib.io.paramfile import parse_json_arg
from perfgate_lib.mdtemplate import render
from perfgate_lib.mdtext import md_code, plain

COLUMNS = dict(zip(QUESTIONS, ("Trivial", "Shuffle", "Memory", "CPU", "Design"), strict=True))
FORK_WORD = "fork"
"""The word a reply must carry to run a fork's code (``go fork``, ``max_gate=2 fork``)."""


def _as_assessment(a: Assessment | Mapping[str, Any]) -> Assessment:
    return a if isinstance(a, Assessment) else Assessment.from_json(a, "assessment")


def reply_hint(a: Assessment) -> str:
    """The last line of the block: what the reviewer may answer (or what they did)."""
    if a.confirmation:
        reply = plain(a.confirmation.get("reply", ""))
        return f'Reviewer replied "{reply}": max_gate={a.max_gate}.'
    if not a.in_scope:
        return 'To force a gate anyway, reply "max_gate=<1|2|3>".'
    if a.is_fork:
        return (
            f'Reply "go {FORK_WORD}" to run this fork\'s code on the cluster, or override with '
            f'"max_gate=<skip|1|2|3> {FORK_WORD}" ("skip" needs no "{FORK_WORD}").'
        )
    return 'Reply "go" to run, or override with "max_gate=<skip|1|2|3>".'


def render_assessment_block(assessment: Assessment | Mapping[str, Any]) -> str:
    """The reviewer's "🤖 Zephyr perf gate assessment" block: plain text, paths in code spans."""
    a = _as_assessment(assessment)
    lines = ["🤖 Zephyr perf gate assessment"]
    if not a.in_scope:
        lines.append(f"Out of scope: {plain(a.rationale).removeprefix('out of scope: ')}")
        lines.append("No gate runs and no ferry is submitted.")
    else:
        lines.append(f"Proposed max_gate: {a.proposed_max_gate}")
        if a.max_gate != a.proposed_max_gate:
            lines.append(f"Confirmed max_gate: {a.max_gate}")
        lines.append(f"Rationale: {plain(a.rationale)}")
        lines.append("Per-file:")
        lines += [f"- {md_code(plain(path))}: {plain(f.summary)}" for path, f in a.per_file.items()]
    if a.flags:
        lines.append("Flags:")
        lines.extend(f"- ⚠ {plain(flag)}" for flag in a.flags)
    lines.append(reply_hint(a))
    return "\n".join(lines)


def assessment_table_md(assessment: Assessment | Mapping[str, Any] | str | None) -> str | None:
    """The table of an Assessment, mapping, JSON text, path or URL; None for "" or None."""
    if isinstance(assessment, Assessment):
        return render_assessment_table(assessment)
    if isinstance(assessment, Mapping):
        assessment = dict(assessment)
    data = parse_json_arg(assessment, "assessment")
    return render_assessment_table(data) if data else None


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def render_assessment_table(assessment: Assessment | Mapping[str, Any]) -> str:
    """The verdict comment's "Diff assessment" section (``_assessment_table.md.j2``)."""
    a = _as_assessment(assessment)
    files = [
        {"path": path, "answers": [_yes_no(getattr(f, q)) for q in QUESTIONS], "summary": f.summary}
        for path, f in a.per_file.items()
    ]
    shown = [
        (path, [(COLUMNS[q], _yes_no(getattr(f, q)), item) for q, item in _evidence(f)])
        for path, f in a.per_file.items()
    ]
    return render(
        "_assessment_table",
        in_scope=a.in_scope,
        rationale=a.rationale,
        columns=list(COLUMNS.values()),
        files=files,
        max_gate=a.max_gate,
        proposed_max_gate=a.proposed_max_gate,
        flags=a.flags,
        show_evidence=bool(a.per_file),
        evidence=[(path, lines) for path, lines in shown if lines],
    ).rstrip("\n")


def _evidence(f: FileAssessment) -> list[tuple[str, str]]:
    """A file's evidence worth showing: yes questions and trivial, no "no:" lines."""
    return [
        (q, item)
        for q in QUESTIONS
        if q == "trivial" or getattr(f, q)
        for item in f.evidence.get(q, [])
        if not item.startswith("no:")
    ]


def render_waiver_comment(
    assessment: Assessment | Mapping[str, Any], reviewer: str | None = None
) -> str:
    """The one-line PR comment (after the sentinel) when the gate is waived (skip)."""
    a = _as_assessment(assessment)
    conf = a.confirmation or {}
    return render(
        "waiver",
        reviewer=reviewer,
        head_sha=a.head_sha,
        override=bool(conf.get("override")),
        proposed_max_gate=a.proposed_max_gate,
        reason=conf.get("reason"),
    )
