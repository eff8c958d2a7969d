"""Fake scripts/ci/collect_perf_metrics.py: the treatment report of a fake job.

Like marin's: ``status`` and ``marin_prefix`` come from the status file (null, with a
warning, when the ferry wrote none); report ``quiet_failure`` is what marin's collector
writes when its iris calls fail: exit 0, all-zero stages, every step cached, the reason
in ``warnings`` (the launcher's own wall time still read).

Both collector lineages (the attempt's spec chooses): ``lineage`` ``child-job`` (default:
stage times of the base report's child-job steps) or ``step-log`` (today's collector:
the driver's step log, steps of ``tests/fixtures/reports/lineage_step_log_admin.json``;
``missing_steps`` are left out with marin's warning; ``quiet_failure`` is an unreadable
step log); ``role`` ``admin`` (default) or ``user``: a non-admin's raw query fails with
marin's exact warning and ``sum_task_wall_seconds_total`` unset.
"""

import argparse
import copy
import datetime as dt
import json
import os
import sys

sys.path.insert(0, os.environ["FAKE_MARIN_SCRIPTS"])
import world  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--job-id", required=True)
parser.add_argument("--status", default=None)
parser.add_argument("--out", default=None)
parser.add_argument("--iris-config", default=None)
args = parser.parse_args()

jobs = world.read_json("jobs.json", {})
job = jobs.get(args.job_id)
world.append("collections.jsonl", {"job_id": args.job_id, "status": args.status, "out": args.out})
if job is None:
    print(f"ERROR unknown job {args.job_id}", file=sys.stderr)
    sys.exit(1)
spec = world.attempt_spec(job["gate"], job["attempt"])
kind = spec["report"]
if kind == "none":
    print(f"ERROR no perf data for {args.job_id}", file=sys.stderr)
    sys.exit(1)
report = copy.deepcopy(world.read_json("base_report.json", {}))
warnings = []
status = {}
if args.status and os.path.exists(args.status):
    with open(args.status) as fh:
        status = json.load(fh)
else:
    warnings.append(f"status file {args.status} not found; status unknown")
factor = {"pass": 1.01, "warn": 1.07, "fail": 1.20}.get(kind, 1.0)
report["wall_seconds_total"] = round(report["wall_seconds_total"] * factor, 1)
report["stage_wall_seconds"] = {
    k: round(v * factor, 1) for k, v in report["stage_wall_seconds"].items()
}
report.setdefault("task_state_counts", {}).pop("preempted", None)  # a clean run
if kind == "inconclusive":
    report["preemption_count"] = (report.get("preemption_count") or 0) + 5
    report.setdefault("task_state_counts", {})["preempted"] = 4
if kind == "oom":
    report.setdefault("infra_failures", {})["oom"] = (
        report.get("infra_failures", {}).get("oom", 0) + 1
    )
if kind == "quiet_failure":
    report["stage_wall_seconds"] = dict.fromkeys(report["stage_wall_seconds"], 0.0)
    report["cached_steps"] = list(report["stage_wall_seconds"])
    report["task_state_counts"], report["infra_failures"] = {}, {}
    warnings.append(f"iris job list --prefix {args.job_id} failed (exit 1): controller unreachable")
if spec.get("lineage") == "step-log":  # today's collector: the driver's step log
    template = os.path.join(os.environ["FAKE_MARIN_SCRIPTS"], "..", "..", "fixtures", "reports")
    with open(os.path.join(template, "lineage_step_log_admin.json")) as fh:
        steps = json.load(fh)["stage_wall_seconds"]
    report.pop("stage_sum_task_wall_seconds", None)
    report["stage_wall_seconds"] = {k: round(v * factor, 1) for k, v in steps.items()}
    report["cached_steps"] = []
    missing = [s for s in spec.get("missing_steps", []) if s in steps]
    for step in missing:
        del report["stage_wall_seconds"][step]
    if kind == "quiet_failure":
        report["stage_wall_seconds"] = {}
        warnings = [w for w in warnings if not w.startswith("iris job list")]
        warnings.append("driver step log unavailable; stage_wall_seconds empty")
    elif missing:
        warnings.append(f"expected steps neither ran nor were cached: {', '.join(missing)}")
if spec.get("role") == "user":  # the raw query needs the admin role
    report["sum_task_wall_seconds_total"] = None
    warnings.append("iris query task_wall_ms: failed; sum_task_wall_seconds_total unset")
report.update(
    {
        "iris_job_id": args.job_id,
        "status": status.get("status"),
        "marin_prefix": status.get("marin_prefix"),
        "warnings": warnings,
        "workflow_run_id": None,
        "workflow_run_attempt": None,
        "workflow_name": None,
        "commit_sha": None,
        "collected_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
)
print("INFO collected", file=sys.stderr)
text = json.dumps(report, indent=2)
if args.out:
    with open(args.out, "w") as fh:
        fh.write(text)
else:
    print(text)
