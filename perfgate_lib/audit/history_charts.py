"""Per-stage trend charts of the scheduled baselines (seconds over UTC dates), built on
:class:`~matplotlib.figure.Figure` (no pyplot state)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from perfgate_lib.audit.history import ChangePoint, History, noise_context, rolling_band
from perfgate_lib.verdict.charts import chart_text
from perfgate_lib.verdict.report import PerfReport

POINT_COLOUR = "#90a4ae"
MEDIAN_COLOUR = "#1565c0"
BAND_COLOUR = "#bbdefb"
CHANGE_COLOUR = "#c62828"
TREATMENT_COLOUR = "#ef6c00"


def trend_chart(
    history: History,
    *,
    stages: Sequence[str] | None = None,
    points: Sequence[ChangePoint] = (),
    treatment: PerfReport | None = None,
    window: int = 14,
    k: float = 2.0,
    last_n: int = 14,
    columns: int = 3,
) -> Figure:
    """One panel per stage: reports, rolling median, median +/- k sigma band, change points
    and the treatment's value; titles carry the spread over the last ``last_n`` reports."""
    frame = history.stages
    names = [s for s in (stages or frame.columns) if s in frame and frame[s].notna().any()]
    noise = noise_context(frame, names, last_n)
    rows = max(1, math.ceil(len(names) / columns))
    fig = Figure(figsize=(4.2 * columns, 2.6 * rows + 0.6), dpi=100)
    fig.suptitle(f"Gate {history.gate}: stage wall time of scheduled baselines")
    if not names:
        fig.add_subplot().text(0.5, 0.5, "no stage data", ha="center", va="center")
        fig.tight_layout()
        return fig
    band = rolling_band(frame[names], window=window, k=k)
    for i, stage in enumerate(names):
        ax = fig.add_subplot(rows, columns, i + 1)
        _stage_panel(ax, band.xs(stage, level="stage"), stage, noise[stage], points, treatment)
    fig.legend(
        handles=legend_handles(k, window, bool(points), treatment is not None),
        loc="lower center",
        ncol=5,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # the legend's row under the panels
    return fig


def _stage_panel(
    ax: Axes,
    part: pd.DataFrame,
    stage: str,
    noise: dict[str, Any],
    points: Sequence[ChangePoint],
    treatment: PerfReport | None,
) -> None:
    """One stage's panel: its reports, rolling median and band (seconds), change points,
    the treatment's value, and the recent spread in the title."""
    times = part.index.tz_convert(None)
    ax.fill_between(times, part["lower_s"], part["upper_s"], color=BAND_COLOUR, lw=0)
    ax.plot(times, part["seconds"], ".", ms=3, color=POINT_COLOUR)
    ax.plot(times, part["median_s"], "-", lw=1.2, color=MEDIAN_COLOUR)
    for c in points:
        if c.stage == stage:
            ax.axvline(c.time.tz_convert(None), ls="--", lw=1, color=CHANGE_COLOUR)
    if treatment is not None:
        value = treatment.stage_wall_seconds.get(stage)
        if value and stage not in treatment.cached_steps:
            ax.axhline(value, ls=":", lw=1.2, color=TREATMENT_COLOUR)
    spread = noise["spread_pct"]
    title = chart_text(stage) if spread is None else f"{chart_text(stage)} (±{spread:.1f}%)"
    if noise["too_noisy"]:
        title += " too noisy"
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.set_ylabel("s", fontsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(30)


def legend_handles(k: float, window: int, changes: bool, treatment: bool) -> list:
    """One legend entry per mark the panels draw."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], marker=".", ls="", color=POINT_COLOUR, label="scheduled baseline (s)"),
        Line2D([], [], ls="-", color=MEDIAN_COLOUR, label=f"rolling median ({window} reports)"),
        Patch(color=BAND_COLOUR, label=f"median ± {k:g}σ"),
    ]
    if changes:
        handles.append(Line2D([], [], ls="--", color=CHANGE_COLOUR, label="change point"))
    if treatment:
        handles.append(Line2D([], [], ls=":", color=TREATMENT_COLOUR, label="treatment"))
    return handles
