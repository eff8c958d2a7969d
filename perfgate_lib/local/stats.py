"""Gate 0's statistics (pure): pairs of stage measurements (seconds, MB, instruction
counts) -> paired intervals and calls per stage and for the total, peak memory's noise row,
and each side's median report. The pair's dict and the method: ``docs/gate0.md``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import pandas as pd

from perfgate_lib.verdict.measured import delta_pct
from perfgate_lib.verdict.paired import (
    Interval,
    StageInterval,
    band_call,
    could_fail,
    paired_interval,
)

TOTAL = "wall_seconds_total"
MEMORY = "peak_worker_memory_mb"
METRICS = {"cpu": "cpu_s", "wall": "wall_s", "instructions": "instructions"}
METRIC_LABELS = {"cpu": "CPU", "wall": "wall", "instructions": "instructions"}
"""How the comment's interval cell names each metric."""
MEDIAN_COLUMNS = {
    "instructions": ("control_instructions", "treatment_instructions", "instructions_delta_pct"),
    "cpu": ("control_cpu_s", "treatment_cpu_s", "cpu_delta_pct"),
    "wall": ("control_wall_s", "treatment_wall_s", "wall_delta_pct"),
}
"""Metric -> the paired table's columns of its per-pair medians (control, treatment: the
metric's unit, a count or seconds) and their delta, (treatment - control) / control in %."""
PAIRED_COLUMNS = [
    *("stage", "metric", "pairs"),
    *(column for columns in MEDIAN_COLUMNS.values() for column in columns),
    *("ratio", "low", "high", "ratio_pct", "low_pct", "high_pct", "call", "could_fail"),
    *("wall_ratio", "wall_low", "wall_high", "wall_call"),
]


def stage_names(pairs: list[dict[str, Any]]) -> list[str]:
    """Stages measured on both sides of every pair, in pipeline order."""
    ordered = dict.fromkeys(stage for pair in pairs for stage in pair.get("control", {}))
    return [stage for stage in ordered if all(stage in p.get("treatment", {}) for p in pairs)]


def pair_values(
    pairs: list[dict[str, Any]], stage: str, metric: str = "cpu"
) -> tuple[list[float], list[float]]:
    """(control, treatment) values of one stage per pair in the metric's unit (seconds, or
    instructions); ``TOTAL`` sums stages. Pairs without the metric on both sides are left
    out (a time-metric A/B counts no instructions), and so is a total of no stage."""
    key = METRICS[metric]
    stages = stage_names(pairs) if stage == TOTAL else [stage]
    control: list[float] = []
    treatment: list[float] = []
    if not stages:  # no stage measured on both sides (a side failed the first one)
        return control, treatment
    for pair in pairs:
        sides = (pair["control"], pair["treatment"])
        if not all(s in side and side[s].get(key) is not None for s in stages for side in sides):
            continue
        control.append(sum(float(pair["control"][s][key]) for s in stages))
        treatment.append(sum(float(pair["treatment"][s][key]) for s in stages))
    return control, treatment


def median_columns(pairs: list[dict[str, Any]], stage: str) -> dict[str, float | None]:
    """The :data:`MEDIAN_COLUMNS` of one stage (or ``TOTAL``): per metric the medians of
    its per-pair values on each side and their delta (None where not measured)."""
    row: dict[str, float | None] = {}
    for metric, (c_col, t_col, d_col) in MEDIAN_COLUMNS.items():
        control, treatment = pair_values(pairs, stage, metric)
        mc = round(statistics.median(control), 4) if control else None
        mt = round(statistics.median(treatment), 4) if treatment else None
        row.update({c_col: mc, t_col: mt, d_col: delta_pct(mc, mt)})
    return row


def _interval(
    pairs: list[dict[str, Any]], stage: str, metric: str, confidence: float
) -> Interval | None:
    """None when no pair has the metric above zero on both sides (nothing to compare)."""
    control, treatment = pair_values(pairs, stage, metric)
    if not any(c > 0 and t > 0 for c, t in zip(control, treatment, strict=True)):
        return None
    return paired_interval(control, treatment, confidence)


