"""History of a gate's scheduled baselines: load the GCS mirror, trends, change points.

Only :func:`load_history` does I/O. Times are seconds, memory MB; spreads are 1.4826 MAD.
The mirror layout, the scheduled-run rule and the methods: ``docs/audit-trail.md``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from perfgate_lib.errors import ReportError
from perfgate_lib.io import storage
from perfgate_lib.io.bulkread import fetch_many
from perfgate_lib.timeutil import parse_time
from perfgate_lib.verdict.gates import DEFAULT_MIRROR, check_gate, load_gate, mirror_pattern
from perfgate_lib.verdict.report import PerfReport, loads_report

log = logging.getLogger("perfgate.history")

MAD_TO_SIGMA = 1.4826
DEFAULT_LAST_N = 14  # scheduled baselines in the noise context (two weeks of dailies)
TOO_NOISY_ABOVE_PCT = 5.0  # spread above the stage pass band reaches into the warn band
_STAMP = re.compile(r"report_(\d{8}T\d{6}Z)_tier(\d+)/perf_report\.json$")


@dataclass(frozen=True)
class SkippedReport:
    path: str
    reason: str


@dataclass
class History:
    """A gate's scheduled baselines, indexed by ``time`` (the folder's UTC stamp)."""

    gate: int
    mirror: str
    # one float column of wall seconds per stage, report order; NaN: absent, null or cached
    stages: pd.DataFrame
    # path, workflow_run_id, commit_sha, iris_job_id, status, wall_seconds_total (s),
    # peak_worker_memory_mb (MB, NaN when 0), preemption_count, cached_steps (comma-joined)
    reports: pd.DataFrame
    skipped: list[SkippedReport] = field(default_factory=list)  # malformed / unreadable
    excluded: list[SkippedReport] = field(default_factory=list)  # not scheduled main runs
    listed: int = 0  # report paths found in the mirror for this tier

    def __len__(self) -> int:
        return len(self.stages)


def stamp_time(path: str) -> pd.Timestamp | None:
    """The UTC time in a mirror path ``report_<YYYYMMDDTHHMMSSZ>_tier<N>/...``; None when
    the path has no such stamp or its stamp is no real time (month 13)."""
    found = _STAMP.search(str(path))
    when = parse_time(found[1]) if found else None
    return None if when is None else pd.Timestamp(when)


def scheduled_reason(report: PerfReport, workflow_name: str) -> str | None:
    """None when ``report`` is a scheduled main baseline, else why it is not."""
    name = report.raw.get("workflow_name")
    if "workflow_run_id" in report.raw and not report.workflow_run_id:
        return "no workflow_run_id (a manual or treatment run)"
    if name and name != workflow_name:
        return f"workflow {name!r} is not {workflow_name!r}"
    if report.status is not None and report.status != "succeeded":
        return f"status {report.status!r}"
    return None


def _float(value: float | int | None) -> float:
    return math.nan if value is None else float(value)


def _frames(rows: list[tuple[pd.Timestamp, str, PerfReport]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    index = pd.DatetimeIndex([r[0] for r in rows], name="time")
    stage_rows = [
        {
            s: math.nan if v is None or s in rep.cached_steps else float(v)
            for s, v in rep.stage_wall_seconds.items()
        }
        for _, _, rep in rows
    ]
    report_rows = [
        {
            "path": path,
            "workflow_run_id": rep.workflow_run_id,
            "commit_sha": rep.commit_sha,
            "iris_job_id": rep.iris_job_id,
            "status": rep.status,
            "wall_seconds_total": _float(rep.wall_seconds_total),
            "peak_worker_memory_mb": _float(rep.peak_memory_mb),
            "preemption_count": _float(rep.preemption_count),
            "cached_steps": ",".join(rep.cached_steps),
        }
        for _, path, rep in rows
    ]
    stages = pd.DataFrame.from_records(stage_rows, index=index).astype(float)
    return stages, pd.DataFrame.from_records(report_rows, index=index)


def load_history(
    gate: int,
    mirror: str = DEFAULT_MIRROR,
    *,
    last: int | None = None,
    scheduled_only: bool = True,
    concurrency: int | None = None,
) -> History:
    """Load tier ``gate``'s reports from ``mirror`` (the newest ``last`` paths when given).

    Malformed reports are logged and go to ``skipped``, non-scheduled ones to
    ``excluded``; listing errors (mirror unreachable) propagate."""
    gate = check_gate(gate)
    params = load_gate(gate)
    found = [(stamp_time(p), p) for p in storage.glob(mirror_pattern(mirror, params))]
    listed = sorted((when, path) for when, path in found if when is not None)
    skipped = [  # named like a report, at a time no calendar has
        SkippedReport(path, "its folder's time is not a real time")
        for when, path in found
        if when is None and _STAMP.search(path)
    ]
    if last is not None:
        listed = listed[-last:] if last > 0 else []
    blobs = fetch_many([p for _, p in listed], concurrency)
    rows: dict[pd.Timestamp, tuple[pd.Timestamp, str, PerfReport]] = {}
    excluded: list[SkippedReport] = []
    for when, path in listed:
        blob = blobs[path]
        try:
            if isinstance(blob, BaseException):
                raise ReportError(path, None, f"cannot read: {type(blob).__name__}: {blob}")
            report = loads_report(blob, path)
        except ReportError as exc:
            log.warning("skipping malformed report %s", exc)
            skipped.append(SkippedReport(path, str(exc)))
            continue
        reason = scheduled_reason(report, params.workflow_name) if scheduled_only else None
        if reason:
            excluded.append(SkippedReport(path, reason))
        else:
            rows[when] = (when, path, report)  # one report per timestamp: the last listed
    stages, reports = _frames(list(rows.values()))
    return History(gate, str(mirror), stages, reports, skipped, excluded, len(listed))


def _mad(values: np.ndarray) -> float:
    return float(np.median(np.abs(values - np.median(values))))


def rolling_band(
    frame: pd.DataFrame, window: int = 14, k: float = 2.0, min_periods: int = 5
) -> pd.DataFrame:
    """Trailing rolling median and noise band per column, over the last ``window`` values.

    Indexed by (``time``, ``stage``); float columns ``seconds``, ``median_s``, ``sigma_s``
    (1.4826 x rolling MAD), ``lower_s`` / ``upper_s`` (median -/+ ``k`` sigma)."""
    cols = ["seconds", "median_s", "sigma_s", "lower_s", "upper_s"]
    parts = []
    for stage in frame.columns:
        s = frame[stage].dropna()
        if s.empty:
            continue
        roll = s.rolling(window, min_periods=min_periods)
        median, sigma = roll.median(), roll.apply(_mad, raw=True) * MAD_TO_SIGMA
        band = {"lower_s": median - k * sigma, "upper_s": median + k * sigma}
        part = pd.DataFrame({"seconds": s, "median_s": median, "sigma_s": sigma, **band})
        parts.append(part.assign(stage=stage))
    if not parts:
        empty = pd.MultiIndex.from_arrays(
            [pd.DatetimeIndex([], tz="UTC"), []], names=["time", "stage"]
        )
        return pd.DataFrame(columns=cols, index=empty, dtype=float)
    out = pd.concat(parts)
    out.index.name = "time"
    return out.set_index("stage", append=True).sort_index()


@dataclass(frozen=True)
class ChangePoint:
    """A level shift in a stage's series: ``time`` is the first report at the new level."""

    stage: str
    time: pd.Timestamp
    before_s: float  # median of the segment before (seconds)
    after_s: float  # median of the segment after (seconds)
    shift_pct: float  # (after - before) / before, percent
    z: float  # shift over its robust standard error

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "time": self.time.isoformat(),
            "before_s": round(self.before_s, 2),
            "after_s": round(self.after_s, 2),
            "shift_pct": round(self.shift_pct, 2),
            "z": round(self.z, 1),
        }


