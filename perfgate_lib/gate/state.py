"""``state.json``: what a run has done and what is in flight, so a re-run resumes.

One JSON document per run folder. Writes are atomic: a local file is written to a temp
file beside it and renamed over; on an fsspec URL (``gs://``) the whole object is written
in one request. Every change is also appended to ``events`` (time, event, details).

The crash-safety protocol for submissions (a ferry is never submitted twice for one PR,
gate and attempt):

1. ``submitting`` is recorded (time, scratch output path) BEFORE the submit script runs;
   the submit process id once it starts;
2. the job id right after the script prints it.

A re-run that finds an attempt still ``submitting`` never submits blindly: it waits for
the recorded submit process if it still runs, reads the job id from the submit output
file (stdout went straight to disk), and otherwise asks the cluster for a job with the
deterministic run-id prefix submitted since then (:meth:`Runner.find`). Only when none
of these finds a job is the attempt submitted again: the cluster has no such job.

Secrets never enter the file: token values found in the text are replaced before writing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from perfgate_lib.errors import PerfgateError
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import read_json_object

STATE_FILE = "state.json"
SCHEMA = 1
FINAL_STATUSES = ("finished", "halted", "superseded")


class StateError(PerfgateError):
    """state.json is unreadable or from another kind of run."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def gate_folder(gate: int, attempt: int = 1) -> str:
    """``gate1`` for a first attempt, ``gate1-attempt2`` after."""
    return f"gate{gate}" if attempt == 1 else f"gate{gate}-attempt{attempt}"


class RunState:
    """The state document of one run folder (``data`` is plain JSON)."""

    def __init__(self, run_dir: str, data: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.data = data

    # ------------------------------------------------------------------ files
    @property
    def path(self) -> str:
        return storage.join(self.run_dir, STATE_FILE)

    @classmethod
    def create(cls, run_dir: str, **fields: Any) -> RunState:
        stamp = now_iso()
        data = {
            "schema": SCHEMA,
            "kind": "perfgate-run",
            "status": "started",
            "created_at": stamp,
            "updated_at": stamp,
            "attempts": {},
            "ladder": [],
            "posts": [],
            "events": [],
            **fields,
        }
        state = cls(run_dir, data)
        state.event("created")
        return state

    @classmethod
    def load(cls, run_dir: str) -> RunState:
        path = storage.join(run_dir, STATE_FILE)
        data = read_json_object(path, lambda problem: StateError(f"{path}: {problem}"))
        if data.get("kind") != "perfgate-run":
            raise StateError(f"{path}: not a perfgate run state")
        return cls(run_dir, data)

    def reload(self) -> RunState:
        self.data = RunState.load(self.run_dir).data
        return self

    def save(self) -> None:
        self.data["updated_at"] = now_iso()
        # storage.write_atomic redacts secrets, as every storage write does
        storage.write_atomic(self.path, json.dumps(self.data, indent=2, default=str) + "\n")

    # ------------------------------------------------------------------ run level
    @property
    def status(self) -> str:
        return str(self.data.get("status", ""))

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def event(self, name: str, **details: Any) -> None:
        """Append an event and save."""
        self.data.setdefault("events", []).append({"at": now_iso(), "event": name, **details})
        self.save()

    def set(self, **fields: Any) -> None:
        """Set top-level fields, record an event naming them, and save."""
        self.data.update(fields)
        self.event("set", fields=sorted(fields))

    # ------------------------------------------------------------------ attempts
    def attempt(self, gate: int, attempt: int) -> dict[str, Any]:
        """The record of one gate attempt (created empty when new; not saved)."""
        key = gate_folder(gate, attempt)
        return self.data.setdefault("attempts", {}).setdefault(
            key, {"gate": gate, "attempt": attempt, "folder": key, "status": "new"}
        )

    def has_attempt(self, gate: int, attempt: int) -> bool:
        return gate_folder(gate, attempt) in self.data.get("attempts", {})

    def update_attempt(
        self, gate: int, attempt: int, event: str | None = None, **fields: Any
    ) -> dict:
        """Merge ``fields`` into the attempt record, log ``event`` (default: the status), save."""
        record = self.attempt(gate, attempt)
        record.update(fields)
        name = event or f"gate{gate}-attempt{attempt}:{fields.get('status', 'update')}"
        self.event(name, gate=gate, attempt=attempt, fields=sorted(fields))
        return record

    def job_ids(self) -> tuple[str, ...]:
        """Every job id this run has recorded (to exclude them when recovering one)."""
        return tuple(a["job_id"] for a in self.data.get("attempts", {}).values() if a.get("job_id"))

    # ------------------------------------------------------------------ posts
    def posted(self, kind: str, key: str, sha256: str) -> dict | None:
        """The post record of (kind, key) with this body hash, if it happened already."""
        for post in self.data.get("posts", []):
            if post.get("kind") == kind and post.get("key") == key and post.get("sha256") == sha256:
                return post
        return None

    def record_post(self, **post: Any) -> None:
        self.data.setdefault("posts", []).append({"at": now_iso(), **post})
        self.event("posted", kind=post.get("kind"), key=post.get("key"))


def find_unfinished(runs_root: str, pr: int, sha: str | None = None) -> RunState | None:
    """The newest run folder of ``pr`` whose state is not final (and, when given, whose
    sha matches), else None."""
    group = storage.join(runs_root, f"pr{pr}")
    for leaf in sorted(storage.listdir(group), reverse=True):
        run_dir = storage.join(group, leaf)
        if not storage.exists(storage.join(run_dir, STATE_FILE)):
            continue
        try:
            state = RunState.load(run_dir)
        except StateError:
            continue
        if state.finished:
            continue
        if sha is None or state.data.get("sha") == sha:
            return state
    return None


def unfinished_runs(runs_root: str, pr: int) -> list[RunState]:
    """Every non-final run of ``pr``, newest first."""
    group = storage.join(runs_root, f"pr{pr}")
    found = []
    for leaf in sorted(storage.listdir(group), reverse=True):
        run_dir = storage.join(group, leaf)
        try:
            state = RunState.load(run_dir)
        except StateError:
            continue
        if not state.finished:
            found.append(state)
    return found
