"""Paired statistics for gate 0: Hodges-Lehmann ratio, signed-rank interval, band calls.

Changes are percent, ``100 * (ratio - 1)``; with ``k = 0`` (5 pairs or fewer at 95%) the
interval is unbounded, so undecided. The method: ``docs/gate0.md`` ("How it decides")."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

import pydantic

from perfgate_lib.errors import usage_at
from perfgate_lib.typed import FORBID_EXTRA, Number, Whole, read_model

Call = Literal["pass", "warn", "fail", "undecided"]


@lru_cache(maxsize=128)
def _signed_rank_counts(n: int) -> tuple[int, ...]:
    """Sign assignments giving each value of ``T+`` for ``n`` ranks (0..n(n+1)/2)."""
    counts = [1]
    for rank in range(1, n + 1):
        grown = counts + [0] * rank
        for total, ways in enumerate(counts):
            grown[total + rank] += ways
        counts = grown
    return tuple(counts)


def signed_rank_k(n: int, confidence: float) -> int:
    """The largest ``k`` with ``P(T+ <= k - 1) <= (1 - confidence) / 2`` (0: no interval)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n < 1:
        return 0
    total, tail = 2**n, (1 - confidence) / 2
    cumulative = itertools.accumulate(_signed_rank_counts(n))  # ways of T+ <= 0, 1, ...
    return sum(1 for _ in itertools.takewhile(lambda c: c / total <= tail + 1e-12, cumulative))


def _pct(ratio: float) -> float:
    """``100 * (ratio - 1)`` rounded to 1e-9, so 1.05 is exactly +5% (a band edge stays exact)."""
    return round(100 * (ratio - 1), 9)


@dataclass(frozen=True)
class Interval:
    """A paired change as ratios (treatment / control); ``low``/``high`` are 0/inf when
    the pairs cannot support the confidence."""

    ratio: float
    low: float
    high: float
    pairs: int
    confidence: float

    @property
    def pct(self) -> float:
        return _pct(self.ratio)

    @property
    def low_pct(self) -> float:
        return -100.0 if self.low <= 0 else _pct(self.low)

    @property
    def high_pct(self) -> float:
        return math.inf if math.isinf(self.high) else _pct(self.high)

    @property
    def bounded(self) -> bool:
        return self.low > 0 and not math.isinf(self.high)

    def text(self) -> str:
        """``×1.32 [1.27, 1.39], 8 pairs`` (``[unbounded]`` with too few pairs)."""
        span = f"[{self.low:.2f}, {self.high:.2f}]" if self.bounded else "[unbounded]"
        return f"×{self.ratio:.2f} {span}, {self.pairs} pair{'s' if self.pairs != 1 else ''}"


def paired_interval(
    control: list[float], treatment: list[float], confidence: float = 0.95
) -> Interval:
    """Hodges-Lehmann ratio and its signed-rank interval of paired values (same unit);
    pairs with a non-positive value are dropped; ValueError when none is left."""
    if len(control) != len(treatment):
        raise ValueError(f"unpaired values: {len(control)} control, {len(treatment)} treatment")
    logs = [_log_ratio(c, t) for c, t in zip(control, treatment, strict=True) if c > 0 and t > 0]
    if not logs:
        raise ValueError("no pair with positive values on both sides")
    walsh = sorted((a + b) / 2 for i, a in enumerate(logs) for b in logs[i:])  # Walsh averages
    m = len(walsh)
    mid = walsh[m // 2] if m % 2 else (walsh[m // 2 - 1] + walsh[m // 2]) / 2
    k = signed_rank_k(len(logs), confidence)
    if k == 0:
        low, high = 0.0, math.inf
    else:
        low, high = _ratio(walsh[k - 1]), _ratio(walsh[m - k])
    return Interval(_ratio(mid), low, high, len(logs), confidence)


def _log_ratio(control: float, treatment: float) -> float:
    """``log(treatment / control)`` of two positive values, as a difference of logs: the
    quotient itself may be past the largest float, or below the smallest."""
    return math.log(treatment) - math.log(control)


def _ratio(log_ratio: float) -> float:
    """The ratio of a log ratio; ``inf`` past the largest float."""
    try:
        return math.exp(log_ratio)
    except OverflowError:
        return math.inf


def band_call(interval: Interval, pass_pct: float, warn_pct: float) -> Call:
    """``pass`` | ``warn`` | ``fail`` | ``undecided`` of an interval under a band; an edge
    belongs to the lower band (exactly +5% passes)."""
    low, high = interval.low_pct, interval.high_pct
    if low > warn_pct:
        return "fail"
    if high <= pass_pct:
        return "pass"
    if low > pass_pct and high <= warn_pct:
        return "warn"
    return "undecided"


def could_fail(interval: Interval, warn_pct: float) -> bool:
    """The interval reaches above the fail edge (an undecided call that may hide a fail)."""
    return interval.high_pct > warn_pct


def metric_words(metric: str) -> str:
    """What an interval measured, in words: ``cpu time``, ``wall time``, ``instruction counts``."""
    return "instruction counts" if metric == "instructions" else f"{metric or 'measured'} time"


def _not_nan(value: float) -> float:
    if math.isnan(value):
        raise ValueError("expected a number of percent, not NaN")
    return value


Percent = Annotated[Number, pydantic.AfterValidator(_not_nan)]
"""A percent change: a number, infinite when a ratio passed the largest float (never NaN)."""


@dataclass(frozen=True)
class StageInterval:
    """Gate 0's paired result for one stage (or ``wall_seconds_total``), in percent of the
    decision metric, as ``compare_context.json`` carries it to the rules."""

    __pydantic_config__ = FORBID_EXTRA

    pct: Percent  # the estimate, percent change treatment vs control
    low_pct: Percent  # the interval's lower bound, percent change
    high_pct: Percent  # the interval's upper bound, percent change (inf: unbounded)
    pairs: Whole  # pairs measured
    call: Call  # pass | warn | fail | undecided (band_call)
    metric: str = ""  # the decision metric: instructions | cpu | wall
    confidence: Number | None = None  # two-sided, e.g. 0.95
    text: str = ""  # ``×1.32 [1.27, 1.39], 8 pairs``

    @property
    def metric_words(self) -> str:
        return metric_words(self.metric)

    @property
    def shows_no_change(self) -> bool:
        """The interval holds zero."""
        return self.low_pct <= 0 <= self.high_pct

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> StageInterval:
        """Read one entry; ``where`` names it in errors (``context: intervals.minhash``)."""
        return read_model(cls, data, lambda key, problem: usage_at(where, key, problem))