def _noise_sigma(x: np.ndarray) -> float:
    """1.4826 MAD of the first differences over sqrt(2) (a shift moves one difference)."""
    diffs = np.diff(x)
    sigma = MAD_TO_SIGMA * _mad(diffs) / math.sqrt(2) if len(diffs) else 0.0
    return sigma if sigma > 0 else max(1e-9, 1e-6 * float(np.median(np.abs(x))))


def _best_split(x: np.ndarray, min_size: int) -> tuple[int, float, float] | None:
    """(k, median before, median after) of the split with the least L1 cost."""
    best = None
    for k in range(min_size, len(x) - min_size + 1):
        left, right = x[:k], x[k:]
        ml, mr = float(np.median(left)), float(np.median(right))
        cost = float(np.abs(left - ml).sum() + np.abs(right - mr).sum())
        if best is None or cost < best[0]:
            best = (cost, k, ml, mr)
    return None if best is None else best[1:]


def change_points(
    series: pd.Series,
    *,
    min_size: int = 7,
    z_min: float = 8.0,
    min_shift_pct: float = 3.0,
    max_points: int = 10,
) -> list[ChangePoint]:
    """Level shifts in one series (index: time, NaN ignored), oldest first."""
    s = series.dropna()
    values = s.to_numpy(dtype=float)
    sigma = _noise_sigma(values)
    found: list[ChangePoint] = []
    todo = [(0, len(values))]
    while todo and len(found) < max_points:
        lo, hi = todo.pop()
        split = _best_split(values[lo:hi], min_size) if hi - lo >= 2 * min_size else None
        if split is None:
            continue
        k, ml, mr = split
        z = abs(mr - ml) / (1.2533 * sigma * math.sqrt(1 / k + 1 / (hi - lo - k)))
        shift = (mr - ml) / ml * 100 if ml else math.inf
        if z < z_min or abs(shift) < min_shift_pct:
            continue
        found.append(ChangePoint(str(series.name), s.index[lo + k], ml, mr, shift, z))
        todo += [(lo, lo + k), (lo + k, hi)]
    return sorted(found, key=lambda c: c.time)


