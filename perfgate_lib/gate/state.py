"""``state.json``: what a run has done and what is in flight, so a re-run resumes.

One JSON document per run folder, written atomically, token values replaced before
writing. Contract: a ferry is never submitted twice for one PR, gate and attempt (an
attempt still ``submitting`` is found again before it is resubmitted). :class:`PrLock`
holds one run per PR; a second run stops with :class:`PrBusy` (exit 4) before touching
any run folder. The protocol is in ``docs/running-a-gate.md``; the lock in
``docs/security.md`` ("One run per PR").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import posixpath
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

from perfgate_lib.errors import PerfgateError
from perfgate_lib.gate.record import AttemptRecord, RunRecord
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import read_json_object

STATE_FILE = "state.json"
SCHEMA = 1
FINAL_STATUSES = ("finished", "halted", "superseded")
LOCKS_DIR = ".locks"  # <runs root>/.locks/pr<N>.json
LOCK_STALE_HOURS = 8.0  # no sign of life for this long: the holder is dead (Actions: 6 h)
HEARTBEAT_SECONDS = 300.0  # a holder refreshes its sign of life at most this often
HOLDER_ENV = "PERFGATE_LOCK_HOLDER"  # the holder's id, inherited by its notebook kernels


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

    # ------------------------------------------------------------------ files
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

    # ------------------------------------------------------------------ run level
    @property
    def status(self) -> str:
        return self.record.status

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def event(self, name: str, **details: Any) -> None:
        """Append an event and save."""
        self.record.events.append({"at": now_iso(), "event": name, **details})
        self.save()

    def set(self, **fields: Any) -> None:
        """Set fields of the record, record an event naming them, and save."""
        self.record.update(**fields)
        self.event("set", fields=sorted(fields))

    # ------------------------------------------------------------------ attempts
    def attempts(self) -> list[AttemptRecord]:
        """Every attempt recorded, in the order they were made."""
        return list(self.record.attempts.values())

    def attempt(self, gate: int, attempt: int) -> AttemptRecord:
        """The record of one gate attempt (created empty when new; not saved)."""
        key = gate_folder(gate, attempt)
        attempts = self.record.attempts
        if key not in attempts:
            attempts[key] = AttemptRecord(gate=gate, attempt=attempt, folder=key)
        return attempts[key]

    def update_attempt(
        self, gate: int, attempt: int, event: str | None = None, **fields: Any
    ) -> AttemptRecord:
        """Set ``fields`` of the attempt record, log ``event`` (default: the status), save."""
        record = self.attempt(gate, attempt)
        record.update(**fields)
        name = event or f"gate{gate}-attempt{attempt}:{fields.get('status', 'update')}"
        self.event(name, gate=gate, attempt=attempt, fields=sorted(fields))
        return record

    def job_ids(self) -> tuple[str, ...]:
        """Every job id this run has recorded (to exclude them when recovering one)."""
        return tuple(a.job_id for a in self.attempts() if a.job_id)

    # ------------------------------------------------------------------ posts
    def posted(self, kind: str, key: str, sha256: str) -> dict | None:
        """The post record of (kind, key) with this body hash, if it happened already."""
        for post in self.record.posts:
            if post.get("kind") == kind and post.get("key") == key and post.get("sha256") == sha256:
                return post
        return None

    def record_post(self, **post: Any) -> None:
        self.record.posts.append({"at": now_iso(), **post})
        self.event("posted", kind=post.get("kind"), key=post.get("key"))


def _unfinished(runs_root: str, pr: int) -> Iterator[RunState]:
    """Every non-final run of ``pr``, newest first; a folder without a readable
    ``state.json`` (and the dot files, such as the lock's) is skipped."""
    group = storage.join(runs_root, f"pr{pr}")
    for leaf in sorted((n for n in storage.listdir(group) if not n.startswith(".")), reverse=True):
        run_dir = storage.join(group, leaf)
        if not storage.exists(storage.join(run_dir, STATE_FILE)):
            continue
        try:
            state = RunState.load(run_dir)
        except StateError:
            continue
        if not state.finished:
            yield state


def find_unfinished(runs_root: str, pr: int, sha: str | None = None) -> RunState | None:
    """The newest non-final run of ``pr`` (at ``sha`` when given), else None."""
    return next((s for s in _unfinished(runs_root, pr) if sha is None or s.record.sha == sha), None)


def unfinished_runs(runs_root: str, pr: int) -> list[RunState]:
    """Every non-final run of ``pr``, newest first."""
    return list(_unfinished(runs_root, pr))


# ---------------------------------------------------------------------- the PR lock
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
    zombie (finished, not yet reaped) is not running."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now_start = _process_start(pid)
    if os.path.exists(f"/proc/{int(pid)}"):
        return bool(now_start) and (not start or now_start == start)
    return True


def _parse_time(text: Any) -> dt.datetime | None:
    """An ISO time (UTC when it names no zone), else None."""
    try:
        when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host-a (run folder ...)`` for messages."""
    text = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    if holder.get("run_dir"):
        text += f" (run folder {holder['run_dir']})"
    return text


def _released_since(holder: dict[str, Any]) -> bool:
    """True when ``perfgate trigger --release`` released the holder's run after it
    took the lock."""
    run_dir = holder.get("run_dir")
    since = _parse_time(holder.get("since"))
    if not run_dir or since is None:
        return False
    try:
        state = RunState.load(str(run_dir))
    except (StateError, OSError, PerfgateError):
        return False
    for event in state.record.events:
        at = _parse_time(event.get("at"))
        if event.get("event") == "released" and at is not None and at >= since:
            return True
    return False


def holder_is_dead(holder: dict[str, Any], now: dt.datetime | None = None) -> str:
    """Why the lock's holder counts as dead ("" when it may still be running)."""
    now = now or dt.datetime.now(dt.UTC)
    here = holder.get("host") == socket.gethostname()
    if here and not alive_here(holder.get("pid"), str(holder.get("start") or "")):
        return f"its process ({describe_holder(holder)}) is gone"
    if _released_since(holder):
        return "its run was released (perfgate trigger --release)"
    beat = _parse_time(holder.get("heartbeat")) or _parse_time(holder.get("since"))
    if beat is None:
        return "the lock file is unreadable"
    if (now - beat).total_seconds() > LOCK_STALE_HOURS * 3600:
        return f"no sign of life since {holder.get('heartbeat')} (over {LOCK_STALE_HOURS:g} h)"
    return ""


def _decode_holder(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


class PrLock:
    """This process's hold on one PR (see the module docstring). ``holder`` is what the
    lock file says: token, host, pid, start, since, heartbeat, run_dir."""

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
        path = lock_path(runs_root, pr)
        stamp = now_iso()
        me: dict[str, Any] = {
            "pr": pr,
            "token": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start": _process_start(os.getpid()),
            "since": stamp,
            "heartbeat": stamp,
            "run_dir": "",
        }
        for _ in range(attempts):
            current = storage.read_versioned(path)
            expected = None
            if current is not None:
                held = _decode_holder(current.text)
                why = holder_is_dead(held)
                if not why:
                    raise PrBusy(
                        f"PR {pr} is being gated by {describe_holder(held)} since "
                        f"{held.get('since')}; nothing was done (lock: {path})"
                    )
                me["took_over"] = {"from": describe_holder(held), "why": why}
                expected = current.generation
            generation = storage.write_if_generation(path, _dumps(me), expected)
            if generation is None:  # another run got there first, or our retried write did
                again = storage.read_versioned(path)
                if again is None or _decode_holder(again.text).get("token") != me["token"]:
                    continue
                generation = again.generation
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
        current = storage.read_versioned(self.path)
        other = _decode_holder(current.text) if current else {}
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
        current = storage.read_versioned(self.path)
        if current is None or current.generation != self.generation:
            self._lost()
        now = now or dt.datetime.now(dt.UTC)
        beat = _parse_time(self.holder.get("heartbeat"))
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
    """Raise :class:`PrBusy` when ``run_dir`` belongs to a PR whose lock a live holder
    other than this process (or its parent run, :data:`HOLDER_ENV`) has."""
    url = storage.is_url(run_dir)  # a URL keeps its "//"; a local path is normalised
    parent = posixpath.dirname(run_dir.rstrip("/") if url else os.path.normpath(run_dir))
    group = posixpath.basename(parent)
    if not re.fullmatch(r"pr\d+", group):
        return
    path = lock_path(posixpath.dirname(parent), int(group[2:]))
    try:
        current = storage.read_versioned(path)
    except PerfgateError:
        return
    if current is None:
        return
    held = _decode_holder(current.text)
    if held.get("token") == os.environ.get(HOLDER_ENV) or holder_is_dead(held):
        return
    raise PrBusy(
        f"PR {held.get('pr', '?')} is being gated by {describe_holder(held)} since "
        f"{held.get('since')}; {run_dir}/{STATE_FILE} was not written"
    )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
