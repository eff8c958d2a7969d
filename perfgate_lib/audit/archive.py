"""Archive a run folder as the gate's audit trail: HTML, ``provenance.json``, scrub, index.

A secret-looking string fails closed (:class:`SecretFound`) and the run is not indexed;
what is read from the folder: ``docs/audit-trail.md`` ("Archive and index")."""

from __future__ import annotations

import datetime as dt
import json
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perfgate_lib.audit import provenance, runindex, scrub
from perfgate_lib.audit.runindex import RunEntry
from perfgate_lib.errors import UsageError
from perfgate_lib.io import storage
from perfgate_lib.io.bulkread import fetch_many, list_files
from perfgate_lib.timeutil import parse_time

_RUN_PATH = re.compile(
    r"(?:^|[/\\])(?:pr(?P<pr>\d+)|(?P<kind>[A-Za-z][A-Za-z0-9_.-]*))[/\\]"
    r"(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<sha>[0-9A-Fa-f]{4,40}))?(?:-(?P<n>\d{1,3}))?[/\\]?$"
)
"""A run folder: ``<root>/pr<PR>/<stamp>[-<sha>][-<n>]`` (``-2``, ``-3``: a second run
started in the same second) or ``<root>/<kind>/<stamp>...`` (demo, local, compare)."""
VERDICT_FILE = "verdict.json"


@dataclass
class ArchiveResult:
    run_dir: str
    html: list[str]
    provenance: str
    index_file: str
    entry: RunEntry


def render_html(notebook: str) -> str:
    """Render an executed notebook to ``<name>.html`` beside it, titled with its name and
    run folder (``compare · pr12/20261206T101500Z``); returns the path."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.reads(storage.read_text(notebook), as_version=4)
    parts = str(notebook).replace("\\", "/").rstrip("/").split("/")
    title = parts[-1][: -len(".ipynb")] + (f" · {'/'.join(parts[-3:-1])}" if len(parts) > 2 else "")
    body, _ = HTMLExporter().from_notebook_node(node, resources={"metadata": {"name": title}})
    target = notebook[: -len(".ipynb")] + ".html"
    storage.write_text(target, body)
    return target


def from_path(run_dir: str) -> dict[str, Any]:
    """PR (None for a ``<kind>`` folder), start time and short sha of a run folder's path."""
    found = _RUN_PATH.search(str(run_dir))
    when = parse_time(found.group("stamp")) if found else None
    if found is None or when is None:  # not a run path, or its time is no real time
        return {}
    return {
        "pr": int(found.group("pr")) if found.group("pr") else None,
        "started_at": when.isoformat(timespec="seconds"),
        "sha": found.group("sha"),
    }


def _root_of(run_dir: str) -> str | None:
    """The runs root of a run folder (None when its path is not one)."""
    if not _RUN_PATH.search(str(run_dir)):
        return None
    path = str(run_dir).rstrip("/\\")
    parent = posixpath.dirname if storage.is_url(path) else os.path.dirname
    return parent(parent(path))


def _json_files(blobs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON objects among ``blobs`` (path -> bytes or the error reading it)."""
    out = {}
    for path, data in blobs.items():
        try:
            doc = None if isinstance(data, BaseException) else json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to decode
            continue
        if isinstance(doc, dict):
            out[path] = doc
    return out


def summarize_folder(run_dir: str, files: list[str]) -> dict[str, Any]:
    """What the folder says about itself: gates, verdict, parameters, input reports."""
    docs = _json_files(fetch_many([p for p in files if p.endswith((".json", ".ipynb"))]))
    gates = [
        {"gate": doc.get("gate"), "verdict": doc.get("verdict"), "file": path}
        for path, doc in docs.items()
        if path.endswith(VERDICT_FILE) and "verdict" in doc
    ]
    gates.sort(key=lambda g: (g["gate"] if isinstance(g["gate"], int) else -1, g["file"]))
    reports = {
        path: path
        for path, doc in docs.items()
        if path.endswith(".json") and ("stage_wall_seconds" in doc or "wall_seconds_total" in doc)
    }
    parameters: dict[str, Any] = {}
    for path, doc in docs.items():
        if not path.endswith(".ipynb"):
            continue
        try:
            meta = doc.get("metadata", {}).get("papermill", {})
        except AttributeError:  # metadata that is not an object
            continue
        if isinstance(meta, dict) and isinstance(meta.get("parameters"), dict):
            parameters[posixpath.basename(path.replace("\\", "/"))] = meta["parameters"]
    return {"gates": gates, "reports": reports, "parameters": parameters}


def archive_run(
    run_dir: str,
    *,
    runs_root: str | None = None,
    pr: int | None = None,
    gate: int | None = None,
    sha: str | None = None,
    verdict: str | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    thresholds: str | None = None,
    input_reports: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ArchiveResult:
    """Render, record provenance, scrub (fail closed: SecretFound, nothing indexed), index.

    Defaults: the bundled ``thresholds.yaml``; the folder's own runs root, else the default."""
    from perfgate_lib.verdict.thresholds import DEFAULT_THRESHOLDS

    run_dir = str(run_dir)
    try:
        files = list_files(run_dir)
    except FileNotFoundError as exc:
        raise UsageError(f"archive: run folder not found: {run_dir}") from exc
    html = [render_html(p) for p in files if p.endswith(".ipynb")]
    found = summarize_folder(run_dir, files)
    record = provenance.build_provenance(
        thresholds=str(thresholds or DEFAULT_THRESHOLDS),
        parameters=found["parameters"] if parameters is None else parameters,
        inputs=found["reports"] if input_reports is None else input_reports,
    )
    prov_path = provenance.write_provenance(run_dir, record)
    scrub.scan(run_dir, environ)

    guessed = from_path(run_dir)
    last = found["gates"][-1] if found["gates"] else {}
    finished = finished_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    entry = RunEntry(
        path=run_dir,
        pr=pr if pr is not None else guessed.get("pr"),
        gate=gate if gate is not None else last.get("gate"),
        sha=sha or guessed.get("sha"),
        verdict=verdict or last.get("verdict"),
        started_at=started_at or guessed.get("started_at"),
        finished_at=finished,
        gates=[{"gate": g["gate"], "verdict": g["verdict"]} for g in found["gates"]],
    )
    root = runs_root or _root_of(run_dir) or runindex.default_runs_root()
    index_file = runindex.register_run(entry, root)
    return ArchiveResult(run_dir, html, prov_path, index_file, entry)