def detect_change_points(frame: pd.DataFrame, **kwargs: Any) -> list[ChangePoint]:
    """:func:`change_points` of every column of a time x stage frame, by time then stage."""
    out = [
        c for stage in frame.columns for c in change_points(frame[stage].rename(stage), **kwargs)
    ]
    return sorted(out, key=lambda c: (c.time, c.stage))


def _recent(frame: pd.DataFrame, stage: str, last_n: int) -> np.ndarray:
    if stage not in frame.columns:
        return np.array([], dtype=float)
    return frame[stage].tail(last_n).dropna().to_numpy(dtype=float)


def place_treatment(
    frame: pd.DataFrame,
    treatment: PerfReport | Mapping[str, float | None],
    last_n: int = 30,
) -> pd.DataFrame:
    """Where each treatment stage (a report or ``{stage: seconds}``; cached or null left
    out) falls among the last ``last_n`` baselines: a frame indexed by ``stage`` with
    ``treatment_s``, ``median_s``, ``delta_pct``, ``percentile``, ``robust_z`` and ``n``;
    NaN statistics under 3 baselines, NaN ``robust_z`` when MAD is 0."""
    if isinstance(treatment, PerfReport):
        cached = set(treatment.cached_steps)
        values = {s: v for s, v in treatment.stage_wall_seconds.items() if s not in cached}
    else:
        values = dict(treatment)
    rows = []
    for stage, value in values.items():
        if value is None:
            continue
        hist = _recent(frame, stage, last_n)
        row = {"stage": stage, "treatment_s": float(value), "n": len(hist)}
        if len(hist) >= 3:
            median = float(np.median(hist))
            sigma = MAD_TO_SIGMA * _mad(hist)
            row["median_s"] = median
            row["delta_pct"] = (value - median) / median * 100 if median else math.nan
            below = float(np.mean(hist < value)) + 0.5 * float(np.mean(hist == value))
            row["percentile"] = 100 * below
            row["robust_z"] = (value - median) / sigma if sigma > 0 else math.nan
        rows.append(row)
    cols = ["treatment_s", "median_s", "delta_pct", "percentile", "robust_z", "n"]
    out = pd.DataFrame.from_records(rows, columns=["stage", *cols]).set_index("stage")
    return out.astype({c: float for c in cols[:-1]} | {"n": int})


def noise_context(
    history_df: pd.DataFrame,
    stages: Iterable[str],
    last_n: int = DEFAULT_LAST_N,
    *,
    too_noisy_above_pct: float = TOO_NOISY_ABOVE_PCT,
    min_n: int = 3,
) -> dict[str, dict[str, Any]]:
    """``{column: {"spread_pct", "n", "too_noisy"}}`` over the last ``last_n`` rows;
    ``spread_pct`` is 100 x 1.4826 MAD / median (None under ``min_n`` or a median of 0)."""
    out: dict[str, dict[str, Any]] = {}
    for stage in stages:
        hist = _recent(history_df, stage, last_n)
        median = float(np.median(hist)) if len(hist) >= min_n else 0.0
        spread = round(100 * MAD_TO_SIGMA * _mad(hist) / median, 2) if median > 0 else None
        too_noisy = spread is not None and spread > too_noisy_above_pct
        out[stage] = {"spread_pct": spread, "n": int(len(hist)), "too_noisy": too_noisy}
    return out


