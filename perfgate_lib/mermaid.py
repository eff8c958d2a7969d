"""A Mermaid ``xychart-beta`` of stage times that GitHub renders inside the comment.

Bars are the baseline, the line is the treatment (xychart has no legend, so the title
says so). Labels are sanitised to a safe character set and shortened, so untrusted stage
names cannot break the block, and 40 stages stay around 2 KB.
"""

from __future__ import annotations

import re

from perfgate_lib.rules import Verdict

_UNSAFE = re.compile(r"[^A-Za-z0-9 _.:/+\-]")
MAX_LABEL = 20


def _label(name: str) -> str:
    text = _UNSAFE.sub("_", name).strip() or "_"
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _num(value: float | None) -> str:
    return "0" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")


def stage_xychart(verdict: Verdict) -> str:
    """A fenced ``mermaid`` block, or "" when there are no stages with times."""
    rows = [r for r in verdict.stages if r.verdict != "cached"]
    if not rows:
        return ""
    top = max([r.baseline_s or 0.0 for r in rows] + [r.treatment_s or 0.0 for r in rows] + [1.0])
    labels = ", ".join(f'"{_label(r.stage)}"' for r in rows)
    base = ", ".join(_num(r.baseline_s) for r in rows)
    treat = ", ".join(_num(r.treatment_s) for r in rows)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            '    title "Stage wall time (s): bars baseline, line treatment"',
            f"    x-axis [{labels}]",
            f'    y-axis "seconds" 0 --> {_num(top * 1.1)}',
            f"    bar [{base}]",
            f"    line [{treat}]",
            "```",
        ]
    )
