"""Perf report model: marin's ``perf_report.json`` of every era, validated.

Every field is optional; unknown keys stay in ``raw``. Seconds and MB; a peak memory of 0
is unknown (None). Bad input raises ReportError naming the file and field."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field, fields
from typing import Any

from perfgate_lib.errors import ReportError
from perfgate_lib.io import storage
from perfgate_lib.io.limits import LIMITS_FILE, Limits, load_limits
from perfgate_lib.verdict.collector_warnings import summarize

INFRA_BUCKETS = (
    "preempted",
    "oom",
    "hardware_fault",
    "scheduling_timeout",
    "application_failure",
    "other",
)

# field name -> kind; "seconds" are non-negative floats, "count" non-negative ints.
_SCALARS: dict[str, str] = {
    **dict.fromkeys(("iris_job_id", "status", "marin_prefix"), "str"),
    **dict.fromkeys(("wall_seconds_total", "sum_task_wall_seconds_total"), "seconds"),
    **dict.fromkeys(("ooms", "failed_shards"), "count"),
    "peak_worker_memory_mb": "megabytes",
    **dict.fromkeys(("preemption_count", "failure_count", "tree_job_count"), "count"),
    **dict.fromkeys(("workflow_run_id", "workflow_run_attempt"), "id"),
    **dict.fromkeys(("workflow_name", "commit_sha", "collected_at_utc"), "str"),
    **dict.fromkeys(("ferry_module", "wandb_url", "cluster_generation"), "str"),
}
MAX_DEPTH = 64  # real reports nest 3 levels; deeper JSON is refused, never a crash
_STAGE_MAPS = {"stage_wall_seconds": "seconds", "stage_sum_task_wall_seconds": "seconds"}
_COUNT_MAPS = ("task_state_counts", "infra_failures")


class ReportTooLarge(ReportError):
    """A report past a bound of limits.yaml (exit 4); names the file, field and limit."""

    def __init__(self, source: str, field: str | None, what: str, limit: str, bound: int) -> None:
        self.limit = limit
        super().__init__(
            source, field, f"{what} is over the limit {limit}={bound} (parameters/{LIMITS_FILE})"
        )


@dataclass(frozen=True)
class PerfReport:
    """One validated perf report. ``raw`` is the JSON object as read."""

    source: str
    raw: dict[str, Any]
    iris_job_id: str | None = None
    status: str | None = None
    wall_seconds_total: float | None = None
    stage_wall_seconds: dict[str, float | None] = field(default_factory=dict)
    cached_steps: tuple[str, ...] = ()
    failed_shards: int | None = None
    ooms: int | None = None
    peak_worker_memory_mb: float | None = None
    preemption_count: int | None = None
    task_state_counts: dict[str, int] = field(default_factory=dict)
    infra_failures: dict[str, int] = field(default_factory=dict)
    ferry_module: str | None = None
    cluster_generation: str | None = None
    workflow_run_id: str | None = None
    commit_sha: str | None = None
    collected_at_utc: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def peak_memory_mb(self) -> float | None:
        """Peak worker memory in MB, or None when missing or 0 (unknown)."""
        value = self.peak_worker_memory_mb
        return value if value else None

    def infra_count(self, bucket: str) -> int:
        """Count in an ``infra_failures`` bucket (0 when missing; ``oom`` falls back to ``ooms``)."""
        if bucket in self.infra_failures:
            return self.infra_failures[bucket]
        if bucket == "oom" and self.ooms is not None:
            return self.ooms
        return 0

    @property
    def task_total(self) -> int:
        """Sum of ``task_state_counts`` (0 when absent)."""
        return sum(self.task_state_counts.values())

    @property
    def stages(self) -> list[str]:
        """Stage names in report order."""
        return list(self.stage_wall_seconds)


def _number(source: str, name: str, value: Any, *, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a whole number" if integer else "a number of seconds"
        raise ReportError(source, name, f"expected {kind}, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ReportError(source, name, f"expected a finite number, got {value!r}")
    if value < 0:
        raise ReportError(source, name, f"must not be negative, got {value!r}")
    if value > sys.float_info.max:  # JSON holds any integer; past a float it stopped the rules
        raise ReportError(source, name, f"too large: at most {sys.float_info.max:.3g}")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise ReportError(source, name, f"expected a whole number, got {value!r}")
        return int(value)
    return float(value)


def _scalar(source: str, name: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "str":
        if not isinstance(value, str):
            raise ReportError(source, name, f"expected a string, got {type(value).__name__}")
        return value
    if kind == "id":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ReportError(source, name, f"expected a string or integer id, got {value!r}")
        return str(value)
    return _number(source, name, value, integer=(kind == "count"))


def _object(source: str, name: str, value: Any, what: str) -> dict:
    if value is not None and not isinstance(value, dict):
        raise ReportError(source, name, f"expected an object of {what}, got {value!r}")
    return value or {}


def _stage_map(source: str, name: str, value: Any) -> dict[str, float | None]:
    return {
        str(stage): None if s is None else _number(source, f"{name}.{stage}", s, integer=False)
        for stage, s in _object(source, name, value, "stage -> seconds").items()
    }


def _count_map(source: str, name: str, value: Any) -> dict[str, int]:
    """Counts by lower-cased name; a null count is left out."""
    return {
        str(key).lower(): int(_number(source, f"{name}.{key}", count, integer=True))
        for key, count in _object(source, name, value, "name -> count").items()
        if count is not None
    }


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value (a scalar is 0); iterative."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            todo += [(child, depth + 1) for child in children if isinstance(child, dict | list)]
    return deepest


def parse_report(obj: Any, source: str = "<report>") -> PerfReport:
    """Validate a decoded JSON value as a perf report of any era."""
    if not isinstance(obj, dict):
        raise ReportError(source, None, f"expected a JSON object, got {type(obj).__name__}")
    if nesting_depth(obj) > MAX_DEPTH:
        raise ReportError(source, None, f"JSON nested deeper than {MAX_DEPTH} levels")
    values = {name: _scalar(source, name, kind, obj.get(name)) for name, kind in _SCALARS.items()}
    stages = {name: _stage_map(source, name, obj.get(name)) for name in _STAGE_MAPS}
    counts = {name: _count_map(source, name, obj.get(name)) for name in _COUNT_MAPS}
    cached = obj.get("cached_steps") or []
    if not isinstance(cached, list) or not all(isinstance(s, str) for s in cached):
        raise ReportError(source, "cached_steps", f"expected a list of stage names, got {cached!r}")
    warnings = obj.get("warnings") or []
    if not isinstance(warnings, list):
        raise ReportError(source, "warnings", f"expected a list of strings, got {warnings!r}")
    kept = {f.name for f in fields(PerfReport)}  # the other scalars are checked, not kept
    return PerfReport(
        source=source,
        raw=obj,
        **{name: value for name, value in values.items() if name in kept},
        stage_wall_seconds=stages["stage_wall_seconds"],
        cached_steps=tuple(cached),
        task_state_counts=counts["task_state_counts"],
        infra_failures=counts["infra_failures"],
        warnings=tuple(str(w) for w in warnings),
    )


def check_report_bounds(
    obj: Any, source: str, size: int | None = None, limits: Limits | None = None
) -> Any:
    """``obj`` (a decoded report) unchanged within bounds, else ReportTooLarge: the size
    (characters of its text), every top-level map's and list's entries, every stage name."""
    lim = limits or load_limits()

    def check(key: str | None, value: int, what: str, limit: str) -> None:
        if value > getattr(lim, limit):
            raise ReportTooLarge(source, key, what, limit, getattr(lim, limit))

    if size is not None:
        check(None, size, f"{size} bytes", "report_max_bytes")
    if not isinstance(obj, dict):
        return obj
    check(None, len(obj), f"{len(obj)} top-level fields", "report_max_stages")
    for name, value in obj.items():
        if not isinstance(value, dict | list):
            continue
        key = str(name)[:80]
        check(key, len(value), f"{len(value)} entries", "report_max_stages")
        if name == "warnings":
            continue
        for stage in value:  # an object's keys, a list's items
            if isinstance(stage, str):
                what = f"a name of {len(stage)} characters"
                check(key, len(stage), what, "stage_name_max_chars")
    return obj


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not allowed")


def loads_report(text: str | bytes, source: str = "<report>") -> PerfReport:
    """Parse perf report JSON text; NaN/Infinity literals are refused."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReportError(source, None, f"not UTF-8 text ({exc})") from exc
    if not text.strip():
        raise ReportError(source, None, "empty file")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        problem = "truncated JSON" if exc.pos >= len(text.rstrip()) else "not valid JSON"
        raise ReportError(
            source, None, f"{problem} (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except ValueError as exc:
        raise ReportError(source, None, f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ReportError(source, None, f"JSON nested deeper than {MAX_DEPTH} levels") from exc
    return parse_report(check_report_bounds(obj, source, len(text)), source)


def load_report(path: str) -> PerfReport:
    """Read and validate a perf report from a local path or any fsspec URL."""
    try:
        data = storage.read_bytes(str(path))
    except FileNotFoundError as exc:
        raise ReportError(str(path), None, "file not found") from exc
    except OSError as exc:
        raise ReportError(str(path), None, f"cannot read: {exc}") from exc
    return loads_report(data, str(path))


def collector_problems(report: PerfReport) -> list[str]:
    """Why a report is unusable although its collector exited 0 ([] when usable): no stage
    time, or an ``unusable`` collector warning (docs/verdict-rules.md)."""
    problems = []
    stages = report.stage_wall_seconds
    if not stages:
        problems.append("no stage times (stage_wall_seconds is empty)")
    elif not any(stages.values()):
        problems.append("every stage time is 0 or missing")
    problems += [
        f"{r.rule.meaning} (collector warning: {r.warning})"
        for r in summarize(report.warnings).unusable
    ]
    return problems