def noise_context_for_gate(
    gate: int,
    stages: Iterable[str],
    *,
    mirror: str = DEFAULT_MIRROR,
    last_n: int = DEFAULT_LAST_N,
    too_noisy_above_pct: float = TOO_NOISY_ABOVE_PCT,
) -> dict[str, dict[str, Any]]:
    """:func:`noise_context` (``stages`` may include ``wall_seconds_total``) of the mirror's
    newest ``3 x last_n + 10`` report paths; ``{}`` when the mirror is unreachable."""
    try:
        hist = load_history(gate, mirror, last=3 * last_n + 10)
    except Exception as exc:  # noqa: BLE001 - the context is optional
        # any backend's failure (StorageError, OSError, gcsfs and google.auth errors) means
        # "no context", never a failed gate
        log.warning("no noise context: mirror %s unreachable (%s)", mirror, type(exc).__name__)
        return {}
    if hist.reports.empty or "wall_seconds_total" not in hist.reports:
        return {}
    frame = hist.stages.join(hist.reports[["wall_seconds_total"]])
    return noise_context(frame, stages, last_n, too_noisy_above_pct=too_noisy_above_pct)


def stage_noise_notes(noise: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The comment's noise column: ``±3.1% (n=14)`` (`` too noisy to judge`` above the
    band); stages without history are left out."""
    return {
        stage: f"±{ctx['spread_pct']:.1f}% (n={ctx['n']})"
        + (" too noisy to judge" if ctx.get("too_noisy") else "")
        for stage, ctx in noise.items()
        if ctx.get("spread_pct") is not None
    }


def summarize(
    history: History,
    *,
    last_n: int = DEFAULT_LAST_N,
    treatment: PerfReport | None = None,
    too_noisy_above_pct: float = TOO_NOISY_ABOVE_PCT,
    points: list[ChangePoint] | None = None,
) -> dict[str, Any]:
    """JSON-ready summary: per stage ``reports``, ``latest_s``, ``median_s`` (last
    ``last_n``), ``trend_pct`` (vs the ``last_n`` before) and :func:`noise_context`;
    ``change_points``; ``treatment`` (:func:`place_treatment`) when given; ``skipped``."""
    frame = history.stages
    noise = noise_context(frame, frame.columns, last_n, too_noisy_above_pct=too_noisy_above_pct)
    points = detect_change_points(frame) if points is None else points
    stages = {}
    for stage in frame.columns:
        s = frame[stage].dropna()
        recent = s.tail(last_n)
        before = s.iloc[-2 * last_n : -last_n] if len(s) > last_n else s.iloc[:0]
        med = float(recent.median()) if len(recent) else None
        prev = float(before.median()) if len(before) else None
        stages[stage] = {
            "reports": int(len(s)),
            "latest_s": float(s.iloc[-1]) if len(s) else None,
            "median_s": med,
            "trend_pct": round((med - prev) / prev * 100, 2) if med and prev else None,
            **noise[stage],
        }
    out: dict[str, Any] = {
        "gate": history.gate,
        "mirror": history.mirror,
        "reports": len(history),
        "listed": history.listed,
        "first": frame.index[0].isoformat() if len(frame) else None,
        "last": frame.index[-1].isoformat() if len(frame) else None,
        "last_n": last_n,
        "stages": stages,
        "change_points": [c.to_json() for c in points],
        "skipped": [{"path": s.path, "reason": s.reason} for s in history.skipped],
        "excluded": len(history.excluded),
    }
    if treatment is not None:
        placed = place_treatment(frame, treatment, last_n).to_dict(orient="index")
        out["treatment"] = {
            "source": treatment.source,
            "stages": {s: {k: _json_num(v) for k, v in row.items()} for s, row in placed.items()},
        }
    return out


def _json_num(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 2)
    return int(value) if isinstance(value, np.integer) else value
