"""``state.json``'s shape, typed: what a resumed run trusts is checked when it is read.

:class:`RunRecord` declares the fields the resume and posting logic act on: the run's
status, PR and head SHA, every attempt's job id, submit process and output, and every
post's (kind, key, body hash). :meth:`RunState.load <perfgate_lib.gate.state.RunState.load>`
validates a state file against it, so a damaged file is refused with its field named
(``attempts.gate1.submit_pid: input should be a valid integer``) before a run acts on
it: never a second ferry or a second comment from a value of the wrong type. Keys not
declared here are kept as written (a newer kit's fields survive an older one's read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from perfgate_lib.gate.babysit import Watch
from perfgate_lib.typed import Whole


@dataclass(frozen=True)
class AttemptRecord:
    """One gate attempt (``attempts.gate<N>[-attempt<K>]``); times are ISO-8601 UTC."""

    gate: Whole  # 1, 2 or 3
    attempt: Whole  # 1 for the first try of a gate
    folder: str  # gate1, gate1-attempt2
    status: str  # new, submitting, submitted, collected, posted, halted, error, ...
    job_id: str | None = None  # the treatment ferry's Iris job, once known
    submit_pid: Whole | None = None  # the submit process, while it may still run
    submit_output: str | None = None  # where the submit script's stdout went
    submit_started_at: str | None = None
    submitted_at: str | None = None
    job: Watch | None = None  # what the babysitter has seen of the job
    report_path: str | None = None  # the collected treatment report
    verdict: str | None = None  # pass | warn | fail | inconclusive, once compared


@dataclass(frozen=True)
class PostRecord:
    """One comment posted (or written to a file); a re-run never posts it twice."""

    kind: str  # verdict, assessment, halted, waiver, ...
    key: str  # what the post is about: gate1, assessment, ...
    sha256: str  # the body's hash
    at: str = ""


@dataclass(frozen=True)
class RunRecord:
    """A run folder's ``state.json``."""

    kind: Literal["perfgate-run"]
    status: str = ""  # started, assessed, awaiting_confirmation, running, finished, ...
    schema: Whole = 1
    pr: Whole | None = None
    sha: str | None = None  # the PR head this run gates
    attempts: dict[str, AttemptRecord] = field(default_factory=dict)
    ladder: list[dict[str, Any]] = field(default_factory=list)
    posts: list[PostRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
