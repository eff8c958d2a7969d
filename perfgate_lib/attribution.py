"""Attribution: each stage's share of the total wall-time change (pure).

Stages of some report eras overlap or run in parallel, and the total includes time
outside any stage, so stage deltas need not add up to the total's delta. The summary says
whether they do (within ``tolerance``) instead of forcing a sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfgate_lib.rules import Verdict


@dataclass(frozen=True)
class StageShare:
    """One stage's change in seconds and its share (percent) of the total's change."""

    stage: str
    delta_s: float
    share_pct: float | None  # None when the total did not change or is unknown


@dataclass(frozen=True)
class Attribution:
    total_delta_s: float | None  # treatment - baseline wall_seconds_total, seconds
    stage_delta_sum_s: float  # sum of comparable stage deltas, seconds
    shares: list[StageShare]
    accounted: bool | None  # stage deltas add up to the total's delta (None: unknown)
    layout: str | None  # baseline stages vs total: sequential | overlapping | gaps (None: unknown)
    summary: str


def _s(seconds: float) -> str:
    """Signed seconds: ``+62s``, ``+1.0s`` below 100 s."""
    return f"{seconds:+.0f}s" if abs(seconds) >= 100 else f"{seconds:+.1f}s"


def attribute(verdict: Verdict, tolerance: float = 0.10) -> Attribution:
    """Shares of the total change for stages compared on both sides (pass/warn/fail)."""
    wall = next(s for s in verdict.signals if s.signal == "wall_seconds_total")
    total = (
        wall.treatment - wall.baseline
        if wall.baseline is not None and wall.treatment is not None
        else None
    )
    rows = [r for r in verdict.stages if r.verdict in ("pass", "warn", "fail")]
    deltas = [(r.stage, r.treatment_s - r.baseline_s) for r in rows]
    stage_sum = sum(d for _, d in deltas)
    shares = [
        StageShare(stage, d, (d / total * 100) if total else None)
        for stage, d in sorted(deltas, key=lambda x: -abs(x[1]))
    ]
    base_stage_sum = sum(r.baseline_s or 0.0 for r in verdict.stages)
    layout = None
    if wall.baseline:
        if base_stage_sum > wall.baseline * (1 + tolerance):
            layout = "overlapping"
        elif base_stage_sum < wall.baseline * (1 - tolerance):
            layout = "gaps"
        else:
            layout = "sequential"
    if total is None:
        return Attribution(None, stage_sum, shares, None, layout, "total wall time unknown")
    scale = max(abs(total), 0.01 * (wall.baseline or 0.0), 1e-9)
    accounted = abs(stage_sum - total) <= tolerance * scale
    if accounted:
        summary = f"stage changes ({_s(stage_sum)}) account for the total's ({_s(total)})"
    elif layout == "overlapping":
        summary = (
            f"stage changes sum to {_s(stage_sum)} against {_s(total)} for the total: "
            "stages overlap or run in parallel in this report era (their times add up to "
            f"{base_stage_sum:.0f}s against a {wall.baseline:.0f}s total), so shares do not sum"
        )
    else:
        summary = (
            f"stage changes sum to {_s(stage_sum)} against {_s(total)} for the total: "
            f"the listed stages cover {base_stage_sum:.0f}s of the {wall.baseline:.0f}s "
            "baseline total; the rest is time outside them (queueing between steps, "
            "launcher work, cached or not comparable stages), so shares do not sum"
        )
    return Attribution(total, stage_sum, shares, accounted, layout, summary)


def attribution_markdown(attr: Attribution, limit: int = 10) -> str:
    """A small table (largest changes first) plus the summary line; escaped stage names."""
    from perfgate_lib.mdtext import md_escape

    if not attr.shares:
        return f"_{md_escape(attr.summary)}._"
    lines = ["| Stage | Δ time | Share of total Δ |", "|---|---|---|"]
    for share in attr.shares[:limit]:
        pct = "—" if share.share_pct is None else f"{share.share_pct:.0f}%"
        lines.append(f"| {md_escape(share.stage)} | {share.delta_s:+.1f}s | {pct} |")
    if len(attr.shares) > limit:
        lines.append(f"| _{len(attr.shares) - limit} more_ | | |")
    return "\n".join(lines) + f"\n\n{md_escape(attr.summary)}."
