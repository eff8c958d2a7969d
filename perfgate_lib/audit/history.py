"""History of a gate's scheduled baselines: load the GCS mirror, trends, change points.

:func:`load_history` fetches the tier's reports concurrently, skips malformed ones
(logged, naming the file) and keeps scheduled main runs only (:func:`scheduled_reason`).
Everything after loading is pure. Times are seconds, memory MB; spreads are 1.4826 MAD.
The mirror layout and the methods: ``docs/audit-trail.md`` ("History").
"""

from __future__ import annotations

import datetime as dt
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
from perfgate_lib.verdict.gates import DEFAULT_MIRROR, check_gate, load_gate, mirror_pattern
from perfgate_lib.verdict.report import PerfReport, loads_report

log = logging.getLogger("perfgate.history")

MAD_TO_SIGMA = 1.4826
DEFAULT_LAST_N = 14  # scheduled baselines in the noise context (two weeks of dailies)
TOO_NOISY_ABOVE_PCT = 5.0  # spread above the stage pass band reaches into the warn band
_STAMP = re.compile(r"report_(\d{8}T\d{6}Z)_tier(\d+)/perf_report\.json$")


@dataclass(frozen=True)
class SkippedReport:
    """A mirror report left out of the history, and why."""

    path: str
    reason: str


@dataclass
class History:
    """A gate's scheduled baselines.

    ``stages``: index ``time`` (the folder's UTC stamp, ascending); one float column of wall
    seconds per stage (report order, eras never merged), NaN where absent, null or cached.
    ``reports`` (same index): ``path``, ``workflow_run_id``, ``commit_sha``, ``iris_job_id``,
    ``status`` (str or None), ``wall_seconds_total`` (s), ``peak_worker_memory_mb`` (MB, NaN
    when 0/unknown), ``preemption_count`` (NaN when absent), ``cached_steps`` (comma-joined).
    """

    gate: int
    mirror: str
    stages: pd.DataFrame
    reports: pd.DataFrame
    skipped: list[SkippedReport] = field(default_factory=list)  # malformed / unreadable
    excluded: list[SkippedReport] = field(default_factory=list)  # not scheduled main runs
    listed: int = 0  # report paths found in the mirror for this tier

    def __len__(self) -> int:
        return len(self.stages)


# ---------------------------------------------------------------- loading (I/O edge)


def stamp_time(path: str) -> pd.Timestamp | None:
    """The UTC time in a mirror path ``report_<YYYYMMDDTHHMMSSZ>_tier<N>/...``."""
    found = _STAMP.search(str(path))
    if not found:
        return None
    when = dt.datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return pd.Timestamp(when)


def list_mirror(gate: int, mirror: str = DEFAULT_MIRROR) -> list[tuple[pd.Timestamp, str]]:
    """``(time, path)`` of every tier-``gate`` report under ``mirror``, oldest first."""
    found = [(stamp_time(p), p) for p in storage.glob(mirror_pattern(mirror, load_gate(gate)))]
    return sorted((when, path) for when, path in found if when is not None)


def scheduled_reason(report: PerfReport, workflow_name: str) -> str | None:
    """None when ``report`` counts as a scheduled main baseline, else why it does not
    (the rule: ``docs/audit-trail.md``, "History").
    """
    raw = report.raw
    if "workflow_run_id" in raw and not report.workflow_run_id:
        return "no workflow_run_id (a manual or treatment run)"
    name = raw.get("workflow_name")
    if name and name != workflow_name:
        return f"workflow {name!r} is not {workflow_name!r}"
    if report.status is not None and report.status != "succeeded":
        return f"status {report.status!r}"
    return None


