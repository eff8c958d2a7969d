"""``state.json`` (typed, checked when read) and the PR lock: what a run has done and holds,
so a re-run resumes and never submits or posts twice. The protocol: ``docs/running-a-gate.md``;
the lock (one run per PR, else :class:`PrBusy`): ``docs/security.md``."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import posixpath
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from perfgate_lib.errors import PerfgateError
from perfgate_lib.gate.babysit import Watch
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import read_json_object
from perfgate_lib.timeutil import parse_time
from perfgate_lib.typed import Whole, read_model

STATE_FILE = "state.json"
SCHEMA = 1
FINAL_STATUSES = ("finished", "halted", "superseded")
LOCKS_DIR = ".locks"  # <runs root>/.locks/pr<N>.json
LOCK_STALE_HOURS = 8.0  # no sign of life for this long: the holder is dead (Actions: 6 h)
HEARTBEAT_SECONDS = 300.0  # a holder refreshes its sign of life at most this often
HOLDER_ENV = "PERFGATE_LOCK_HOLDER"  # the holder's id, inherited by its notebook kernels


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
        values = {name: _json(getattr(self, name)) for name in self.declared()}
        return {**self.unknown, **{k: v for k, v in values.items() if v is not None}}

    def keep_unknown(self, data: dict[str, Any]) -> Self:
        """This record with the keys of ``data`` it does not declare."""
        unknown = {k: v for k, v in data.items() if k not in self.declared()}
        return dataclasses.replace(self, unknown=unknown)  # type: ignore[type-var]


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value.to_json() if hasattr(value, "to_json") else value


@dataclass
class AttemptRecord(_Declared):
    """One gate attempt (``attempts.gate<N>[-attempt<K>]``), fields in the order it fills
    them; times are ISO-8601 UTC."""

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
    """One comment posted or written; its other keys (mode, url or path, action) kept as written."""

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
        undeclared keys at the top level and in each attempt."""
        record = read_model(cls, data, fail)
        read_model(list[PostRecord], record.posts, lambda key, why: fail(f"posts{key}", why))
        attempts = data.get("attempts") or {}
        record.attempts = {k: rec.keep_unknown(attempts[k]) for k, rec in record.attempts.items()}
        return record.keep_unknown(data)


class StateError(PerfgateError):
    """state.json is unreadable or from another kind of run."""


class PrBusy(PerfgateError):
    """Another live run holds the PR (exit 4); nothing was done."""


