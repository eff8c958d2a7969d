"""Shared state of the fake marin world (stdlib only; imported by the fake scripts).

The world folder (``$FAKE_MARIN_WORLD``) holds:

* ``scenario.json``: per ``"<gate>/<attempt>"`` (or ``"default"``): ``states`` (job states
  returned poll after poll, the last one repeating), ``report`` (pass | warn | fail |
  inconclusive | oom | none), ``error`` (the job's error string once terminal),
  ``ferry_module`` (override); top level: ``pyrefly_exit``, ``submit_sleep`` (seconds the
  submit script waits after creating the job, before printing its JSON line);
* ``jobs.json``: job id -> {gate, attempt, pr, submitted_ms, polls, stopped};
* ``submissions.jsonl``, ``collections.jsonl``, ``iris_calls.jsonl``, ``stops.jsonl``:
  ledgers, one JSON object per line;
* ``base_report.json``: the report the treatment reports are derived from.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

ROOT = os.environ.get("FAKE_MARIN_WORLD", "")
TIER_FERRY = {
    "1": "experiments.ferries.datakit_ferry",
    "2": "experiments.ferries.datakit_tier2_skewed_ferry",
    "3": "experiments.ferries.datakit_nemotron_ferry",
}


def path(name: str) -> str:
    if not ROOT:
        raise SystemExit("FAKE_MARIN_WORLD is not set")
    return os.path.join(ROOT, name)


@contextlib.contextmanager
def locked():
    with open(path(".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_json(name: str, default):
    try:
        with open(path(name)) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


def write_json(name: str, data) -> None:
    tmp = path(name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path(name))


def append(name: str, record: dict) -> None:
    with open(path(name), "a") as fh:
        fh.write(json.dumps(record) + "\n")


def ledger(name: str) -> list[dict]:
    try:
        with open(path(name)) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def scenario() -> dict:
    return read_json("scenario.json", {})


def attempt_spec(gate: int, attempt: int) -> dict:
    sc = scenario()
    spec = dict(sc.get("default") or {})
    spec.update(sc.get("attempts", {}).get(f"{gate}/{attempt}", {}))
    spec.setdefault("states", ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"])
    spec.setdefault("report", "pass")
    return spec


def now_ms() -> int:
    return int(time.time() * 1000)
