"""The run index: one small JSON file per run under ``<runs root>/index/`` (safe with
concurrent writers and on ``gs://``); ``docs/audit-trail.md`` ("Archive and index")."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from perfgate_lib.errors import UsageError
from perfgate_lib.io import storage
from perfgate_lib.io.bulkread import fetch_many
from perfgate_lib.io.rundir import default_runs_root
from perfgate_lib.typed import Text, Whole, read_model

__all__ = ["INDEX_DIR", "RunEntry", "default_runs_root", "index_key", "list_runs", "register_run"]

log = logging.getLogger("perfgate.runindex")
INDEX_DIR = "index"
SCHEMA = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RunEntry:
    """One indexed run (times are ISO-8601 UTC strings)."""

    path: Text
    pr: Whole | None = None
    gate: Whole | None = None
    sha: Text | None = None
    verdict: Text | None = None
    started_at: Text | None = None
    finished_at: Text | None = None
    registered_at: Text | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, obj: Any, source: str) -> RunEntry:
        """Validate an index file's object; ValueError names the file and field."""
        return read_model(cls, obj, lambda key, why: ValueError(f"{source}: field '{key}': {why}"))


def _norm(path: str) -> str:
    path = str(path)
    return path.rstrip("/") if storage.is_url(path) else os.path.abspath(path)


def index_key(root: str, run_dir: str) -> str:
    """The run's index file stem: its path under ``root`` with ``/`` as ``--`` (outside the
    root: its last two parts and a short digest)."""
    root_n, run_n = _norm(root), _norm(run_dir)
    sep = "/" if storage.is_url(run_n) else os.sep
    if run_n.startswith(root_n + sep):
        rel = run_n[len(root_n) + 1 :]
        return "--".join(_UNSAFE.sub("_", part) for part in rel.split(sep) if part)
    digest = hashlib.sha256(run_n.encode()).hexdigest()[:12]
    tail = [p for p in run_n.replace("\\", "/").split("/") if p][-2:]
    return "--".join([*(_UNSAFE.sub("_", p) for p in tail), digest])


def index_dir(root: str | None = None) -> str:
    return storage.join(root or default_runs_root(), INDEX_DIR)


def register_run(entry: RunEntry, root: str | None = None) -> str:
    """Write (or rewrite) ``entry`` into the index at ``root``; returns the index file path."""
    root = root or default_runs_root()
    if not entry.path:
        raise UsageError("run index: an entry needs the run folder path")
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    data = entry.to_json() | {"registered_at": entry.registered_at or stamp}
    path = storage.join(index_dir(root), index_key(root, entry.path) + ".json")
    storage.write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def _decoded(data: bytes, source: str) -> Any:
    """An index file's decoded JSON; ValueError when it is not JSON or nests too deeply."""
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise ValueError(f"{source}: JSON nested too deeply") from exc


def list_runs(root: str | None = None, pr: int | None = None) -> list[RunEntry]:
    """Indexed runs at ``root`` (of one PR when given), oldest start first; an unreadable
    index file is skipped with a warning naming it."""
    folder = index_dir(root)
    if not storage.exists(folder):
        return []
    paths = storage.glob(storage.join(folder, "*.json"))
    entries: list[RunEntry] = []
    for path, data in fetch_many(paths).items():
        try:
            if isinstance(data, BaseException):
                raise ValueError(f"{path}: cannot read ({type(data).__name__})")
            entry = RunEntry.from_json(_decoded(data, path), path)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            log.warning("skipping index file %s: %s", path, exc)
            continue
        if pr is None or entry.pr == pr:
            entries.append(entry)
    return sorted(entries, key=lambda e: (e.started_at or "", e.path))
