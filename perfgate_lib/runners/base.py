"""The runner interface (:class:`Runner`: submit, wait, collect or stop a treatment job)
and the job states every runner reports, normalised to the lower-case names of newer iris
tools. Times are seconds; timestamps are ISO-8601 UTC strings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from perfgate_lib.errors import PerfgateError
from perfgate_lib.timeutil import parse_time

WAITING_STATES = ("pending", "building")
TERMINAL_STATES = ("succeeded", "failed", "killed", "worker_failed", "unschedulable")
KNOWN_STATES = (*WAITING_STATES, "running", *TERMINAL_STATES)


class RunnerError(PerfgateError):
    """A runner step failed (script missing, bad output, CLI error); exit 4."""


def normalise_state(raw: Any) -> str:
    """``JOB_STATE_RUNNING`` / ``running`` / ``Running`` -> ``running``; else ``unknown``."""
    text = str(raw or "").strip().lower()
    text = text.removeprefix("job_state_").replace("-", "_").replace(" ", "_")
    return text if text in KNOWN_STATES else "unknown"


@dataclass(frozen=True)
class Submission:
    """A submitted treatment ferry: what the submit step printed, plus our bookkeeping."""

    job_id: str
    gate: int
    attempt: int
    ferry_module: str | None = None
    status_path: str | None = None
    run_id: str | None = None
    cwd: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the submit script's JSON, as printed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Submission:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class JobState:
    """One observation of a job; the times from the cluster when it reports them."""

    job_id: str
    state: str
    raw_state: str = ""
    error: str = ""
    pending_reason: str = ""
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    found: bool = True  # False: the cluster does not know the job (yet)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    @property
    def waiting(self) -> bool:
        """Queued or building: time spent here is queue wait, not pipeline time."""
        return self.state in WAITING_STATES

    @property
    def queue_seconds(self) -> float | None:
        """Started - submitted, when both are known."""
        start, sub = parse_time(self.started_at), parse_time(self.submitted_at)
        return None if start is None or sub is None else max(0.0, (start - sub).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "terminal": self.terminal, "queue_seconds": self.queue_seconds}


@runtime_checkable
class Runner(Protocol):
    """What the ladder needs from a treatment runner."""

    name: str

    def submit(self, gate: int, pr: int, worktree: str, attempt: int) -> Submission:
        """Submit the treatment ferry of ``gate`` for ``pr`` from ``worktree``."""

    def poll(self, job_id: str) -> JobState:
        """The job's current state (one cluster query)."""

    def wait(self, job_id: str, seconds: float) -> JobState:
        """Wait at most ``seconds`` for the job to end (sooner when it does); its state then."""

    def collect(self, submission: Submission, out: str) -> str:
        """Write the treatment perf report to ``out`` (local path); returns ``out``."""

    def stop(self, job_id: str) -> None:
        """Terminate the job (callers check the stop policy first)."""

    def find(
        self, gate: int, pr: int, attempt: int, since: str | None, exclude: tuple[str, ...] = ()
    ) -> Submission | None:
        """A job of this PR/gate submitted since ``since``, not in ``exclude`` (recovery)."""

    def logs(self, job_id: str, max_lines: int = 2000) -> str:
        """The tail of the job tree's logs ("" when unavailable): evidence for OOMs."""

    def job_tree(self, job_id: str) -> list[JobState]:
        """The job and its descendants ([] when unknown): which steps finished (a collector
        reads a step that did not as a cache hit)."""


def parse_json_line(text: str, required: str = "job_id") -> dict[str, Any] | None:
    """The last JSON object line (or the whole text) holding key ``required``, else None."""
    lines = [line.strip() for line in reversed(text.splitlines())]
    for candidate in [ln for ln in lines if ln.startswith("{") and ln.endswith("}")] + [text]:
        try:
            obj = json.loads(candidate)
        except (json.JSONDecodeError, RecursionError):  # Recursion: nested past the parser
            continue
        if isinstance(obj, dict) and required in obj:
            return obj
    return None
