"""Per-gate parameters: ``parameters/gate<N>.yaml`` (tier workflow, artifact, ferry, timing),
validated on load (ConfigError names the file and field)."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Annotated, Any

import pydantic
from pydantic.dataclasses import dataclass

from perfgate_lib.errors import ConfigError, UsageError
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import PARAMETERS_DIR, load_yaml, mapping, read_settings
from perfgate_lib.typed import NonEmptyText, PositiveNumber
from perfgate_lib.verdict.thresholds import load_thresholds

EnvValue = Annotated[str, pydantic.BeforeValidator(lambda v: v if isinstance(v, str) else str(v))]
"""An environment variable's value: YAML's numbers and booleans as their text."""

GATES = (1, 2, 3)
COMPARE_GATES = (0, *GATES)
"""Gates a comparison may be made for: 0 (the local A/B, no tier file, no staleness
limit) and the cluster tiers."""
DEFAULT_MIRROR = "gs://marin-us-central1/infra/datakit/ferry_perf/"
"""Root of marin's GCS mirror of scheduled perf reports (docs/contracts.md)."""


@dataclass(frozen=True)
class GateParams:
    """One tier of the ladder, as the kit needs it."""

    gate: int
    name: NonEmptyText  # tier name: smoke / long-tail stress / nemotron
    workflow: NonEmptyText  # workflow file, e.g. marin-canary-datakit-tier1.yaml
    workflow_name: NonEmptyText  # workflow display name, as perf reports carry it
    branch: NonEmptyText  # baselines come from this branch ...
    event: NonEmptyText  # ... and this trigger event only
    artifact: NonEmptyText  # Actions artifact name
    artifact_member: NonEmptyText  # report file inside the artifact zip
    mirror_glob: NonEmptyText  # glob under the GCS mirror root
    ferry_module: NonEmptyText
    iris_flags: NonEmptyText  # what marin's submit_perf_run.py passes to `iris job run` (treatment)
    poll_interval_minutes: PositiveNumber
    wall_time_minutes: PositiveNumber
    # from thresholds.yaml (baseline_max_age_hours), not gate<N>.yaml; None: no limit is set
    # for this gate, so a baseline is never stale (as the verdict engine reads it)
    max_baseline_age_hours: float | None
    env: dict[str, EnvValue] = dataclasses.field(default_factory=dict)  # the ferry's extra env
    baseline_iris_flags: Annotated[str, pydantic.StringConstraints(strip_whitespace=True)] = ""
    source: str = ""


def parse_gate(
    doc: Any, gate: int, source: str = "<gate>", *, max_baseline_age_hours: float | None = None
) -> GateParams:
    """Validate a decoded gate YAML document for ``gate`` (the staleness limit comes from
    ``thresholds.yaml``, by default the bundled one)."""
    doc = mapping(doc, source)
    if doc.get("gate") != gate:
        raise ConfigError(source, "gate", f"expected {gate}, got {doc.get('gate')!r}")
    if max_baseline_age_hours is None:
        max_baseline_age_hours = load_thresholds().max_age_hours(gate)
    return read_settings(
        GateParams,
        {**doc, "env": doc.get("env") or {}},
        source,
        max_baseline_age_hours=max_baseline_age_hours,
        source=source,
    )


def check_gate(gate: Any, allowed: tuple[int, ...] = GATES) -> int:
    """``gate`` as an int in ``allowed`` (1..3 by default), else :class:`UsageError`."""
    try:
        number = int(gate)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        number = -1
    if number not in allowed or str(gate).strip() not in {str(number), f"{number}.0"}:
        names = ", ".join(str(g) for g in allowed[:-1]) + f" or {allowed[-1]}"
        raise UsageError(f"gate must be {names}, got {gate!r}")
    return number


def load_gate(gate: int | str, params_dir: str | pathlib.Path | None = None) -> GateParams:
    """Load ``<params_dir>/gate<N>.yaml`` (default: the bundled parameters folder)."""
    number = check_gate(gate)
    source = storage.join(str(params_dir or PARAMETERS_DIR), f"gate{number}.yaml")
    doc = load_yaml(source)
    thresholds_file = storage.join(str(params_dir or PARAMETERS_DIR), "thresholds.yaml")
    found = thresholds_file if storage.exists(thresholds_file) else None
    limit = load_thresholds(found).max_age_hours(number)
    return parse_gate(doc, number, source, max_baseline_age_hours=limit)


def mirror_pattern(mirror: str, params: GateParams) -> str:
    """Glob of one tier's reports under the mirror root ``mirror``."""
    return storage.join(str(mirror).rstrip("/"), params.mirror_glob)
