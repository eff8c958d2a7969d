"""Gate 0's settings: ``parameters/gate0.yaml`` (each setting explained there) as a
checked, frozen dataclass; seconds for times."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfgate_lib.errors import UsageError, require_valid
from perfgate_lib.io.paramfile import PARAMETERS_DIR
from perfgate_lib.local import stats as abstats
from perfgate_lib.local.sideenv import ENV_MODES

SETTINGS_FILE = PARAMETERS_DIR / "gate0.yaml"


@dataclass(frozen=True)
class Gate0Settings:
    """How gate 0 measures; the defaults are ``parameters/gate0.yaml``'s. Seconds for times;
    ``confidence`` two-sided, in (0, 1); ``large_docs`` of 400 KB each; ``env``: see
    :mod:`perfgate_lib.local.sideenv`."""

    docs: int = 40
    large_docs: int = 0
    shards: int = 4  # corpus files: each map stage's tasks (fuzzy_dups: three times as many)
    min_pairs: int = 6
    max_pairs: int = 12
    budget_s: float = 100.0
    confidence: float = 0.95
    metric: str = "instructions"
    max_workers: int = 2
    stage_timeout_s: float = 300.0
    env: str = "auto"
    pairs_per_process: int = 100
    profile: str = "flagged"  # stages whose callgrind dumps are kept: flagged | all
    profile_budget_mb: float = 8.0  # the kept dumps' size at most, gzip-compressed (MB)

    def __post_init__(self) -> None:
        checks = {
            "docs": self.docs >= 10,
            "large_docs": 0 <= self.large_docs <= self.docs,
            "shards": 1 <= self.shards <= self.docs,
            "min_pairs": self.min_pairs >= 1,
            "max_pairs": self.max_pairs >= self.min_pairs,
            "budget_s": self.budget_s > 0,
            "confidence": 0 < self.confidence < 1,
            "metric": self.metric in abstats.METRICS,
            "max_workers": self.max_workers >= 1,
            "stage_timeout_s": self.stage_timeout_s > 0,
            "env": self.env in ENV_MODES,
            "pairs_per_process": self.pairs_per_process >= 1,
            "profile": self.profile in ("flagged", "all"),
            "profile_budget_mb": self.profile_budget_mb >= 0,
        }
        require_valid(self, checks, "gate 0 settings")

    @property
    def counts_instructions(self) -> bool:
        """True when the sides run under callgrind (both at once: counts ignore load)."""
        return self.metric == "instructions"

    @property
    def order(self) -> str:
        """How a pair is run, in words (``ab.json``'s ``order``)."""
        if self.counts_instructions:
            return (
                "both sides at once, each running its queued stages back to back; "
                f"one process per side for up to {self.pairs_per_process} pair(s)"
            )
        return (
            "per pair, stage by stage back to back; the first side alternates; "
            f"fresh processes every {self.pairs_per_process} pair(s)"
        )

    @classmethod
    def load(cls, path: str | Path = SETTINGS_FILE, **overrides: Any) -> Gate0Settings:
        """Settings from ``parameters/gate0.yaml``, then ``overrides`` (None, 0 and "" mean
        not given); with a time metric (``cpu``, ``wall``) the file's ``time_metric``
        section replaces its values first (a larger corpus, fresh processes)."""
        from perfgate_lib.io.paramfile import load_yaml, mapping

        source = str(path)
        doc = mapping(load_yaml(source), source) if Path(path).is_file() else {}
        known = set(cls.__dataclass_fields__)
        timed = mapping(doc.get("time_metric") or {}, f"{source}: time_metric")
        for where, keys in (
            (source, set(doc) - {"schema", "time_metric"}),
            (f"{source}: time_metric", set(timed)),
        ):
            unknown = sorted(keys - known)
            if unknown:
                raise UsageError(f"{where}: unknown setting '{unknown[0]}'; known: {sorted(known)}")
        values = {k: v for k, v in doc.items() if k in known}
        given = {k: v for k, v in overrides.items() if v not in (None, 0, "")}
        if given.get("metric", values.get("metric", cls.metric)) != "instructions":
            values.update(timed)
        values.update(given)
        if "max_pairs" in given:
            # asking for fewer pairs than min_pairs lowers the minimum with it
            values["min_pairs"] = min(values.get("min_pairs", cls.min_pairs), values["max_pairs"])
        return cls(**values)