def _frames(rows: list[tuple[pd.Timestamp, str, PerfReport]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    index = pd.DatetimeIndex([r[0] for r in rows], name="time")
    stage_rows: list[dict[str, float]] = []
    report_rows: list[dict[str, Any]] = []
    for _, path, rep in rows:
        cached = set(rep.cached_steps)
        stage_rows.append(
            {
                s: (math.nan if v is None or s in cached else float(v))
                for s, v in rep.stage_wall_seconds.items()
            }
        )
        report_rows.append(
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
        )
    stages = pd.DataFrame.from_records(stage_rows, index=index).astype(float)
    reports = pd.DataFrame.from_records(report_rows, index=index)
    return stages, reports


def _float(value: float | int | None) -> float:
    return math.nan if value is None else float(value)


def load_history(
    gate: int,
    mirror: str = DEFAULT_MIRROR,
    *,
    last: int | None = None,
    scheduled_only: bool = True,
    concurrency: int | None = None,
) -> History:
    """Load tier ``gate``'s reports from ``mirror`` (the newest ``last`` paths when given).

    Malformed or unreadable reports are skipped with a logged warning naming the file
    (also in ``History.skipped``); non-scheduled ones go to ``History.excluded``.
    Listing errors (mirror unreachable) propagate.
    """
    gate = check_gate(gate)
    params = load_gate(gate)
    listed = list_mirror(gate, mirror)
    if last is not None:
        listed = listed[-last:] if last > 0 else []
    blobs = fetch_many([p for _, p in listed], concurrency)
    rows: list[tuple[pd.Timestamp, str, PerfReport]] = []
    skipped: list[SkippedReport] = []
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
            continue
        rows.append((when, path, report))
    # one report per timestamp: the last listed wins
    dedup = {when: (when, path, rep) for when, path, rep in rows}
    stages, reports = _frames(list(dedup.values()))
    return History(gate, str(mirror), stages, reports, skipped, excluded, len(listed))


# ---------------------------------------------------------------- pure analysis


def _mad(values: np.ndarray) -> float:
    return float(np.median(np.abs(values - np.median(values))))


def rolling_band(
    frame: pd.DataFrame, window: int = 14, k: float = 2.0, min_periods: int = 5
) -> pd.DataFrame:
    """Trailing per-column rolling median and noise band.

    Returns a long DataFrame indexed by (``time``, ``stage``) with float columns
    ``seconds`` (the observation), ``median_s``, ``sigma_s`` (1.4826 x rolling MAD),
    ``lower_s`` / ``upper_s`` (median -/+ ``k`` sigma), over the last ``window``
    non-missing observations of that stage (``NaN`` until ``min_periods`` exist).
    """
    parts = []
    for stage in frame.columns:
        s = frame[stage].dropna()
        if s.empty:
            continue
        roll = s.rolling(window, min_periods=min_periods)
        median = roll.median()
        sigma = roll.apply(_mad, raw=True) * MAD_TO_SIGMA
        part = pd.DataFrame(
            {
                "seconds": s,
                "median_s": median,
                "sigma_s": sigma,
                "lower_s": median - k * sigma,
                "upper_s": median + k * sigma,
            }
        )
        part["stage"] = stage
        parts.append(part)
    if not parts:
        cols = ["seconds", "median_s", "sigma_s", "lower_s", "upper_s"]
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
    """Robust noise scale of a series with level shifts: 1.4826 MAD of the first
    differences over sqrt(2) (a shift moves only one difference)."""
    diffs = np.diff(x)
    sigma = MAD_TO_SIGMA * _mad(diffs) / math.sqrt(2) if len(diffs) else 0.0
    return sigma if sigma > 0 else max(1e-9, 1e-6 * float(np.median(np.abs(x))))


def _best_split(x: np.ndarray, min_size: int) -> tuple[int, float, float] | None:
    """The split minimizing the L1 cost (absolute deviations from each side's median):
    (k, median before, median after)."""
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
    """Level shifts in one series (index: time), by binary segmentation on medians, oldest
    first; ``NaN`` values are ignored. The split rule and its defaults:
    ``docs/audit-trail.md`` ("History").
    """
    s = series.dropna()
    values = s.to_numpy(dtype=float)
    sigma = _noise_sigma(values)
    found: list[tuple[int, float, float, float, float]] = []
    todo = [(0, len(values))]
    while todo and len(found) < max_points:
        lo, hi = todo.pop()
        if hi - lo < 2 * min_size:
            continue
        split = _best_split(values[lo:hi], min_size)
        if split is None:
            continue
        k, ml, mr = split
        n1, n2 = k, hi - lo - k
        z = abs(mr - ml) / (1.2533 * sigma * math.sqrt(1 / n1 + 1 / n2))
        shift = (mr - ml) / ml * 100 if ml else math.inf
        if z < z_min or abs(shift) < min_shift_pct:
            continue
        found.append((lo + k, z, ml, mr, shift))
        todo += [(lo, lo + k), (lo + k, hi)]
    out = [
        ChangePoint(str(series.name), s.index[i], ml, mr, shift, z) for i, z, ml, mr, shift in found
    ]
    return sorted(out, key=lambda c: c.time)


def detect_change_points(frame: pd.DataFrame, **kwargs: Any) -> list[ChangePoint]:
    """:func:`change_points` for every column of a time x stage frame, by time then stage."""
    out: list[ChangePoint] = []
    for stage in frame.columns:
        out += change_points(frame[stage].rename(stage), **kwargs)
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
    """Where each treatment stage falls among the last ``last_n`` scheduled baselines.

    ``treatment`` is a report or ``{stage: seconds}``; cached or null stages are left out.
    Returns a DataFrame indexed by ``stage`` with columns ``treatment_s``, ``median_s``
    (of the history window, s), ``delta_pct`` (treatment vs that median, percent),
    ``percentile`` (0-100: share of baselines below, ties count half), ``robust_z``
    ((treatment - median) / (1.4826 MAD); ``NaN`` when MAD is 0), ``n`` (baselines used).
    Stages with fewer than 3 baselines get ``NaN`` statistics.
    """
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
    """Recent spread of each column (a stage, or e.g. ``wall_seconds_total``) over the last
    ``last_n`` rows: ``{stage: {"spread_pct", "n", "too_noisy"}}``. ``spread_pct`` = 100 x
    1.4826 x MAD / median of the non-missing values (None when ``n < min_n`` or the median
    is 0); ``too_noisy``: above ``too_noisy_above_pct`` (the stage pass band, 5%, by default).
    """
    out: dict[str, dict[str, Any]] = {}
    for stage in stages:
        hist = _recent(history_df, stage, last_n)
        spread = None
        if len(hist) >= min_n:
            median = float(np.median(hist))
            if median > 0:
                spread = round(100 * MAD_TO_SIGMA * _mad(hist) / median, 2)
        out[stage] = {
            "spread_pct": spread,
            "n": int(len(hist)),
            "too_noisy": spread is not None and spread > too_noisy_above_pct,
        }
    return out


def noise_context_for_gate(
    gate: int,
    stages: Iterable[str],
    *,
    mirror: str = DEFAULT_MIRROR,
    last_n: int = DEFAULT_LAST_N,
    too_noisy_above_pct: float = TOO_NOISY_ABOVE_PCT,
) -> dict[str, dict[str, Any]]:
    """:func:`noise_context` from the mirror's newest reports; ``{}`` when it is unreachable.

    ``stages`` may include ``"wall_seconds_total"`` for the launcher's total wall time.
    Reads only the newest ``3 x last_n + 10`` report paths (room for manual and
    malformed ones). Never raises for mirror trouble: the context is optional.
    """
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
    """Short per-stage text for the comment's noise column: ``±3.1% (n=14)``, with
    ``too noisy to judge`` when the spread exceeds the pass band; stages without history
    are left out."""
    notes = {}
    for stage, ctx in noise.items():
        if ctx.get("spread_pct") is None:
            continue
        text = f"±{ctx['spread_pct']:.1f}% (n={ctx['n']})"
        notes[stage] = text + (" too noisy to judge" if ctx.get("too_noisy") else "")
    return notes


def summarize(
    history: History,
    *,
    last_n: int = DEFAULT_LAST_N,
    treatment: PerfReport | None = None,
    too_noisy_above_pct: float = TOO_NOISY_ABOVE_PCT,
    points: list[ChangePoint] | None = None,
) -> dict[str, Any]:
    """JSON-ready summary of a history.

    ``stages``: {stage: {"reports" (non-missing values in all), "latest_s", "median_s"
    (of the last ``last_n``), "trend_pct" (that median vs the median of the ``last_n``
    before, percent), "spread_pct", "n", "too_noisy" (:func:`noise_context`)}};
    ``change_points`` (:meth:`ChangePoint.to_json`); ``treatment`` (:func:`place_treatment`
    rows by stage) when a treatment is given; ``skipped`` malformed reports.
    """
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
        placed = place_treatment(frame, treatment, last_n)
        out["treatment"] = {
            "source": treatment.source,
            "stages": {
                stage: {k: _json_num(v) for k, v in row.items()}
                for stage, row in placed.to_dict(orient="index").items()
            },
        }
    return out


def _json_num(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 2)
    if isinstance(value, np.integer):
        return int(value)
    return value
