"""Stand-in for marin's scripts/ci/collect_perf_metrics.py against a real Iris controller.

marin's CLI and output contract (docs/contracts.md, checked 2026-12):
``uv run python scripts/ci/collect_perf_metrics.py --job-id ID [--status URL] [--out FILE]
[--iris-config PATH] [--gcs-prefix gs://... --report-name NAME]``; the JSON goes to
``--out`` (else stdout), logs to stderr. The report is built from the real job tree the
way marin's collector does:

* the tree: ``iris job list --json --prefix ID``; the launcher's tasks: ``iris job summary
  ID --json`` (``wall_seconds_total`` is the longest launcher task, seconds);
* each expected step's time spans its *direct* child jobs (name prefix per step) that have
  both ``started_at`` and ``finished_at``; a step with none is "cached" (0.0, listed in
  ``cached_steps``) whatever its jobs' states: a killed or unfinished step reads as a cache
  hit. ``download`` is optional and never listed as cached;
* task states, preemptions and failures summed over the tree; failed tasks bucketed
  (oom, scheduling_timeout, application_failure, other);
* ``status``/``marin_prefix`` from the status file (null when the ferry wrote none).

It exits 0 even when its iris calls fail: stage times are then 0, every expected step is
listed in ``cached_steps`` and ``warnings`` says why.

Both collector lineages; the PR's scenario (``$STANDIN_WORLD/scenarios/pr<PR>.json``, as
for the ferry) chooses:

* ``lineage`` ``child-job`` (default, above) or ``step-log`` (today's collector): stage
  times from the ferry driver's step log, read with ``iris job logs ID --max-lines 10000``
  and filtered to logger ``marin.execution.step_runner``: ``Step <name>_<8 hex> succeeded
  in H:MM:SS[.f]`` adds to its stage (``datakit/<stage>/<source>`` and ``<ferry>/<stage>``
  both map to ``<stage>``), a stage only seen in ``Skip <name>_<8 hex>: already
  succeeded`` is cached (0.0), an expected step with no line is left out with the warning
  ``expected steps neither ran nor were cached: ...``; no ``stage_sum_task_wall_seconds``;
* ``role`` ``admin`` (default) or ``user``: the raw task-wall query needs the admin role;
  a user's collector warns ``iris query task_wall_ms: failed;
  sum_task_wall_seconds_total unset`` and exits 0 (an admin's sums the leaf jobs' spans).
"""

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

STEPS = {
    "download": ("zephyr-download-hf-",),
    "normalize": ("zephyr-normalize-",),
    "minhash": ("zephyr-minhash-attrs-",),
    "fuzzy_dups": ("zephyr-fuzzy-dups-",),
    "consolidate": ("zephyr-consolidate-filter-",),
    "tokenize": (
        "zephyr-tokenize-train-",
        "zephyr-levanter-cache-copy-",
        "zephyr-levanter-cache-probe-",
    ),
}
OPTIONAL = {"download"}
STEP_LOG_STEPS = (
    "normalize",
    "tokenize",
    "embed",
    "quality",
    "decontam",
    "minhash",
    "dedup",
    "verify_fuzzy_clusters",
    "store",
)
STEP_LOGGER = "marin.execution.step_runner"
STEP_DONE = re.compile(
    r"Step (?P<name>\S+)_[0-9a-f]{8} succeeded in (?P<hms>\d+:\d{2}:\d{2}(\.\d+)?)"
)
STEP_SKIPPED = re.compile(r"Skip (?P<name>\S+)_[0-9a-f]{8}: already succeeded")
MAX_LOG_LINES = 10_000

parser = argparse.ArgumentParser()
parser.add_argument("--job-id", required=True)
parser.add_argument("--status", default=None)
parser.add_argument("--out", default=None)
parser.add_argument("--iris-config", default="lib/iris/config/marin.yaml")
parser.add_argument("--gcs-prefix", default=None)
parser.add_argument("--report-name", default=None)
args = parser.parse_args()

IRIS = os.path.join(os.path.dirname(sys.executable), "iris")  # the env `uv run` uses
warnings: list[str] = []


def scenario() -> dict:
    """The PR's scenario, found from the job id like the stand-in ferry finds it."""
    match = re.search(r"-pr(\d+)-", args.job_id)
    world = os.environ.get("STANDIN_WORLD")
    path = os.path.join(world or "", "scenarios", f"pr{match.group(1) if match else 0}.json")
    if not (world and os.path.exists(path)):
        return {}
    with open(path) as fh:
        return json.load(fh)


