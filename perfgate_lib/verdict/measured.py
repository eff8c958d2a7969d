"""What gate 0 decided on, in the verdict: the decision metric's figures, named by unit.

:func:`apply_measured` makes the paired total its own signal; :func:`metric_view` is a
copy whose rows hold the metric (``docs/gate0.md``). Pure."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pydantic

from perfgate_lib.errors import usage_at
from perfgate_lib.mdtext import fmt_duration
from perfgate_lib.typed import FORBID_EXTRA, Number, read_model
from perfgate_lib.verdict.rules import SignalRow, Verdict

WALL_TOTAL = "wall_seconds_total"
GATE0 = 0
GATE0_NAME = "local A/B"


@dataclass(frozen=True)
class Unit:
    """A metric's name in labels, its total signal's name and how figures are printed."""

    metric: str  # instructions | cpu | wall
    label: str  # "instructions", "CPU time", "wall time"
    total: str  # the whole-run signal's name: instructions_total, cpu_seconds_total, ...
    json_key: str  # suffix of verdict.json's per-stage keys: instructions, cpu_s, wall_s

    @property
    def counts(self) -> bool:
        return self.metric == "instructions"

    def fmt(self, value: float | None) -> str:
        """``257.5M instr`` (4 significant digits) or ``52.4s``; a dash for None."""
        if value is None:
            return "—"
        return fmt_instructions(value) if self.counts else fmt_seconds(value)

    def signed(self, value: float) -> str:
        """A signed change: ``+101.3M instr`` or ``+14.6s``."""
        return ("-" if value < 0 else "+") + self.fmt(abs(value))

    @property
    def axis(self) -> str:
        """Axis label: ``instructions (millions)`` or ``seconds``."""
        return "instructions (millions)" if self.counts else "seconds"

    def scaled(self, value: float | None) -> float:
        """A value in the axis unit (millions of instructions, seconds)."""
        return 0.0 if value is None else (value / 1e6 if self.counts else float(value))


UNITS = {
    "instructions": Unit("instructions", "instructions", "instructions_total", "instructions"),
    "cpu": Unit("cpu", "CPU time", "cpu_seconds_total", "cpu_s"),
    "wall": Unit("wall", "wall time", WALL_TOTAL, "wall_s"),
}
SECONDS = UNITS["wall"]


CHART_MAX = 1e12
"""The largest magnitude a chart draws (seconds, millions of instructions or percent)."""


def chart_number(value: float) -> float:
    """A hostile figure as a chart can lay it out: clipped to +-CHART_MAX, NaN as 0 (an
    infinite axis limit raised and stopped the comparison)."""
    return 0.0 if math.isnan(value) else max(-CHART_MAX, min(CHART_MAX, value))


def fmt_instructions(value: float) -> str:
    """An instruction count with 4 significant digits: ``257.5M instr``, ``1.262G instr``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            scaled = value / scale
            decimals = max(0, 3 - int(math.floor(math.log10(abs(scaled)))))
            return f"{scaled:.{decimals}f}{suffix} instr"
    return f"{value:.0f} instr"


def fmt_seconds(value: float) -> str:
    """Seconds, 3 significant digits under 10 minutes (``4.93s``, ``312s``), else ``14m 05s``."""
    if abs(value) >= 600:
        return fmt_duration(value)
    if abs(value) >= 100:
        return f"{value:.0f}s"
    return f"{value:.1f}s" if abs(value) >= 10 else f"{value:.2f}s"


def delta_pct(baseline: float | None, treatment: float | None) -> float | None:
    """(treatment - baseline) / baseline in percent, 2 decimals; None when unknown or 0."""
    if baseline is None or treatment is None or baseline == 0:
        return None
    return round(100 * (treatment - baseline) / baseline, 2)


Figure = Annotated[Number, pydantic.Field(ge=0, allow_inf_nan=False)]
"""A measured figure: a count or seconds, finite and not negative."""


@dataclass(frozen=True)
class _Figures:
    __pydantic_config__ = FORBID_EXTRA

    baseline: Figure  # median over the pairs, in the metric's unit
    treatment: Figure