class LockLost(PerfgateError):
    """This run no longer holds the PR's lock (taken over): it stops without writing."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def gate_folder(gate: int, attempt: int = 1) -> str:
    """``gate1`` for a first attempt, ``gate1-attempt2`` after."""
    return f"gate{gate}" if attempt == 1 else f"gate{gate}-attempt{attempt}"


class RunState:
    """The state of one run folder: its typed :class:`RunRecord`, saved as ``state.json``."""

    def __init__(self, run_dir: str, record: RunRecord) -> None:
        self.run_dir = run_dir
        self.record = record
        self.lock: PrLock | None = None  # set when this process holds the PR

    @property
    def path(self) -> str:
        return storage.join(self.run_dir, STATE_FILE)

    @classmethod
    def create(cls, run_dir: str, **fields: Any) -> RunState:
        stamp = now_iso()
        record = RunRecord(kind="perfgate-run", schema=SCHEMA, created_at=stamp, updated_at=stamp)
        record.update(**fields)
        state = cls(run_dir, record)
        state.event("created")
        return state

    @classmethod
    def load(cls, run_dir: str) -> RunState:
        path = storage.join(run_dir, STATE_FILE)
        data = read_json_object(path, lambda problem: StateError(f"{path}: {problem}"))
        if data.get("kind") != "perfgate-run":
            raise StateError(f"{path}: not a perfgate run state")
        record = RunRecord.from_json(
            data, lambda key, problem: StateError(f"{path}: {key}: {problem}")
        )
        return cls(run_dir, record)

    def reload(self) -> RunState:
        self.record = RunState.load(self.run_dir).record
        return self

    def save(self) -> None:
        if self.lock is not None:
            self.lock.confirm()
        else:
            refuse_if_locked_by_other(self.run_dir)
        self.record.updated_at = now_iso()
        text = json.dumps(self.record.to_json(), indent=2, default=str) + "\n"
        storage.write_atomic(self.path, text)  # redacts secrets, as every storage write does

    @property
    def status(self) -> str:
        return self.record.status

    def event(self, name: str, **details: Any) -> None:
        self.record.events.append({"at": now_iso(), "event": name, **details})
        self.save()

    def set(self, **fields: Any) -> None:
        """Set fields of the record, record an event naming them, and save."""
        self.record.update(**fields)
        self.event("set", fields=sorted(fields))

    def attempts(self) -> list[AttemptRecord]:
        return list(self.record.attempts.values())

    def attempt(self, gate: int, attempt: int) -> AttemptRecord:
        """The record of one gate attempt (created empty when new; not saved)."""
        key = gate_folder(gate, attempt)
        return self.record.attempts.setdefault(
            key, AttemptRecord(gate=gate, attempt=attempt, folder=key)
        )

    def update_attempt(
        self, gate: int, attempt: int, event: str | None = None, **fields: Any
    ) -> None:
        """Set ``fields`` of the attempt record, log ``event`` (default: the status), save."""
        self.attempt(gate, attempt).update(**fields)
        name = event or f"gate{gate}-attempt{attempt}:{fields.get('status', 'update')}"
        self.event(name, gate=gate, attempt=attempt, fields=sorted(fields))

    def job_ids(self) -> tuple[str, ...]:
        """Every job id this run has recorded (to exclude them when recovering one)."""
        return tuple(a.job_id for a in self.attempts() if a.job_id)

    def posted(self, kind: str, key: str, sha256: str) -> dict | None:
        """The post record of (kind, key) with this body hash, if it happened already."""
        for post in self.record.posts:
            if (post.get("kind"), post.get("key"), post.get("sha256")) == (kind, key, sha256):
                return post
        return None

    def record_post(self, **post: Any) -> None:
        self.record.posts.append({"at": now_iso(), **post})
        self.event("posted", kind=post.get("kind"), key=post.get("key"))


def unfinished_runs(runs_root: str, pr: int) -> Iterator[RunState]:
    """Every non-final run of ``pr``, newest first; dot files and unreadable states skipped."""
    group = storage.join(runs_root, f"pr{pr}")
    for leaf in sorted((n for n in storage.listdir(group) if not n.startswith(".")), reverse=True):
        run_dir = storage.join(group, leaf)
        if not storage.exists(storage.join(run_dir, STATE_FILE)):
            continue
        try:
            state = RunState.load(run_dir)
        except StateError:
            continue
        if state.status not in FINAL_STATUSES:
            yield state


def find_unfinished(runs_root: str, pr: int, sha: str | None = None) -> RunState | None:
    """The newest non-final run of ``pr`` (at ``sha`` when given), else None."""
    runs = unfinished_runs(runs_root, pr)
    return next((s for s in runs if sha is None or s.record.sha == sha), None)


def lock_path(runs_root: str, pr: int) -> str:
    return storage.join(runs_root, LOCKS_DIR, f"pr{pr}.json")


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (tells a reused pid); ""."""
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            fields = fh.read().rsplit(") ", 1)[-1].split()
    except OSError:
        return ""
    return "" if fields[0] == "Z" else fields[19]  # a zombie has finished


