"""``provenance.json`` of a run: which kit, thresholds, parameters and inputs
(``docs/audit-trail.md``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

from perfgate_lib import PROJECT_ROOT, __version__
from perfgate_lib.errors import PerfgateError
from perfgate_lib.io import storage
from perfgate_lib.io.git import GitError, git

PROVENANCE_FILE = "provenance.json"
KIT_ROOT = PROJECT_ROOT  # the perfgate checkout (tests point it elsewhere)


def _git(*args: str) -> str | None:
    """``git -C KIT_ROOT ARGS``'s stdout, or None when git fails, is missing or hangs."""
    try:
        done = git(KIT_ROOT, *args, check=False, timeout=10)
    except (GitError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def package_version() -> str:
    try:
        return metadata.version("perfgate")
    except metadata.PackageNotFoundError:
        return __version__


def kit_version() -> dict[str, Any]:
    """The kit's version: the git sha when the kit's own folder is a work tree, else the
    package version."""
    top = _git("rev-parse", "--show-toplevel")
    sha = _git("rev-parse", "HEAD") if top and pathlib.Path(top).resolve() == KIT_ROOT else None
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if sha else None
    version = package_version()
    return {
        "version": sha + ("-dirty" if dirty else "") if sha else version,
        "source": "git" if sha else "package",
        "git_sha": sha or None,
        "dirty": dirty,
        "package_version": version,
    }


def sha256_of(path: str) -> tuple[str, int]:
    """(sha256 hex digest, size in bytes) of a local file or URL."""
    try:
        data = storage.read_bytes(str(path))
    except FileNotFoundError as exc:
        raise PerfgateError(f"provenance: input not found: {path}") from exc
    return hashlib.sha256(data).hexdigest(), len(data)


def build_provenance(
    *,
    thresholds: str | pathlib.Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | Iterable[str] = (),
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The provenance record; ``inputs`` maps a name (``baseline``) to a path, or lists paths."""
    named = dict(inputs) if isinstance(inputs, Mapping) else {str(p): str(p) for p in inputs}
    records = []
    for name, path in named.items():
        digest, size = sha256_of(path)
        records.append({"name": name, "path": str(path), "sha256": digest, "bytes": size})
    thresholds_record = None
    if thresholds is not None:
        thresholds_record = {"path": str(thresholds), "sha256": sha256_of(str(thresholds))[0]}
    return {
        "schema": 1,
        "created_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "kit": kit_version(),
        "thresholds": thresholds_record,
        "parameters": json.loads(json.dumps(dict(parameters or {}), default=str)),
        "inputs": records,
    }


def write_provenance(run_dir: str, record: Mapping[str, Any]) -> str:
    """Write ``provenance.json`` into ``run_dir``; returns its path."""
    path = storage.join(run_dir, PROVENANCE_FILE)
    storage.write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
