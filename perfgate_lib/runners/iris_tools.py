"""The Iris tools of the checkout under test, used as its own workflows use them
(docs/iris.md): :class:`IrisCli`, its ``.venv/bin/iris`` (else ``iris_command``) in the
dialect its ``--help`` shows (asked once), and :class:`IrisMonitor`, its
``scripts/ci/iris_monitor.py`` when it has one. Children get the environment without
GitHub tokens. Seconds for every timeout.
"""

from __future__ import annotations

import functools
import math
import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from perfgate_lib.runners.base import RunnerError
from perfgate_lib.runners.iris_dialect import (
    Dialect,
    DialectError,
    MonitorAnswer,
    detect_dialect,
    list_args,
    parse_listing,
    parse_monitor_status,
    parse_monitor_wait,
)

MONITOR_SCRIPT = "scripts/ci/iris_monitor.py"
SECRET_ENV = ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT")
#: marin's tier workflows wait with this policy: a job stuck on capacity is shut down
EXHAUSTION_POLICY = "shutdown"


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for marin's scripts and tools: ours minus GitHub tokens."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env.update(extra or {})
    return env


def run_tool(
    argv: list[str], cwd: str, what: str, timeout_seconds: float, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one tool call; :class:`RunnerError` when it cannot start or does not answer."""
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=child_env(env),
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RunnerError(
            f"{what}: cannot run {argv[0]!r} ({exc.strerror}); is it installed and on PATH?"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise RunnerError(f"{what}: no answer after {timeout_seconds:g} s") from exc


def uv_python(uv_command: str, script: str, *args: str) -> list[str]:
    """``uv run python SCRIPT ARGS``, ``uv_command`` split like a shell would."""
    return [*shlex.split(uv_command), "run", "python", script, *args]


def own_iris(folders: tuple[str | None, ...], configured: str) -> list[str]:
    """The first ``<folder>/.venv/bin/iris`` that exists, else ``configured`` (split)."""
    for folder in folders:
        if folder:
            path = os.path.join(folder, ".venv", "bin", "iris")
            if os.path.exists(path):
                return [path]
    return shlex.split(configured or "iris")


def _tail(proc: subprocess.CompletedProcess[str], n: int = 500) -> str:
    return (proc.stderr or proc.stdout or "").strip()[-n:]


@dataclass
class IrisCli:
    """One ``iris`` CLI against one cluster config, in the dialect it speaks."""

    command: list[str]
    config_path: str
    cwd: str
    timeout_seconds: float = 900.0
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*self.command, f"--config={self.config_path}", *args]
        what = "iris " + " ".join(args[:2])
        return run_tool(argv, self.cwd, what, self.timeout_seconds, self.env)

    @functools.cached_property
    def dialect(self) -> Dialect:
        """The CLI's generation, from ``iris job --help`` and ``iris job list --help``
        (asked once)."""
        helps = []
        for args in (("job", "--help"), ("job", "list", "--help")):
            argv = [*self.command, *args]
            proc = run_tool(argv, self.cwd, "iris --help", self.timeout_seconds, self.env)
            if proc.returncode != 0:
                raise RunnerError(f"`{shlex.join(argv)}` exited {proc.returncode}: {_tail(proc)}")
            helps.append(proc.stdout)
        try:
            return detect_dialect(*helps)
        except DialectError as exc:
            raise RunnerError(f"{shlex.join(self.command)}: {exc}") from exc

    def list_jobs(self, prefix: str | None) -> list[dict[str, Any]]:
        """Entries of ``job list`` under ``prefix`` (every job when None)."""
        dialect = self.dialect
        proc = self.run(*list_args(dialect, prefix))
        if proc.returncode != 0:
            raise RunnerError(f"iris job list exited {proc.returncode}: {_tail(proc)}")
        try:
            return parse_listing(dialect, proc.stdout)
        except DialectError as exc:
            raise RunnerError(f"iris job list ({dialect} dialect): {exc}") from exc


@dataclass
class IrisMonitor:
    """The checkout's ``scripts/ci/iris_monitor.py``, run as marin's workflows run it:
    ``uv run python scripts/ci/iris_monitor.py <status|wait> --job-id ID --iris-config CFG``
    from the checkout's root."""

    checkout: str
    config_path: str
    uv_command: str = "uv"
    timeout_seconds: float = 900.0
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def find(cls, folders: tuple[str | None, ...], **kwargs: Any) -> IrisMonitor | None:
        """A monitor for the first folder that has the script; None when none has."""
        for folder in folders:
            if folder and os.path.isfile(os.path.join(folder, MONITOR_SCRIPT)):
                return cls(checkout=folder, **kwargs)
        return None

    def _run(self, verb: str, job_id: str, *extra: str, timeout: float) -> Any:
        argv = uv_python(self.uv_command, MONITOR_SCRIPT, verb, "--job-id", job_id)
        argv += ["--iris-config", self.config_path, *extra]
        return run_tool(argv, self.checkout, f"iris_monitor.py {verb}", timeout, self.env)

    def status(self, job_id: str) -> MonitorAnswer:
        """``iris_monitor.py status``: the job's state now."""
        proc = self._run("status", job_id, timeout=self.timeout_seconds)
        try:
            return parse_monitor_status(proc.stdout, proc.stderr)
        except DialectError as exc:
            raise RunnerError(f"{exc} (exit {proc.returncode}: {_tail(proc)})") from exc

    def wait(self, job_id: str, seconds: float) -> MonitorAnswer:
        """``iris_monitor.py wait`` for at most ``seconds`` (its ``--timeout``), polling
        every ``min(30, seconds)`` s, with the workflows' ``--resource-exhaustion-policy
        shutdown``. ``timed_out`` when the job is still running then."""
        seconds = max(0.0, seconds)
        poll = min(30.0, max(seconds, 0.001))
        extra = ["--poll-interval", f"{poll:g}", "--timeout", f"{seconds:g}"]
        extra += ["--resource-exhaustion-policy", EXHAUSTION_POLICY]
        limit = self.timeout_seconds + math.ceil(seconds)
        proc = self._run("wait", job_id, *extra, timeout=limit)
        try:
            return parse_monitor_wait(proc.stderr)
        except DialectError as exc:
            raise RunnerError(f"{exc} (exit {proc.returncode})") from exc
