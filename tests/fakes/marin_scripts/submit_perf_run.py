"""Fake scripts/ci/submit_perf_run.py (marin-contracts.md): creates a job in the fake
world, writes the status file, logs a line, prints one JSON line."""

import argparse
import datetime as dt
import json
import os
import sys
import time

sys.path.insert(0, os.environ["FAKE_MARIN_SCRIPTS"])
import world  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--gate", type=int, required=True)
parser.add_argument("--pr", type=int, required=True)
parser.add_argument("--cwd", required=True)
parser.add_argument("--status-out", default=None)
parser.add_argument("--iris-config", default="lib/iris/config/marin.yaml")
parser.add_argument("--dry-run", action="store_true")
args = parser.parse_args()

print(f"INFO submitting gate {args.gate} for PR {args.pr} from {args.cwd}", flush=True)
if not os.path.isdir(args.cwd):
    print(f"ERROR no such folder {args.cwd}", file=sys.stderr)
    sys.exit(2)
with world.locked():
    jobs = world.read_json("jobs.json", {})
    prior = [
        s
        for s in world.ledger("submissions.jsonl")
        if s["pr"] == args.pr and s["gate"] == args.gate
    ]
    attempt = len(prior) + 1
    stamp_dt = dt.datetime.now(dt.UTC).replace(microsecond=0)
    while True:
        run_id = (
            f"zephyr-perf-pr{args.pr}-g{args.gate}-treatment-{stamp_dt.strftime('%Y%m%dT%H%M%SZ')}"
        )
        job_id = f"/perfgate-test/{run_id}"
        if job_id not in jobs:
            break
        stamp_dt += dt.timedelta(seconds=1)
    spec = world.attempt_spec(args.gate, attempt)
    jobs[job_id] = {
        "gate": args.gate,
        "attempt": attempt,
        "pr": args.pr,
        "submitted_ms": world.now_ms(),
        "polls": 0,
        "stopped": False,
    }
    world.write_json("jobs.json", jobs)
    world.append(
        "submissions.jsonl",
        {
            "pr": args.pr,
            "gate": args.gate,
            "attempt": attempt,
            "job_id": job_id,
            "cwd": args.cwd,
            "status_out": args.status_out,
            "iris_config": args.iris_config,
            "github_token_seen": bool(os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")),
        },
    )
if args.status_out:
    os.makedirs(os.path.dirname(args.status_out), exist_ok=True)
    with open(args.status_out, "w") as fh:
        json.dump({"status": "running", "marin_prefix": f"gs://fake/{run_id}"}, fh)
time.sleep(float(world.scenario().get("submit_sleep", 0)))
print(
    json.dumps(
        {
            "job_id": job_id,
            "gate": args.gate,
            "ferry_module": spec.get("ferry_module") or world.TIER_FERRY[str(args.gate)],
            "status_path": args.status_out,
            "run_id": run_id,
            "cwd": args.cwd,
        }
    ),
    flush=True,
)
