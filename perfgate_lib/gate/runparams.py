"""Run-wide settings: ``parameters/gate_common.yaml`` (cluster, scripts, local checks, the
treatment worktree's environment preparation).

Seconds and minutes are as named in the field. Validated on load; a bad field raises
:class:`~perfgate_lib.errors.ConfigError` naming the file and the field.
"""

from __future__ import annotations

import pathlib
import shlex
from dataclasses import dataclass
from typing import Any

from perfgate_lib.errors import ConfigError
from perfgate_lib.io.paramfile import PARAMETERS_DIR, load_yaml, mapping, positive_numbers, strings

DEFAULT_COMMON = PARAMETERS_DIR / "gate_common.yaml"


@dataclass(frozen=True)
class LocalCheck:
    """One local check: a display name and the command (split like a shell would)."""

    name: str
    run: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.run)


@dataclass(frozen=True)
class RunParams:
    cluster_config: str
    status_root: str
    mirror: str
    worktrees_dir: str
    git_remote: str
    uv_command: str
    iris_command: str
    submit_script: str
    collect_script: str
    collect_from: str
    command_timeout_seconds: float
    poll_error_limit: int
    overrun_stop_factor: float
    local_checks: tuple[LocalCheck, ...]
    local_checks_timeout_minutes: float
    output_tail_lines: int
    prepare_env: tuple[LocalCheck, ...] = ()
    prepare_env_timeout_minutes: float = 30.0
    source: str = ""


_STRINGS = (
    "cluster_config",
    "status_root",
    "mirror",
    "worktrees_dir",
    "git_remote",
    "uv_command",
    "iris_command",
    "submit_script",
    "collect_script",
)
_NUMBERS = ("command_timeout_seconds", "overrun_stop_factor", "local_checks_timeout_minutes")
_INTS = ("poll_error_limit", "output_tail_lines")


def parse_run_params(doc: Any, source: str = "<gate_common>") -> RunParams:
    doc = mapping(doc, source)
    values: dict[str, Any] = {
        **strings(doc, _STRINGS, source),
        **positive_numbers(doc, _NUMBERS, source),
        **positive_numbers(doc, _INTS, source, whole=True),
    }
    collect_from = doc.get("collect_from", "checkout")
    if collect_from not in ("checkout", "worktree"):
        raise ConfigError(
            source, "collect_from", f"expected checkout or worktree, got {collect_from!r}"
        )
    prepare = doc.get("prepare_env", [])
    timeout = doc.get("prepare_env_timeout_minutes", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(
            source, "prepare_env_timeout_minutes", f"expected a positive number, got {timeout!r}"
        )
    return RunParams(
        collect_from=collect_from,
        local_checks=_commands(doc.get("local_checks"), "local_checks", source),
        prepare_env=_commands(prepare, "prepare_env", source),
        prepare_env_timeout_minutes=float(timeout),
        source=source,
        **values,
    )


def _commands(items: Any, key: str, source: str) -> tuple[LocalCheck, ...]:
    """A list of ``{name, run}`` (``local_checks``, ``prepare_env``), validated."""
    if not isinstance(items, list):
        raise ConfigError(source, key, "expected a list of {name, run}")
    parsed = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("run"), str)
            or not item["run"].strip()
        ):
            raise ConfigError(source, where, "expected {name: ..., run: <command>}")
        try:
            shlex.split(item["run"])
        except ValueError as exc:
            raise ConfigError(source, f"{where}.run", f"cannot split the command: {exc}") from exc
        parsed.append(LocalCheck(str(item.get("name") or item["run"]), item["run"].strip()))
    return tuple(parsed)


def load_run_params(path: str | pathlib.Path | None = None) -> RunParams:
    """Load ``gate_common.yaml`` (default: the bundled one)."""
    source = str(path or DEFAULT_COMMON)
    return parse_run_params(load_yaml(source), source)
