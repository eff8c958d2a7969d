"""Run-wide settings, ``parameters/gate_common.yaml``: cluster, scripts, local checks, the
worktree's preparation; units as the field names say. A bad field: ConfigError naming it."""

from __future__ import annotations

import dataclasses
import pathlib
import shlex
from typing import Any, Literal

import pydantic
from pydantic.dataclasses import dataclass

from perfgate_lib.io.paramfile import PARAMETERS_DIR, load_yaml, read_settings
from perfgate_lib.typed import NonEmptyText, PositiveNumber, PositiveWhole

DEFAULT_COMMON = PARAMETERS_DIR / "gate_common.yaml"


@dataclass(frozen=True)
class LocalCheck:
    """A command run in the worktree (split like a shell would), named by ``name`` or itself."""

    name: NonEmptyText
    run: NonEmptyText

    @pydantic.model_validator(mode="before")
    @classmethod
    def _named_by_its_command(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and isinstance(data.get("run"), str):
            return {**data, "name": data["run"]}
        return data

    @pydantic.field_validator("run")
    @classmethod
    def _splits(cls, run: str) -> str:
        shlex.split(run)  # a ValueError (no closing quotation) names the field
        return run

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.run)


@dataclass(frozen=True)
class RunParams:
    """``gate_common.yaml``: where the cluster, scripts and mirror are, and the local checks."""

    cluster_config: NonEmptyText
    status_root: NonEmptyText
    mirror: NonEmptyText
    worktrees_dir: NonEmptyText
    git_remote: NonEmptyText
    uv_command: NonEmptyText
    iris_command: NonEmptyText
    submit_script: NonEmptyText
    collect_script: NonEmptyText
    command_timeout_seconds: PositiveNumber
    poll_error_limit: PositiveWhole
    overrun_stop_factor: PositiveNumber
    local_checks: list[LocalCheck]
    local_checks_timeout_minutes: PositiveNumber
    output_tail_lines: PositiveWhole
    collect_from: Literal["checkout", "worktree"] = "checkout"
    prepare_env: list[LocalCheck] = dataclasses.field(default_factory=list)
    prepare_env_timeout_minutes: PositiveNumber = 30.0
    source: str = ""


def parse_run_params(doc: Any, source: str = "<gate_common>") -> RunParams:
    """``gate_common.yaml``'s mapping as :class:`RunParams`."""
    return read_settings(RunParams, doc, source, source=source)


def load_run_params(path: str | pathlib.Path | None = None) -> RunParams:
    """Load ``gate_common.yaml`` (default: the bundled one); ConfigError naming it when it
    is a folder or not UTF-8 text."""
    source = str(path or DEFAULT_COMMON)
    return parse_run_params(load_yaml(source), source)