def paired_table(
    pairs: list[dict[str, Any]],
    *,
    pass_pct: float = 5.0,
    warn_pct: float = 10.0,
    confidence: float = 0.95,
    metric: str = "cpu",
) -> pd.DataFrame:
    """One row per stage, then ``wall_seconds_total``: the medians, the decision metric's
    paired interval and its call, and wall time's interval as a reported figure (the
    columns, :data:`PAIRED_COLUMNS`: ``docs/gate0.md``, the run folder)."""
    rows = []
    for stage in [*stage_names(pairs), TOTAL]:
        interval = _interval(pairs, stage, metric, confidence)
        if interval is None:
            continue
        wall = _interval(pairs, stage, "wall", confidence)
        rows.append(
            {
                "stage": stage,
                "metric": metric,
                "pairs": interval.pairs,
                **median_columns(pairs, stage),
                "ratio": round(interval.ratio, 4),
                "low": round(interval.low, 4),
                "high": round(interval.high, 4),  # inf (too few pairs) stays inf
                "ratio_pct": round(interval.pct, 2),
                "low_pct": round(interval.low_pct, 2),
                "high_pct": round(interval.high_pct, 2),
                "call": band_call(interval, pass_pct, warn_pct),
                "could_fail": could_fail(interval, warn_pct),
                "wall_ratio": None if wall is None else round(wall.ratio, 4),
                "wall_low": None if wall is None else round(wall.low, 4),
                "wall_high": None if wall is None else wall.high,
                "wall_call": None if wall is None else band_call(wall, pass_pct, warn_pct),
            }
        )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def undecided_stages(table: pd.DataFrame) -> list[str]:
    """Names whose call is still undecided (the adaptive loop adds pairs for them)."""
    return [str(r["stage"]) for r in table.to_dict("records") if r["call"] == "undecided"]


def resolution_pct(table: pd.DataFrame) -> float | None:
    """The median, over stages (not the total), of each interval's half-width in percent,
    ``100 * (sqrt(high / low) - 1)``: about how small a change these pairs can tell from
    none. None when a stage's interval is unbounded (too few pairs)."""
    rows = [r for r in table.to_dict("records") if r["stage"] != TOTAL]
    if not rows or any(float(r["low"]) <= 0 or math.isinf(float(r["high"])) for r in rows):
        return None
    return statistics.median(
        100 * (math.sqrt(float(r["high"]) / float(r["low"])) - 1) for r in rows
    )


def row_interval(row: dict[str, Any], confidence: float = 0.95) -> Interval:
    """The :class:`Interval` of one :func:`paired_table` row (its ``confidence``)."""
    return Interval(
        float(row["ratio"]), float(row["low"]), float(row["high"]), int(row["pairs"]), confidence
    )


def interval_text(row: dict[str, Any]) -> str:
    """The comment's cell: ``instructions ×1.32 [1.27, 1.39], 8 pairs`` (the decision
    metric's paired estimate and interval; wall time has its own column)."""
    label = METRIC_LABELS.get(str(row["metric"]), str(row["metric"]))
    return f"{label} {row_interval(row).text()}"


def interval_context(table: pd.DataFrame, confidence: float) -> dict[str, StageInterval]:
    """``GateContext.intervals`` from a paired table: each stage's typed interval
    (percent changes, the band call, the comment's text)."""
    return {
        str(row["stage"]): StageInterval(
            pct=float(row["ratio_pct"]),
            low_pct=float(row["low_pct"]),
            high_pct=float(row["high_pct"]),
            pairs=int(row["pairs"]),
            call=row["call"],
            metric=str(row["metric"]),
            confidence=confidence,
            text=row_interval(row, confidence).text(),
        )
        for row in table.to_dict("records")
    }


# --- Peak memory: its own noise rule (medians, spread, overlap) -----------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread_pct(values: list[float]) -> float:
    """100 x (max - min) / median; NaN with fewer than 2 values or a zero median."""
    if len(values) < 2:
        return math.nan
    mid = statistics.median(values)
    return math.nan if mid == 0 else 100 * (max(values) - min(values)) / mid


def noise_row(
    name: str, control: list[float], treatment: list[float], resolution: float = 0.0
) -> dict[str, Any]:
    """The noise row of one signal's repeat values (MB for memory): medians and ``delta``
    in their unit, ``delta_pct`` and ``noise_pct`` (the wider side's (max - min) / median)
    in %, and ``within_noise`` = |delta| <= resolution or runs_overlap or |delta_pct| <=
    noise_pct."""
    mc, mt = _median(control), _median(treatment)
    delta = None if not mc or mt is None else round(100 * (mt - mc) / mc, 2)
    delta_abs = None if mc is None or mt is None else round(mt - mc, 4)
    spreads = [_spread_pct(control), _spread_pct(treatment)]
    noise = math.nan if any(math.isnan(s) for s in spreads) else round(max(spreads), 2)
    overlap = bool(
        control and treatment and min(treatment) <= max(control) and min(control) <= max(treatment)
    )
    below_resolution = delta_abs is not None and abs(delta_abs) <= resolution
    spread_ok = delta is not None and not math.isnan(noise) and (overlap or abs(delta) <= noise)
    return {
        "stage": name,
        "control_median": None if mc is None else round(mc, 4),
        "treatment_median": None if mt is None else round(mt, 4),
        "delta_pct": delta,
        "noise_pct": noise,
        "within_noise": bool(delta is not None and (below_resolution or spread_ok)),
        "runs_overlap": overlap,
        "delta": delta_abs,
        "resolution": resolution,
    }