@dataclass(frozen=True)
class _MeasuredJson:
    """:class:`Measured` as JSON (``compare_context.json``'s ``measured``)."""

    __pydantic_config__ = FORBID_EXTRA

    metric: Literal["instructions", "cpu", "wall"]
    rows: dict[str, _Figures] = field(default_factory=dict)


@dataclass(frozen=True)
class Measured:
    """Gate 0's decision metric: row name (a stage or ``wall_seconds_total``) ->
    (baseline, treatment) medians in the metric's unit."""

    metric: str
    rows: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def unit(self) -> Unit:
        return UNITS[self.metric]

    @classmethod
    def from_json(cls, data: Any, source: str = "context.measured") -> Measured:
        """From ``{"metric", "rows": {name: {"baseline", "treatment"}}}``; UsageError names a bad key."""
        doc = read_model(_MeasuredJson, data, lambda key, problem: usage_at(source, key, problem))
        return cls(doc.metric, {name: (f.baseline, f.treatment) for name, f in doc.rows.items()})

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "rows": {n: {"baseline": b, "treatment": t} for n, (b, t) in self.rows.items()},
        }


def apply_measured(verdict: Verdict, measured: Measured) -> None:
    """Make ``verdict`` name and show the metric gate 0 decided on (mutates it)."""
    unit = measured.unit
    wall = next((s for s in verdict.signals if s.signal == WALL_TOTAL), None)
    for row in verdict.stages:
        row.delta_pct = delta_pct(row.baseline_s, row.treatment_s)
    if wall is None:
        return
    wall.delta_pct = delta_pct(wall.baseline, wall.treatment)
    if unit.total == WALL_TOTAL or WALL_TOTAL not in measured.rows:
        return
    b, t = measured.rows[WALL_TOTAL]
    note = wall.note or "decided on the paired interval"
    total = SignalRow(unit.total, b, t, delta_pct(b, t), wall.verdict, note)
    wall.verdict = "n/a"
    wall.note = f"reported, not judged: gate 0 decides on {unit.label} ({unit.total})"
    verdict.signals.insert(verdict.signals.index(wall), total)
    prefix = f"{WALL_TOTAL}:"
    for lines in (verdict.hard_fails, verdict.warns, verdict.inconclusive_reasons):
        lines[:] = [
            f"{unit.total}:{line[len(prefix) :]}" if line.startswith(prefix) else line
            for line in lines
        ]
    verdict.notes[:] = [n for n in verdict.notes if not n.startswith(f"{WALL_TOTAL}: n/a")]


def metric_view(verdict: Verdict, measured: Measured | None) -> Verdict:
    """A copy of ``verdict`` whose stage rows hold the decision metric (the verdict itself
    without ``measured``)."""
    if measured is None or measured.metric == "wall":
        return verdict
    view = copy.deepcopy(verdict)
    for row in view.stages:
        if row.stage in measured.rows and row.verdict not in ("cached", "not_finished"):
            row.baseline_s, row.treatment_s = measured.rows[row.stage]
            row.delta_pct = delta_pct(row.baseline_s, row.treatment_s)
    return view


def stage_keys(verdict: Verdict, measured: Measured | None) -> list[dict[str, Any]]:
    """verdict.json's stage rows; for gate 0 with ``baseline_<unit>``, ``treatment_<unit>``
    and ``<unit>_delta_pct`` beside the wall seconds."""
    rows = verdict.to_json()["stages"]
    if measured is None:
        return rows
    key = measured.unit.json_key
    for row in rows:
        figures = measured.rows.get(row["stage"])
        if figures is None:
            continue
        row["metric"] = measured.metric
        row[f"baseline_{key}"], row[f"treatment_{key}"] = figures
        row[f"{key}_delta_pct"] = delta_pct(*figures)
    return rows


def verdict_json(verdict: Verdict, measured: Measured | None = None) -> dict[str, Any]:
    """verdict.json: :meth:`Verdict.to_json` plus, for gate 0, ``decision_metric`` and
    :func:`stage_keys`."""
    data = verdict.to_json()
    if measured is not None:
        data["decision_metric"] = {
            "metric": measured.metric,
            "label": measured.unit.label,
            "total_signal": measured.unit.total,
        }
        data["stages"] = stage_keys(verdict, measured)
    return data
