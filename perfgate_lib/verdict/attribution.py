"""Attribution: each stage's share of the total's change (pure).

Deltas are in the total's unit (wall seconds, or gate 0's decision metric); when they
add up and when there are no shares: ``docs/comment.md``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from perfgate_lib.mdtext import md_escape
from perfgate_lib.verdict.measured import SECONDS, Unit
from perfgate_lib.verdict.rules import SignalRow, Verdict


@dataclass(frozen=True)
class StageShare:
    """One stage's change (the total's unit) and its share (percent) of the total's change."""

    stage: str
    delta_s: float
    share_pct: float | None  # None when the total's change is unknown or within noise


@dataclass(frozen=True)
class Attribution:
    total_delta_s: float | None  # treatment - baseline wall_seconds_total, seconds
    stage_delta_sum_s: float  # sum of comparable stage deltas, seconds
    shares: list[StageShare]
    accounted: bool | None  # stage deltas add up to the total's delta (None: unknown)
    layout: str | None  # baseline stages vs total: sequential | overlapping | gaps (None: unknown)
    summary: str
    within_noise: bool = False  # the total's change is inside the noise: no shares given
    unit: Unit = SECONDS  # what the deltas measure


def _signed(unit: Unit, value: float) -> str:
    """A signed change: ``+101.3M instr``, or seconds: ``+62s``, ``+1.0s`` below 100 s."""
    if unit.counts:
        return unit.signed(value)
    return f"{value:+.0f}s" if abs(value) >= 100 else f"{value:+.1f}s"


def _figure(unit: Unit, value: float) -> str:
    """A total in the unit: ``845s`` (whole seconds) or ``1.262G instr``."""
    return unit.fmt(value) if unit.counts else f"{value:.0f}s"


NOISE_FRACTION = 0.01  # of the baseline total: a passing total's change below it is noise
RESOLUTION_S = 1.0  # seconds: launcher wall times are recorded to about a second


def total_within_noise(
    wall: SignalRow,
    *,
    marked: bool = False,
    noise_fraction: float = NOISE_FRACTION,
    resolution_s: float = RESOLUTION_S,
) -> bool:
    """Whether the total's change (``wall``: the total's row) is inside the noise: the caller
    says so (``marked``, or a ``within noise`` note), or the total passed and
    ``|Δ| <= max(noise_fraction × baseline, resolution_s)``."""
    if marked or wall.note.startswith("within noise"):
        return True
    if wall.baseline is None or wall.treatment is None or wall.verdict != "pass":
        return False
    delta = abs(wall.treatment - wall.baseline)
    return delta <= max(noise_fraction * abs(wall.baseline), resolution_s)


def _stage_deltas(verdict: Verdict) -> list[tuple[str, float]]:
    """(stage, treatment - baseline) of the stages compared on both sides."""
    return [
        (r.stage, r.treatment_s - r.baseline_s)
        for r in verdict.stages
        if r.verdict in ("pass", "warn", "fail")
        and r.baseline_s is not None
        and r.treatment_s is not None
    ]


def attribute(
    verdict: Verdict,
    tolerance: float = 0.10,
    *,
    total_within_noise_marked: bool = False,
    unit: Unit | None = None,
) -> Attribution:
    """Shares of the total change for stages compared on both sides; none (``within_noise``)
    when the total's change is within noise (:func:`total_within_noise`). ``unit``: what the
    rows measure (default wall seconds)."""
    unit = unit or SECONDS
    wall = next(s for s in verdict.signals if s.signal == unit.total)
    total = (
        wall.treatment - wall.baseline
        if wall.baseline is not None and wall.treatment is not None
        else None
    )
    # a count has no second-sized resolution: 1% of the baseline total is the floor
    noise = total is not None and total_within_noise(
        wall, marked=total_within_noise_marked, resolution_s=0.0 if unit.counts else RESOLUTION_S
    )
    deltas = _stage_deltas(verdict)
    stage_sum = sum(d for _, d in deltas)
    shares = [
        StageShare(stage, d, (d / total * 100) if total and not noise else None)
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
    signed = functools.partial(_signed, unit)
    if total is None or wall.baseline is None:  # the baseline is known wherever the total is
        summary = f"total {unit.label} unknown"
        return Attribution(None, stage_sum, shares, None, layout, summary, unit=unit)
    scale = max(abs(total), 0.01 * (wall.baseline or 0.0), 1e-9)
    accounted = abs(stage_sum - total) <= tolerance * scale
    if accounted:
        summary = f"stage changes ({signed(stage_sum)}) account for the total's ({signed(total)})"
    elif layout == "overlapping":
        summary = (
            f"stage changes sum to {signed(stage_sum)} against {signed(total)} for the total: "
            "stages overlap or run in parallel in this report era (they add up to "
            f"{_figure(unit, base_stage_sum)} against a {_figure(unit, wall.baseline)} total), so "
            "shares do not sum"
        )
    else:
        summary = (
            f"stage changes sum to {signed(stage_sum)} against {signed(total)} for the total: "
            f"the listed stages cover {_figure(unit, base_stage_sum)} of the "
            f"{_figure(unit, wall.baseline)} baseline total; the rest is time outside them (queueing "
            "between steps, launcher work, cached or not comparable stages), so shares do not sum"
        )
    return Attribution(total, stage_sum, shares, accounted, layout, summary, noise, unit)


def attribution_markdown(attr: Attribution, limit: int = 10) -> str:
    """A small table (largest changes first) plus the summary line; escaped stage names."""
    if not attr.shares:
        return f"_{md_escape(attr.summary)}._"
    label = "time" if attr.unit is SECONDS else attr.unit.label
    lines = [f"| Stage | Δ {label} | Share of total Δ |", "|---|---|---|"]
    for share in attr.shares[:limit]:
        if attr.within_noise:
            pct = f"— {NOISE_MARK}"
        else:
            pct = "—" if share.share_pct is None else f"{share.share_pct:.0f}%"
        delta = attr.unit.signed(share.delta_s) if attr.unit.counts else f"{share.delta_s:+.1f}s"
        lines.append(f"| {md_escape(share.stage)} | {delta} | {pct} |")
    if len(attr.shares) > limit:
        lines.append(f"| _{len(attr.shares) - limit} more_ | | |")
    table = "\n".join(lines)
    if attr.within_noise:
        table += f"\n\n{NOISE_MARK} {NOISE_FOOTNOTE}"
        if attr.total_delta_s is not None:
            table += f" ({_signed(attr.unit, attr.total_delta_s)})"
        table += "."
    return table + f"\n\n{md_escape(attr.summary)}."


NOISE_MARK = "†"
NOISE_FOOTNOTE = "total change within noise: shares not meaningful"
