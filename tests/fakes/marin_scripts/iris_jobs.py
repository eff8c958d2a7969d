"""The fake cluster's jobs, shared by the fake ``iris`` CLI and the fake
``scripts/ci/iris_monitor.py`` (stdlib only).

A job's state advances one step of its scenario ``states`` each time the job itself is
observed (a listing whose prefix is the job id, a monitor ``status``, one ``wait`` poll);
the last state repeats. A stopped job reads ``JOB_STATE_KILLED``. When the root job is first
observed in a terminal state the "ferry" writes its status file (``-e FERRY_STATUS_PATH``)
unless it was killed: only the ferry writes it, and only when it ends.

The scenario's top-level ``iris_cli`` picks the CLI generation the fake speaks:
``0.2.20`` (default: ``job list --json``, ``job stop``, ``job summary``) or ``0.2.227``
(a table ``job list``, ``job cancel``, ``job describe`` / ``job wait``).
"""

from __future__ import annotations

import datetime as dt
import json
import os

import world

TERMINAL = ("succeeded", "failed", "killed", "worker_failed", "unschedulable")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")


def cli_version() -> str:
    return str(world.scenario().get("iris_cli") or "0.2.20")


def recorded(name: str) -> str:
    """A recorded output of the real CLI of this version (tests/fixtures/iris_dialects)."""
    with open(os.path.join(FIXTURES, "iris_dialects", f"{cli_version()}-{name}")) as fh:
        return fh.read()


def iso_ms(epoch_ms: int) -> str:
    """How 0.2.227 prints a time: ISO 8601 in UTC (``2026-12-06T18:40:37.260000+00:00``)."""
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).isoformat()


def norm(state: str) -> str:
    return state.lower().removeprefix("job_state_")


def _entry(job_id: str, job: dict, observe: bool) -> dict:
    spec = world.attempt_spec(job["gate"], job["attempt"])
    states = spec["states"]
    if observe:
        job["polls"] += 1
    if job["stopped"]:
        state = "JOB_STATE_KILLED"
    else:
        state = states[min(job["polls"], len(states)) - 1 if job["polls"] else 0]
    entry = {
        "job_id": job_id,
        "state": state,
        "submitted_at": {"epoch_ms": str(job["submitted_ms"])},
    }
    n = norm(state)
    if n not in ("pending", "building"):
        entry["started_at"] = {"epoch_ms": str(job["submitted_ms"] + spec.get("queue_ms", 1500))}
    if n in TERMINAL:
        entry["finished_at"] = {"epoch_ms": str(world.now_ms())}
        if job["stopped"]:
            entry["error"] = job.get("stop_reason") or "Terminated by user"
        elif spec.get("error"):
            entry["error"] = spec["error"]
        write_status(job_id, job, n)
    if n == "pending":
        entry["pending_reason"] = spec.get("pending_reason") or "waiting for capacity"
    return entry


def write_status(job_id: str, job: dict, state: str) -> None:
    """The ferry's status file, written once when it ends (a killed ferry writes none)."""
    if job["status_written"] or not job.get("status_path") or state == "killed":
        return
    os.makedirs(os.path.dirname(job["status_path"]), exist_ok=True)
    with open(job["status_path"], "w") as fh:
        status = "succeeded" if state == "succeeded" else "failed"
        prefix = f"gs://fake/{job_id.rsplit('/', 1)[-1]}"
        json.dump({"status": status, "marin_prefix": prefix}, fh)
    job["status_written"] = True


def listing(prefix: str) -> list[dict]:
    """Entries under ``prefix`` (ids matched as printed); the job named exactly by the
    prefix is observed."""
    out = []
    with world.locked():
        jobs = world.read_json("jobs.json", {})
        for job_id, job in sorted(jobs.items()):
            if job_id.startswith(prefix):
                out.append(_entry(job_id, job, observe=prefix == job_id))
        world.write_json("jobs.json", jobs)
    return out


def observe(job_id: str) -> dict | None:
    """One observation of ``job_id`` (exact id); None when the cluster does not know it."""
    with world.locked():
        jobs = world.read_json("jobs.json", {})
        if job_id not in jobs:
            return None
        entry = _entry(job_id, jobs[job_id], observe=True)
        world.write_json("jobs.json", jobs)
    return entry


def stop(job_ids: list[str], reason: str = "") -> list[str]:
    """Mark jobs stopped (ledger ``stops.jsonl``); the ids the cluster knew."""
    known = []
    with world.locked():
        jobs = world.read_json("jobs.json", {})
        for job_id in job_ids:
            if job_id in jobs:
                jobs[job_id]["stopped"] = True
                jobs[job_id]["stop_reason"] = reason
                known.append(job_id)
            world.append("stops.jsonl", {"job_id": job_id})
        world.write_json("jobs.json", jobs)
    return known