def memory_noise(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The noise row of the per-pair peak memory (medians and delta in MB)."""
    peaks = {
        side: [max(float(r["peak_mb"]) for r in p[side].values()) for p in pairs if p[side]]
        for side in ("control", "treatment")
    }
    return noise_row(MEMORY, peaks["control"], peaks["treatment"])


def memory_note(row: dict[str, Any]) -> str:
    """``within noise (±12.3%)`` for the memory row (its spread)."""
    noise = row.get("noise_pct")
    known = noise is not None and not math.isnan(noise)
    return f"within noise ({f'±{noise:.1f}%' if known else 'spread unknown'})"


# --- Median reports (marin's schema) from one side's per-pair run reports -------------------------


def _values(ok: list[dict[str, Any]], stage: str | None, key: str = TOTAL) -> list[float]:
    """A stage's wall seconds (or ``key``'s value) in each succeeded run that states it."""
    values = ((r.get("stage_wall_seconds") or {}).get(stage) if stage else r.get(key) for r in ok)
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def median_report(
    reports: list[dict[str, Any]], job_id: str, provenance: dict[str, Any]
) -> dict[str, Any]:
    """One report in marin's schema holding the medians of one side's ``reports`` over
    the succeeded runs (seconds, MB; how each field is formed: ``docs/gate0.md``).
    ``provenance``: the report's workflow / commit / collected_at / ferry_module fields."""
    if not reports:
        raise ValueError(f"no runs to summarise for {job_id}")
    ok = [r for r in reports if r.get("status") == "succeeded"]
    stages, cpu = _stage_medians(reports, ok)
    total = _median(_values(ok, None))
    memory = _median(_values(ok, None, MEMORY))
    infra = _worst_infra_failures(reports)
    states = _task_states(reports)
    # a collector's warnings field: only the runs' failures
    warnings = [w for r in reports for w in r.get("warnings") or [] if w.startswith("ferry failed")]
    first = reports[0]
    first_local = first.get("local_run") or {}
    return {
        "iris_job_id": job_id,
        "status": "succeeded" if len(ok) == len(reports) else "failed",
        "marin_prefix": None,
        "wall_seconds_total": None if total is None else round(total, 4),
        "stage_wall_seconds": stages,
        "sum_task_wall_seconds_total": None,
        "cached_steps": [],
        "ooms": infra.get("oom", 0),
        "failed_shards": max(int(r.get("failed_shards") or 0) for r in reports),
        "peak_worker_memory_mb": 0 if memory is None else int(round(memory)),
        "preemption_count": 0,
        "failure_count": sum(int(r.get("failure_count") or 0) for r in reports),
        "task_state_counts": states,
        "tree_job_count": first.get("tree_job_count"),
        "infra_failures": infra,
        **provenance,
        "warnings": warnings,
        "local_run": {
            "summary": f"median of {len(ok)} succeeded of {len(reports)} paired local runs",
            "stage_cpu_seconds": cpu,
            "repeats": [  # each run's figures (seconds, MB)
                {
                    "iris_job_id": r.get("iris_job_id"),
                    "status": r.get("status"),
                    TOTAL: r.get(TOTAL),
                    "stage_wall_seconds": r.get("stage_wall_seconds"),
                    "stage_cpu_seconds": (r.get("local_run") or {}).get("stage_cpu_seconds"),
                    MEMORY: r.get(MEMORY),
                }
                for r in reports
            ],
            **{
                key: first_local.get(key)
                for key in ("zephyr_source", "memory_method", "corpus", "identity")
            },
        },
    }


def _stage_medians(
    reports: list[dict[str, Any]], ok: list[dict[str, Any]]
) -> tuple[dict[str, float], dict[str, float]]:
    """Stage -> median wall seconds, and stage -> median CPU seconds, over the succeeded
    runs (``ok``) that state them; a stage without values is left out."""
    stages = {}
    cpu: dict[str, float] = {}
    for stage in dict.fromkeys(s for r in reports for s in r.get("stage_wall_seconds") or {}):
        if (wall := _median(_values(ok, stage))) is not None:
            stages[stage] = round(wall, 4)
        stated = [(r.get("local_run") or {}).get("stage_cpu_seconds", {}).get(stage) for r in ok]
        if (mid := _median([float(v) for v in stated if v is not None])) is not None:
            cpu[stage] = round(mid, 4)
    return stages, cpu


def _worst_infra_failures(reports: list[dict[str, Any]]) -> dict[str, int]:
    """Infra bucket -> the most failures any run had in it (a count)."""
    infra: dict[str, int] = {}
    for report in reports:
        for bucket, count in (report.get("infra_failures") or {}).items():
            infra[bucket] = max(infra.get(bucket, 0), int(count or 0))
    return infra


def _task_states(reports: list[dict[str, Any]]) -> dict[str, int]:
    """The first failed run's task state counts (else ``{"failed": 1}``), or the last run's."""
    for report in reports:
        if report.get("status") != "succeeded":
            return dict(report.get("task_state_counts") or {"failed": 1})
    return {state: int(n) for state, n in (reports[-1].get("task_state_counts") or {}).items()}
