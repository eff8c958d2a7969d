"""Deterministic synthetic GCS-mirror history: scheduled perf reports per tier.

``generate_history(...)`` returns ``{relative path: bytes}`` in the mirror layout
``report_<YYYYMMDDTHHMMSSZ>_tier<N>/perf_report.json`` plus a :class:`Truth` record of
what was planted (malformed files, manual runs, the step change). Seeded: the same
arguments give the same bytes.

Regenerate the bundled small history (the explore notebook's offline default)::

    .venv/bin/python -m tests.fakes.history tests/fixtures/history
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import pathlib
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from perfgate_lib.verdict.lineage import STEP_LOG

OLD_ERA = ("download", "normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")
NEW_ERA = STEP_LOG.expected_steps  # today's collector: the driver's step log
# Typical stage seconds per tier (tier 1 from docs/contracts.md; tiers 2, 3 scaled up).
_BASE_SECONDS = {
    "download": 12.0,
    "normalize": 845.0,
    "minhash": 410.0,
    "fuzzy_dups": 188.0,
    "consolidate": 220.0,
    "tokenize": 197.0,
    "embed": 300.0,
    "quality": 150.0,
    "decontam": 90.0,
    "dedup": 260.0,
    "verify_fuzzy_clusters": 70.0,
    "store": 120.0,
}
_TIER_SCALE = {1: 1.0, 2: 2.9, 3: 3.5}
# Run-to-run noise (sigma of a log-normal factor); `embed` and `download` are noisy.
_SIGMA = {"download": 0.15, "embed": 0.12}
_DEFAULT_SIGMA = 0.025
# Schedule start (UTC hour, minute) per tier and the ferry's wall time in minutes.
_SCHEDULE = {1: (6, 30, 55), 2: (7, 0, 150), 3: (1, 0, 180)}
WORKFLOW_NAME = "Marin - Canary - Datakit - Tier {tier}"
_MALFORMED_KINDS = ("truncated", "empty", "stage_list", "negative", "not_object")


@dataclass(frozen=True)
class StepChange:
    """From ``at`` (a date) on, ``stage`` of ``tier`` takes ``factor`` times as long."""

    tier: int
    stage: str
    at: dt.date
    factor: float


@dataclass
class Truth:
    """What the generator planted, by relative path."""

    scheduled: dict[int, list[str]] = field(default_factory=dict)
    malformed: dict[int, list[str]] = field(default_factory=dict)
    manual: dict[int, list[str]] = field(default_factory=dict)
    step: StepChange | None = None
    step_time: dict[int, str] = field(default_factory=dict)  # tier -> first folder timestamp


def folder(ts: dt.datetime, tier: int) -> str:
    return f"report_{ts.strftime('%Y%m%dT%H%M%SZ')}_tier{tier}/perf_report.json"


def _report(
    rng: random.Random,
    tier: int,
    ts: dt.datetime,
    stages: tuple[str, ...],
    factor: dict[str, float],
    run_id: int | None,
) -> dict:
    outlier = rng.random() < 0.02  # a preempted, slow run now and then
    stage_s: dict[str, float] = {}
    cached: list[str] = []
    for stage in stages:
        sigma = _SIGMA.get(stage, _DEFAULT_SIGMA)
        value = _BASE_SECONDS[stage] * _TIER_SCALE[tier] * factor.get(stage, 1.0)
        value *= math.exp(rng.gauss(0.0, sigma))
        if outlier:
            value *= 1.4
        if rng.random() < 0.015:
            cached.append(stage)
            value = 0.0
        stage_s[stage] = round(value, 1)
    total = round(sum(stage_s.values()) * 1.05 + 60.0, 1)
    sha = hashlib.sha1(f"{tier}-{ts.isoformat()}".encode()).hexdigest()
    preempted = rng.randint(3, 9) if outlier else rng.choice([0, 0, 0, 1, 2])
    return {
        "iris_job_id": f"/runner/datakit-tier{tier}-{ts.strftime('%Y%m%dT%H%M%SZ')}",
        "status": "succeeded",
        "marin_prefix": f"gs://marin-us-central1/ferries/datakit/{ts.strftime('%Y%m%dT%H%M%SZ')}",
        "wall_seconds_total": total,
        "stage_wall_seconds": stage_s,
        "sum_task_wall_seconds_total": round(total * 15.7, 1),
        "cached_steps": cached,
        "ooms": 0,
        "failed_shards": 0,
        "peak_worker_memory_mb": int(14202 * _TIER_SCALE[tier] * math.exp(rng.gauss(0, 0.02))),
        "preemption_count": preempted,
        "failure_count": 0,
        "task_state_counts": {"succeeded": 81, "killed": 27, "preempted": preempted},
        "tree_job_count": 14,
        "infra_failures": {
            "preempted": preempted,
            "oom": 0,
            "hardware_fault": 0,
            "scheduling_timeout": 0,
            "application_failure": 0,
            "other": 0,
        },
        "workflow_run_id": None if run_id is None else str(run_id),
        "workflow_run_attempt": None if run_id is None else "1",
        "workflow_name": None if run_id is None else WORKFLOW_NAME.format(tier=tier),
        "commit_sha": sha if run_id is not None else None,
        "collected_at_utc": ts.isoformat(),
        "warnings": [],
    }


def _malformed(kind: str, good: dict) -> bytes:
    text = json.dumps(good, indent=2)
    if kind == "truncated":
        return text[: len(text) // 2].encode()
    if kind == "empty":
        return b""
    if kind == "stage_list":
        return json.dumps({**good, "stage_wall_seconds": list(good["stage_wall_seconds"])}).encode()
    if kind == "negative":
        return json.dumps({**good, "wall_seconds_total": -5.0}).encode()
    return json.dumps([good]).encode()


def generate_history(
    start: dt.date,
    days: int,
    tiers: tuple[int, ...] = (1, 2, 3),
    *,
    seed: int = 7,
    weekly_tiers: tuple[int, ...] = (),
    era_switch_day: int | None = None,
    step: StepChange | None = None,
    malformed_per_tier: int = 5,
    manual_every_days: int = 30,
) -> tuple[dict[str, bytes], Truth]:
    """Reports for ``days`` days from ``start``; ``weekly_tiers`` run on Mondays only.

    Stages follow the old era before ``era_switch_day`` and the newest era from it.
    Each tier also gets ``malformed_per_tier`` unreadable reports (at their own times)
    and a manual run (``workflow_run_id`` null, 30% slower) every ``manual_every_days``.
    """
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    truth = Truth(step=step)
    run_id = 18_000_000_000
    for tier in tiers:
        truth.scheduled[tier], truth.malformed[tier], truth.manual[tier] = [], [], []
        hour, minute, wall_min = _SCHEDULE[tier]
        dates = [start + dt.timedelta(days=i) for i in range(days)]
        if tier in weekly_tiers:
            dates = [d for d in dates if d.weekday() == 0]
        bad_days = set(rng.sample(range(len(dates)), min(malformed_per_tier, len(dates))))
        for i, day in enumerate(dates):
            base = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
            ts = base + dt.timedelta(
                minutes=wall_min + rng.randint(3, 20), seconds=rng.randint(0, 59)
            )
            era = (
                OLD_ERA
                if era_switch_day is not None and (day - start).days < era_switch_day
                else NEW_ERA
            )
            factor = {}
            if step and step.tier == tier and day >= step.at:
                factor[step.stage] = step.factor
                truth.step_time.setdefault(tier, ts.strftime("%Y%m%dT%H%M%SZ"))
            run_id += 1
            report = _report(rng, tier, ts, era, factor, run_id)
            rel = folder(ts, tier)
            files[rel] = json.dumps(report, indent=2).encode()
            truth.scheduled[tier].append(rel)
            if i in bad_days:
                kind = _MALFORMED_KINDS[len(truth.malformed[tier]) % len(_MALFORMED_KINDS)]
                bad = folder(ts + dt.timedelta(hours=5), tier)
                files[bad] = _malformed(kind, report)
                truth.malformed[tier].append(bad)
            if manual_every_days and i % manual_every_days == manual_every_days // 2:
                manual = _report(
                    rng, tier, ts + dt.timedelta(hours=9), era, {"normalize": 1.3}, None
                )
                rel_m = folder(ts + dt.timedelta(hours=9), tier)
                files[rel_m] = json.dumps(manual, indent=2).encode()
                truth.manual[tier].append(rel_m)
    return files, truth


# The small history bundled in tests/fixtures/history (explore notebook default).
BUNDLED = {
    "start": dt.date(2026, 3, 2),
    "days": 56,
    "tiers": (1, 2, 3),
    "weekly_tiers": (3,),
    "era_switch_day": 56,  # all in the era of parameters/examples/*.json
    "step": StepChange(tier=1, stage="minhash", at=dt.date(2026, 4, 6), factor=1.18),
    "malformed_per_tier": 1,
    "manual_every_days": 28,
}


def write_bundled(out_dir: pathlib.Path) -> int:
    """Write the bundled small history under ``out_dir``; returns the file count."""
    files, _ = generate_history(**BUNDLED)
    for rel, data in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return len(files)


@contextlib.contextmanager
def deferred_emulator_metadata() -> Iterator[None]:
    """For bulk writes to the in-process emulator: it rewrites its whole metadata file on
    every write (quadratic in the object count); skip that while inside. Its in-memory
    object table stays authoritative, so reads over HTTP are unchanged."""
    from gcp_storage_emulator.storage import Storage

    original = Storage._write_config_to_file
    Storage._write_config_to_file = lambda self: None
    try:
        yield
    finally:
        Storage._write_config_to_file = original


def upload(files: dict[str, bytes], root_url: str) -> None:
    """Write ``{relative path: bytes}`` under ``root_url`` (``gs://bucket/prefix``)."""
    from perfgate_lib.io import storage

    fs, inner = storage.filesystem(root_url)
    with deferred_emulator_metadata():
        fs.pipe({f"{inner.rstrip('/')}/{rel}": data for rel, data in files.items()}, batch_size=4)


def remove(root_url: str) -> None:
    """Delete everything under ``root_url``."""
    from perfgate_lib.io import storage

    fs, inner = storage.filesystem(root_url)
    with deferred_emulator_metadata():
        fs.rm(inner, recursive=True)


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/history")
    print(f"wrote {write_bundled(target)} files under {target}")