def driver_step_lines() -> list[str] | None:
    """The driver task's step-runner lines, or None when the logs could not be read."""
    cmd = [IRIS, f"--config={args.iris_config}", "job", "logs", args.job_id]
    cmd += ["--max-lines", str(MAX_LOG_LINES)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"WARNING iris driver logs failed for {args.job_id}: {exc}", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f"WARNING iris driver logs failed for {args.job_id}", file=sys.stderr)
        return None
    return [line for line in proc.stdout.splitlines() if STEP_LOGGER in line]


def step_stage(name: str) -> str:
    parts = name.split("/")
    return parts[1] if parts[0] == "datakit" and len(parts) > 1 else parts[-1]


def seconds(hms: str) -> float:
    hours, minutes, secs = hms.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(secs)


def step_log_stages(lines: list[str]) -> tuple[dict[str, float], list[str]]:
    """(stage_wall_seconds, cached_steps) from the step-runner lines."""
    durations: dict[str, float] = {}
    skipped: set[str] = set()
    for line in lines:
        done = STEP_DONE.search(line)
        if done:
            stage = step_stage(done["name"])
            durations[stage] = round(durations.get(stage, 0.0) + seconds(done["hms"]), 3)
            continue
        skip = STEP_SKIPPED.search(line)
        if skip:
            skipped.add(step_stage(skip["name"]))
    cached = sorted(skipped - durations.keys())
    durations.update(dict.fromkeys(cached, 0.0))
    return durations, cached


def iris_json(*argv: str):
    cmd = [IRIS, f"--config={args.iris_config}", *argv]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        warnings.append(f"iris {' '.join(argv[:2])} failed: {exc}")
        return None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        warnings.append(f"iris {' '.join(argv[:2])} failed (exit {proc.returncode}): {tail[0]}")
        return None
    text = proc.stdout
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    try:
        return json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        warnings.append(f"iris {' '.join(argv[:2])} printed no JSON: {exc}")
        return None


