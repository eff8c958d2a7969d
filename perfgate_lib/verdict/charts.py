"""Matplotlib charts of a verdict as PNG files, built on :class:`~matplotlib.figure.Figure`
(no pyplot state), the same in a kernel, the CLI or a test."""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from perfgate_lib.io import storage
from perfgate_lib.verdict.measured import SECONDS, Unit, chart_number
from perfgate_lib.verdict.rules import Verdict

BAND_COLOURS = {
    "pass": "#2e7d32",
    "warn": "#f9a825",
    "fail": "#c62828",
    "cached": "#9e9e9e",
    "not_finished": "#ff9800",
    "not_comparable": "#9e9e9e",
    "n/a": "#9e9e9e",
}
BASELINE_COLOUR = "#90a4ae"
DPI = 100
MAX_CHART_PIXELS = 10_000
"""The tallest chart drawn (pixels): past about 180 stages their rows get thinner, so two
reports of report_max_stages never make an image of a gigabyte."""


def chart_text(text: str) -> str:
    """Hostile ``text`` as matplotlib draws it literally: each ``$`` escaped (no mathtext,
    which raises) and each unprintable character as U+FFFD."""
    shown = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return shown.replace("$", r"\$")


def stage_chart(verdict: Verdict, unit: Unit | None = None) -> Figure:
    """Per-stage baseline vs treatment bars in ``unit`` (default wall seconds), treatment
    coloured by band, labelled with its delta."""
    unit = unit or SECONDS
    rows = verdict.stages
    height = min(max(2.5, 0.55 * len(rows) + 1.2), MAX_CHART_PIXELS / DPI)  # inches
    fig = Figure(figsize=(8, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    names = [chart_text(r.stage) for r in rows]
    ys = list(range(len(rows)))
    base = [chart_number(unit.scaled(r.baseline_s)) for r in rows]
    treat = [chart_number(unit.scaled(r.treatment_s)) for r in rows]
    ax.barh([y + 0.2 for y in ys], base, height=0.38, color=BASELINE_COLOUR, label="baseline")
    ax.barh(
        [y - 0.2 for y in ys],
        treat,
        height=0.38,
        color=[BAND_COLOURS.get(r.verdict, "#607d8b") for r in rows],
        label="treatment (colour: verdict)",
    )
    top = max(base + treat + [1.0])
    for y, r, drawn in zip(ys, rows, treat, strict=True):
        # Unrounded, so the label is its own bars' delta to one decimal (rounding the
        # 2-decimal delta_pct again would turn -0.049% into -0.1%); from the figures, not
        # the clipped bars.
        b, t = unit.scaled(r.baseline_s), unit.scaled(r.treatment_s)
        known = r.baseline_s is not None and r.treatment_s is not None and b
        label = f"{100 * (t - b) / b:+.1f}%" if known else r.verdict
        ax.text(drawn + top * 0.01, y - 0.2, label, va="center", fontsize=8)
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.18)
    ax.set_xlabel(f"stage {unit.label}, {unit.axis}")
    ax.set_title(
        f"Gate {verdict.gate}: stage {unit.label}, baseline vs treatment ({verdict.verdict})"
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


def summary_chart(verdict: Verdict, unit: Unit | None = None) -> Figure:
    """The whole run's deltas (percent) against the band limits: the total and peak memory."""
    unit = unit or SECONDS
    fig = Figure(figsize=(7, 2.8), dpi=100, layout="constrained")  # laid out when drawn
    ax = fig.add_subplot()
    wanted = {unit.total: f"total {unit.label}", "peak_worker_memory_mb": "peak worker memory"}
    rows = [s for s in verdict.signals if s.signal in wanted]
    labels = [wanted[s.signal] for s in rows]
    values = [chart_number(s.delta_pct or 0.0) for s in rows]
    ax.barh(labels, values, color=[BAND_COLOURS.get(s.verdict, "#9e9e9e") for s in rows])
    for i, s in enumerate(rows):
        text = f"{s.delta_pct:+.1f}%" if s.delta_pct is not None else "n/a"
        ax.text(values[i], i, f" {text}", va="center", fontsize=9)
    ax.axvline(0, color="black", linewidth=0.8)
    for limit, style in ((5, ":"), (10, "--"), (15, "-.")):
        ax.axvline(limit, color="#757575", linestyle=style, linewidth=0.8)
    span = max([abs(v) for v in values] + [16.0])
    ax.set_xlim(-span * 1.1, span * 1.25)
    ax.set_xlabel(
        "(treatment - baseline) / baseline, %\nlines: +5% dotted, +10% dashed, +15% dash-dot"
    )
    ax.set_title(f"Gate {verdict.gate}: run summary")
    return fig


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_png(fig: Figure, path: str) -> str:
    """Write ``fig`` as PNG to a local path or fsspec URL; returns the path."""
    storage.write_bytes(path, png_bytes(fig))
    return path
