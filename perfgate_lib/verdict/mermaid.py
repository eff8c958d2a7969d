"""A Mermaid ``xychart-beta`` of stage times (seconds) that GitHub renders inside the comment.

Bars are the baseline, the line the treatment. Labels are quoted strings with unsafe
characters as Mermaid entity codes; no two stages share one (``docs/comment.md``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from perfgate_lib.verdict.measured import SECONDS, Unit, chart_number
from perfgate_lib.verdict.rules import Verdict

MAX_LABEL = 20
_ENTITY_CHARS = frozenset('"#`\\;<>&')
_BREAKING = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})  # controls, line separators


def _escape(text: str) -> str:
    """Mermaid entity codes (``#<code point>;``) for quotes, ``#``, backticks, ``;``, HTML
    characters, control characters and line separators; everything else as is."""
    return "".join(
        f"#{ord(ch)};" if ch in _ENTITY_CHARS or unicodedata.category(ch) in _BREAKING else ch
        for ch in text
    )


def _short(name: str) -> str:
    text = name.strip() or "(unnamed)"
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def labels(names: Iterable[str]) -> list[str]:
    """One escaped label per stage name; shortened names that collide get `` (2)``, ..."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        label, n = _short(name), 1
        while label in seen:
            n += 1
            label = f"{_short(name)} ({n})"
        seen.add(label)
        out.append(_escape(label))
    return out


def _num(value: float | None) -> str:
    return "0" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")


def stage_xychart(verdict: Verdict, unit: Unit | None = None) -> str:
    """A fenced ``mermaid`` block, or "" when there are no stages with times. ``unit``:
    what the rows hold (default wall seconds; gate 0's decision metric in millions of
    instructions through :func:`~perfgate_lib.verdict.measured.metric_view`)."""
    unit = unit or SECONDS
    rows = [r for r in verdict.stages if r.verdict != "cached"]
    if not rows:
        return ""
    base_values = [chart_number(unit.scaled(r.baseline_s)) for r in rows]
    treat_values = [chart_number(unit.scaled(r.treatment_s)) for r in rows]
    top = max([*base_values, *treat_values, 1.0])
    axis = ", ".join(f'"{label}"' for label in labels(r.stage for r in rows))
    base = ", ".join(_num(v) for v in base_values)
    treat = ", ".join(_num(v) for v in treat_values)
    what = "Stage wall time (s)" if unit is SECONDS else f"Stage {unit.label} ({unit.axis})"
    if unit.counts:
        what = f"Stage {unit.label} (millions)"
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{what}: bars baseline, line treatment"',
            f"    x-axis [{axis}]",
            f'    y-axis "{unit.axis}" 0 --> {_num(top * 1.1)}',
            f"    bar [{base}]",
            f"    line [{treat}]",
            "```",
        ]
    )
