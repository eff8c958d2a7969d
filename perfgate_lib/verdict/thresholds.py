"""The threshold table as data: ``parameters/thresholds.yaml``, validated on load."""

from __future__ import annotations

import math
import pathlib
import sys
from dataclasses import dataclass
from typing import Any

from perfgate_lib.errors import ConfigError
from perfgate_lib.io.paramfile import PARAMETERS_DIR, load_yaml, mapping

DEFAULT_THRESHOLDS = PARAMETERS_DIR / "thresholds.yaml"

BAND_SIGNALS = ("wall_seconds_total", "stage_wall_seconds", "peak_worker_memory_mb")
COUNT_SIGNALS = (
    "failed_shards",
    "infra_failures.oom",
    "infra_failures.scheduling_timeout",
    "infra_failures.application_failure",
    "infra_failures.other",
)


@dataclass(frozen=True)
class Band:
    """Upper bounds in percent: delta <= pass_pct passes, <= warn_pct warns, above fails."""

    pass_pct: float
    warn_pct: float


@dataclass(frozen=True)
class Thresholds:
    source: str
    bands: dict[str, Band]
    hard_fail_counts: tuple[str, ...]
    preemption_margin: int
    preempted_tasks_max: int
    hardware_faults_max: int
    task_total_divergence_pct: float
    baseline_max_age_hours: dict[int, float]

    def max_age_hours(self, gate: int) -> float | None:
        return self.baseline_max_age_hours.get(int(gate))


def _num(source: str, where: str, value: Any) -> float:
    """A non-negative, finite number (percent, hours or a count) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(source, where, f"expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(source, where, f"expected a finite number, got {value!r}")
    if value < 0:
        raise ConfigError(source, where, f"must not be negative, got {value!r}")
    if value > sys.float_info.max:
        raise ConfigError(source, where, f"too large: at most {sys.float_info.max:.3g}")
    return float(value)


def _whole(source: str, where: str, value: Any) -> int:
    """A non-negative whole number (a count), never a fraction silently cut."""
    number = _num(source, where, value)
    if not number.is_integer():
        raise ConfigError(source, where, f"expected a whole number, got {value!r}")
    return int(number)


def _section(source: str, doc: dict, name: str) -> dict:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise ConfigError(source, name, "missing or not a mapping")
    return value


def parse_thresholds(doc: Any, source: str = "<thresholds>") -> Thresholds:
    """Validate a decoded thresholds document."""
    doc = mapping(doc, source)
    bands_doc = _section(source, doc, "bands")
    unknown = sorted(set(bands_doc) - set(BAND_SIGNALS), key=str)  # YAML keys of any type
    if unknown:
        raise ConfigError(source, f"bands.{unknown[0]}", f"unknown signal; known: {BAND_SIGNALS}")
    bands: dict[str, Band] = {}
    for signal in BAND_SIGNALS:
        spec = bands_doc.get(signal)
        if not isinstance(spec, dict):
            raise ConfigError(source, f"bands.{signal}", "missing; needs pass and warn")
        p = _num(source, f"bands.{signal}.pass", spec.get("pass"))
        w = _num(source, f"bands.{signal}.warn", spec.get("warn"))
        if not p <= w:
            raise ConfigError(source, f"bands.{signal}", f"bands out of order: pass {p} > warn {w}")
        bands[signal] = Band(p, w)
    counts = doc.get("hard_fail_counts")
    if not isinstance(counts, list):
        raise ConfigError(source, "hard_fail_counts", "expected a list of count signals")
    for name in counts:
        if name not in COUNT_SIGNALS:
            raise ConfigError(
                source, "hard_fail_counts", f"unknown signal {name!r}; known: {COUNT_SIGNALS}"
            )
    inc = _section(source, doc, "inconclusive")
    check = _section(source, doc, "self_check")
    ages = _section(source, doc, "baseline_max_age_hours")
    max_age: dict[int, float] = {}
    for gate, hours in ages.items():
        if str(gate) not in {"1", "2", "3"}:
            raise ConfigError(source, f"baseline_max_age_hours.{gate}", "gate must be 1, 2 or 3")
        max_age[int(gate)] = _num(source, f"baseline_max_age_hours.{gate}", hours)
    inconclusive = {
        key: _whole(source, f"inconclusive.{key}", inc.get(key))
        for key in ("preemption_margin", "preempted_tasks_max", "hardware_faults_max")
    }
    divergence = "task_total_divergence_pct"
    return Thresholds(
        source=source,
        bands=bands,
        hard_fail_counts=tuple(counts),
        **inconclusive,
        task_total_divergence_pct=_num(source, f"self_check.{divergence}", check.get(divergence)),
        baseline_max_age_hours=max_age,
    )


def load_thresholds(path: str | pathlib.Path | None = None) -> Thresholds:
    """Load and validate the thresholds YAML (default: the bundled table)."""
    source = str(path or DEFAULT_THRESHOLDS)
    return parse_thresholds(load_yaml(source), source)