def alive_here(pid: Any, start: str = "") -> bool:
    """True while process ``pid`` (started at ``start`` ticks, when known) runs here; a
    zombie does not."""
    try:
        pid = int(pid)
    except (TypeError, ValueError, OverflowError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no process, or past every pid
        return False
    except PermissionError:
        pass
    now_start = _process_start(pid)
    if os.path.exists(f"/proc/{int(pid)}"):
        return bool(now_start) and (not start or now_start == start)
    return True


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host-a (run folder ...)`` for messages."""
    folder = f" (run folder {holder['run_dir']})" if holder.get("run_dir") else ""
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}{folder}"


def _released_since(holder: dict[str, Any]) -> bool:
    """True when ``perfgate trigger --release`` released the holder's run after it took the lock."""
    run_dir = holder.get("run_dir")
    since = parse_time(holder.get("since"))
    if not run_dir or since is None:
        return False
    try:
        state = RunState.load(str(run_dir))
    except (StateError, OSError, PerfgateError):
        return False
    released = (
        parse_time(e.get("at")) for e in state.record.events if e.get("event") == "released"
    )
    return any(at is not None and at >= since for at in released)


def holder_is_dead(holder: dict[str, Any]) -> str:
    """Why the lock's holder counts as dead ("" when it may still be running)."""
    here = holder.get("host") == socket.gethostname()
    if here and not alive_here(holder.get("pid"), str(holder.get("start") or "")):
        return f"its process ({describe_holder(holder)}) is gone"
    if _released_since(holder):
        return "its run was released (perfgate trigger --release)"
    beat = parse_time(holder.get("heartbeat")) or parse_time(holder.get("since"))
    if beat is None:
        return "the lock file is unreadable"
    if (dt.datetime.now(dt.UTC) - beat).total_seconds() > LOCK_STALE_HOURS * 3600:
        return f"no sign of life since {holder.get('heartbeat')} (over {LOCK_STALE_HOURS:g} h)"
    return ""


def _read_lock(path: str) -> tuple[str | None, dict[str, Any]]:
    """(the lock file's generation, its holder): (None, {}) when there is no lock file, an
    empty holder when it is not a JSON object."""
    current = storage.read_versioned(path)
    if current is None:
        return None, {}
    try:
        data = json.loads(current.text)
    except json.JSONDecodeError:
        return current.generation, {}
    return current.generation, data if isinstance(data, dict) else {}


class PrLock:
    """This process's hold on one PR; ``holder`` is what the lock file says."""

    def __init__(self, path: str, pr: int, holder: dict[str, Any], generation: str) -> None:
        self.path = path
        self.pr = pr
        self.holder = holder
        self.generation = generation
        self.held = True

    @property
    def token(self) -> str:
        return str(self.holder["token"])

    @classmethod
    def acquire(cls, runs_root: str, pr: int, *, attempts: int = 5) -> PrLock:
        """Take the PR, or raise :class:`PrBusy` naming its live holder."""
        path, stamp, pid = lock_path(runs_root, pr), now_iso(), os.getpid()
        me: dict[str, Any] = {"pr": pr, "token": uuid.uuid4().hex, "host": socket.gethostname()}
        me.update(pid=pid, start=_process_start(pid), since=stamp, heartbeat=stamp, run_dir="")
        for _ in range(attempts):
            expected, held = _read_lock(path)
            if expected is not None:
                why = holder_is_dead(held)
                if not why:
                    raise _busy(pr, held, f"nothing was done (lock: {path})")
                me["took_over"] = {"from": describe_holder(held), "why": why}
            generation = storage.write_if_generation(path, _dumps(me), expected)
            if generation is None:  # another run got there first, or our retried write did
                generation, again = _read_lock(path)
                if generation is None or again.get("token") != me["token"]:
                    continue
            os.environ[HOLDER_ENV] = me["token"]
            return cls(path, pr, me, generation)
        raise PrBusy(f"PR {pr}: could not take the lock {path} after {attempts} tries")

    def _write(self, changes: dict[str, Any]) -> None:
        updated = {**self.holder, **changes}
        generation = storage.write_if_generation(self.path, _dumps(updated), self.generation)
        if generation is None:
            self._lost()
        self.holder, self.generation = updated, str(generation)

    def _lost(self) -> None:
        self.held = False
        other = _read_lock(self.path)[1]
        who = describe_holder(other) if other else "nobody (the lock was removed)"
        raise LockLost(
            f"PR {self.pr}: this run lost its lock to {who}; it stops without writing "
            f"state.json (lock: {self.path})"
        )

    def adopt(self, state: RunState) -> None:
        """Name ``state``'s run folder in the lock; its saves then check the lock."""
        self._write({"run_dir": state.run_dir})
        state.lock = self

    def confirm(self, now: dt.datetime | None = None) -> None:
        """Raise :class:`LockLost` unless this process still holds the lock; refresh the
        sign of life when it is older than :data:`HEARTBEAT_SECONDS`."""
        if not self.held:
            self._lost()
        if _read_lock(self.path)[0] != self.generation:
            self._lost()
        now = now or dt.datetime.now(dt.UTC)
        beat = parse_time(self.holder.get("heartbeat"))
        if beat is None or (now - beat).total_seconds() > HEARTBEAT_SECONDS:
            self._write({"heartbeat": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})

    def release(self) -> None:
        """Give the PR back (nothing when it was taken over meanwhile)."""
        if self.held:
            storage.delete_if_generation(self.path, self.generation)
            self.held = False
        if os.environ.get(HOLDER_ENV) == self.token:
            os.environ.pop(HOLDER_ENV, None)


@contextlib.contextmanager
def hold_pr(runs_root: str, pr: int) -> Iterator[PrLock]:
    """The PR's lock for the duration (see :meth:`PrLock.acquire`)."""
    lock = PrLock.acquire(runs_root, pr)
    try:
        yield lock
    finally:
        lock.release()


def refuse_if_locked_by_other(run_dir: str) -> None:
    """Raise :class:`PrBusy` when ``run_dir``'s PR is locked by a live holder other than this
    process (or its parent run, :data:`HOLDER_ENV`)."""
    url = storage.is_url(run_dir)  # a URL keeps its "//"; a local path is normalised
    parent = posixpath.dirname(run_dir.rstrip("/") if url else os.path.normpath(run_dir))
    group = posixpath.basename(parent)
    if not re.fullmatch(r"pr\d+", group):
        return
    path = lock_path(posixpath.dirname(parent), int(group[2:]))
    try:
        generation, held = _read_lock(path)
    except PerfgateError:
        return
    if generation is None:
        return
    if held.get("token") == os.environ.get(HOLDER_ENV) or holder_is_dead(held):
        return
    raise _busy(held.get("pr", "?"), held, f"{run_dir}/{STATE_FILE} was not written")


def _busy(pr: Any, held: dict[str, Any], what: str) -> PrBusy:
    return PrBusy(
        f"PR {pr} is being gated by {describe_holder(held)} since {held.get('since')}; {what}"
    )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
