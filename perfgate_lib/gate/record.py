"""``state.json``'s shape, typed: what a resumed run trusts is checked when it is read.

:meth:`RunState.load <perfgate_lib.gate.state.RunState.load>` validates a state file
against :class:`RunRecord` and refuses a damaged one with its field named
(``attempts.gate1.submit_pid: input should be a valid integer``) before a run acts on it:
never a second ferry or a second comment from a value of the wrong type. Undeclared keys
are kept as written (``docs/running-a-gate.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from perfgate_lib.gate.babysit import Watch
from perfgate_lib.typed import Whole, read_model


class _Declared:
    """A record whose declared fields are set by name, and whose keys it does not declare
    (a newer kit's) ride along in ``unknown``, written back as they were read."""

    unknown: dict[str, Any]

    @classmethod
    def declared(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "unknown")  # type: ignore[arg-type]

    def update(self, **fields: Any) -> None:
        """Set declared fields by name (TypeError naming an undeclared one)."""
        for name, value in fields.items():
            if name not in self.declared():
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """As ``state.json`` holds it: unset (None) fields left out, unknown keys kept."""
        out = dict(self.unknown)
        for name in self.declared():
            value = _json(getattr(self, name))
            if value is not None:
                out[name] = value
        return out

    def keep_unknown(self, data: dict[str, Any]) -> Self:
        """This record (validated from ``data``) with the keys of ``data`` it does not declare."""
        unknown = {k: v for k, v in data.items() if k not in self.declared()}
        return dataclasses.replace(self, unknown=unknown)  # type: ignore[type-var]


def _json(value: Any) -> Any:
    """A field's value as JSON: a typed record or watch through its ``to_json``."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value.to_json() if hasattr(value, "to_json") else value


@dataclass
class AttemptRecord(_Declared):
    """One gate attempt (``attempts.gate<N>[-attempt<K>]``); times are ISO-8601 UTC.
    In the order a gate attempt fills them."""

    gate: Whole  # 1, 2 or 3
    attempt: Whole  # 1 for the first try of a gate
    folder: str  # gate1, gate1-attempt2
    status: str = "new"  # new, baseline, submitting, submitted, running, terminal, ...
    baseline: dict[str, Any] | None = None  # the baseline's provenance
    baseline_path: str | None = None
    runner: str | None = None  # iris | replay
    submit_started_at: str | None = None
    submit_pid: Whole | None = None  # the submit process, while it may still run
    submit_output: str | None = None  # where the submit script's stdout went
    job_id: str | None = None  # the treatment ferry's Iris job, once known
    submission: dict[str, Any] | None = None  # the runner's Submission, as JSON
    ferry_module: str | None = None
    submitted_at: str | None = None
    submit_recorded_by: str | None = None  # submitted, or how a crashed submit was found
    job: Watch | None = None  # what the babysitter has seen of the job
    stop_error: str | None = None  # why stopping the job failed
    unfinished_steps: dict[str, str] | None = None  # stage -> note, from the job tree
    job_tree_size: Whole | None = None  # jobs in the tree
    report_path: str | None = None  # the collected treatment report
    report_synthesized: bool = False  # the collector gave none: a minimal failed one
    verdict: str | None = None  # pass | warn | fail | inconclusive, once compared
    run_setting_differences: list[str] | None = None  # treatment vs baseline `iris job run`
    posted: dict[str, Any] | None = None  # the verdict comment's post record
    error: dict[str, Any] | None = None  # the failing step: step, type, message, exit_code
    previous_errors: list[dict[str, Any]] = field(default_factory=list)
    unknown: dict[str, Any] = field(default_factory=dict)  # keys this kit does not declare


@dataclass(frozen=True)
class PostRecord:
    """One comment posted (or written to a file); a re-run never posts it twice. The
    record also holds how (mode, url or path, action); those keys are kept as written."""

    kind: str  # verdict, assessment, halted, waiver, ...
    key: str  # what the post is about: gate1, assessment, ...
    sha256: str  # the body's hash
    at: str = ""


@dataclass
class RunRecord(_Declared):
    """A run folder's ``state.json``; times are ISO-8601 UTC."""

    kind: Literal["perfgate-run"]
    status: str = "started"  # assessed, awaiting_confirmation, running, finished, halted, ...
    schema: Whole = 1
    created_at: str = ""
    updated_at: str = ""
    pr: Whole | None = None
    repo: str | None = None  # owner/name
    sha: str | None = None  # the PR head this run gates
    runner: str | None = None  # iris | replay | local
    options: dict[str, Any] | None = None  # the command's options, as recorded
    pid: Whole | None = None  # the process that made the run
    standalone: bool = False  # made by the gate notebook itself (it archives the run)
    assessment: str | None = None  # assessment.json's path
    confirmation: dict[str, Any] | None = None  # the reviewer's reply, parsed
    max_gate: str | None = None  # skip, 1, 2 or 3: what will run
    checkout: str | None = None  # the marin checkout
    local_checks: dict[str, Any] | None = None  # their summary, once they ran
    prepared_env: dict[str, Any] | None = None  # the treatment worktree's environment
    local_verdict: str | None = None  # gate 0's verdict (runner local)
    outcome: dict[str, Any] | None = None  # exit_code, message, verdict: how the run ended
    finished_at: str | None = None
    superseded_by_sha: str | None = None  # a newer head took over this run
    attempts: dict[str, AttemptRecord] = field(default_factory=dict)
    ladder: list[dict[str, Any]] = field(default_factory=list)  # gate results, in order
    posts: list[dict[str, Any]] = field(default_factory=list)  # each a PostRecord and more
    events: list[dict[str, Any]] = field(default_factory=list)  # at, event, details
    unknown: dict[str, Any] = field(default_factory=dict)  # keys this kit does not declare

    @classmethod
    def from_json(
        cls, data: dict[str, Any], fail: Callable[[str | None, str], Exception]
    ) -> RunRecord:
        """``data`` validated (``fail(field, problem)`` on the first problem), keeping
        the keys it does not declare, at the top level and in each attempt."""
        record = read_model(cls, data, fail)
        read_model(list[PostRecord], record.posts, lambda key, why: fail(f"posts{key}", why))
        attempts = data.get("attempts") or {}
        record.attempts = {k: rec.keep_unknown(attempts[k]) for k, rec in record.attempts.items()}
        return record.keep_unknown(data)