def cli_has_no_json() -> bool:
    """marin-iris 0.2.227's CLI lists jobs as a table only; marin's collector of that era
    reads the tree and the launcher's tasks with the iris Python client instead."""
    cmd = [IRIS, f"--config={args.iris_config}", "job", "list", "--help"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "--json" not in proc.stdout


def _client_call(what: str, read):
    """``read(client)`` with an iris client of the controller, or None and marin's warning."""
    from iris.cli.connect import connect_controller
    from iris.client.client import IrisClient

    try:
        with (
            connect_controller(config_file=Path(args.iris_config)) as endpoint,
            IrisClient.remote(endpoint.url, credentials=endpoint.credentials) as client,
        ):
            return read(client)
    except Exception as exc:  # noqa: BLE001 - the collector warns and goes on, as marin's does
        print(f"WARNING iris client {what} failed for {args.job_id}: {exc}", file=sys.stderr)
        return None


def client_tree() -> list[dict] | None:
    def epoch(value):
        return {"epoch_ms": value.epoch_ms()} if value is not None else None

    def read(client):
        return [
            {
                "job_id": str(job.job_id),
                "state": job.state.name.lower(),
                "started_at": epoch(job.started_at),
                "finished_at": epoch(job.finished_at),
                "failure_count": job.failure_count,
                "preemption_count": job.preemption_count,
                "task_state_counts": {s.name.lower(): n for s, n in job.task_state_counts.items()},
                "has_children": job.has_children,
            }
            for job in client.list_jobs(prefix=args.job_id)
        ]

    tree_ = _client_call("job list", read)
    if tree_ is None:
        warnings.append("iris job list --prefix: failed; counts reflect launcher task only")
    return tree_


def client_summary() -> dict | None:
    def read(client):
        from iris.client.workload_summary import job_summary_data
        from iris.cluster.types import JobName

        name = JobName.from_wire(args.job_id)
        return job_summary_data(client.job_status(name), client.list_tasks(name))

    summary_ = _client_call("Job description", read)
    if summary_ is None:
        warnings.append("iris client Job description failed; wall_seconds_total unavailable")
    return summary_


def ms(value) -> float | None:
    if isinstance(value, dict):
        value = value.get("epoch_ms")
    return float(value) if value not in (None, "", "0") else None


def parts(job_id: str) -> list[str]:
    return [p for p in job_id.split("/") if p]


def bucket(error: str) -> str:
    text = error.lower()
    if "oom" in text or "out of memory" in text or "137" in text:
        return "oom"
    if "unschedulable" in text or "scheduling timeout" in text:
        return "scheduling_timeout"
    if "exit code" in text or "error" in text:
        return "application_failure"
    return "other"


status = {}
if args.status:
    try:
        with open(args.status) as fh:
            status = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        warnings.append(f"status file {args.status} unreadable: {exc}")

CLIENT = cli_has_no_json()
tree = (
    client_tree() if CLIENT else iris_json("job", "list", "--json", "--prefix", args.job_id)
) or []
root = parts(args.job_id)
tree = [e for e in tree if parts(str(e.get("job_id", "")))[: len(root)] == root]
summary = (client_summary() if CLIENT else iris_json("job", "summary", args.job_id, "--json")) or {}
children = [e for e in tree if len(parts(str(e.get("job_id", "")))) == len(root) + 1]

SCENARIO = scenario()
STEP_LOG = SCENARIO.get("lineage") == "step-log"
stage_wall: dict[str, float] = {}
cached: list[str] = []
for stage, prefixes in {} if STEP_LOG else STEPS.items():
    spans = [
        (ms(e.get("started_at")), ms(e.get("finished_at")))
        for e in children
        if parts(e["job_id"])[-1].startswith(prefixes)
    ]
    spans = [(s, f) for s, f in spans if s is not None and f is not None]
    if spans:
        stage_wall[stage] = round((max(f for _, f in spans) - min(s for s, _ in spans)) / 1000, 3)
    elif stage not in OPTIONAL:
        stage_wall[stage] = 0.0
        cached.append(stage)

states: dict[str, int] = {}
infra = dict.fromkeys(
    ("preempted", "oom", "hardware_fault", "scheduling_timeout", "application_failure", "other"), 0
)
for entry in tree:
    for state, count in (entry.get("task_state_counts") or {}).items():
        states[state.lower()] = states.get(state.lower(), 0) + int(count)
    infra["preempted"] += int(entry.get("preemption_count") or 0)
    if not entry.get("has_children") and (entry.get("task_state_counts") or {}).get("failed"):
        infra[bucket(str(entry.get("error") or ""))] += int(entry["task_state_counts"]["failed"])
if STEP_LOG:
    lines = driver_step_lines()
    if lines is None:
        warnings.append("driver step log unavailable; stage_wall_seconds empty")
    else:
        stage_wall, cached = step_log_stages(lines)
        if all(stage_wall.get(s, 0.0) == 0.0 for s in STEP_LOG_STEPS):
            warnings.append("no expected step ran; pipeline may not have done any work")
        missing = [s for s in STEP_LOG_STEPS if s not in stage_wall]
        if missing:
            warnings.append(f"expected steps neither ran nor were cached: {', '.join(missing)}")
task_wall = None
if SCENARIO.get("role", "admin") == "admin":  # the raw query: leaf jobs' summed spans
    leaves = [e for e in tree if not e.get("has_children")]
    spans = [(ms(e.get("started_at")), ms(e.get("finished_at"))) for e in leaves]
    task_wall = round(sum((f - s) for s, f in spans if s and f) / 1000, 3)
else:
    warnings.append("iris query task_wall_ms: failed; sum_task_wall_seconds_total unset")
tasks = summary.get("tasks") or []
durations = [float(t.get("duration_ms") or 0) for t in tasks]
report = {
    "iris_job_id": args.job_id,
    "status": status.get("status"),
    "marin_prefix": status.get("marin_prefix"),
    "wall_seconds_total": round(max(durations) / 1000, 3) if durations else None,
    "stage_wall_seconds": stage_wall,
    "sum_task_wall_seconds_total": task_wall,
    "cached_steps": cached,
    "ooms": infra["oom"],
    "failed_shards": infra["application_failure"],
    "peak_worker_memory_mb": max((int(t.get("memory_peak_mb") or 0) for t in tasks), default=0),
    "preemption_count": infra["preempted"],
    "failure_count": sum(int(e.get("failure_count") or 0) for e in tree),
    "task_state_counts": states,
    "tree_job_count": len(tree),
    "infra_failures": infra,
    "workflow_run_id": os.environ.get("GITHUB_RUN_ID"),
    "workflow_run_attempt": os.environ.get("GITHUB_RUN_ATTEMPT"),
    "workflow_name": os.environ.get("GITHUB_WORKFLOW"),
    "commit_sha": os.environ.get("GITHUB_SHA"),
    "collected_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    "warnings": warnings,
}
text = json.dumps(report, indent=2)
print(f"INFO collected {len(tree)} jobs of {args.job_id}", file=sys.stderr)
if args.out:
    with open(args.out, "w") as fh:
        fh.write(text + "\n")
else:
    print(text)
