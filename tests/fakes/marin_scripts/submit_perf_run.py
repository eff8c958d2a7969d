"""Fake scripts/ci/submit_perf_run.py, faithful to marin's (docs/contracts.md, checked
2026-12): runs the worktree's own ``.venv/bin/iris --config=CFG job run --no-wait ...``
with ``cwd=--cwd`` (a fresh worktree without ``uv sync`` has none), validates the last
line iris printed as the job id, writes NO status file (the ferry writes it when it
ends), and prints one JSON line with ``gate`` as a string.

Scenario ``job_id_shape``: ``rooted`` (``/perfgate-test/<run id>``, the later script) or
``unrooted`` (``perfgate-test/<run id>``, the older script, whose id check rejects a
leading slash).
"""

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.environ["FAKE_MARIN_SCRIPTS"])
import world  # noqa: E402

UNROOTED_ID = re.compile(r"^[a-z0-9][a-z0-9./_-]*$", re.IGNORECASE)  # run ids end in ...T063154Z
ROOTED_OR_NOT_ID = re.compile(r"^/?[a-z0-9][a-z0-9./_-]*$", re.IGNORECASE)
TIER_FLAGS = {  # `iris job run` flags per gate (docs/contracts.md)
    1: ["--memory=2G", "--disk=4G", "--cpu=1", "--extra=cpu", "--priority", "production"],
    2: ["--memory=2G", "--extra=cpu"],
    3: [
        "--region=europe-west4",
        "--memory=4G",
        "--disk=5G",
        "--cpu=1",
        "--extra=cpu",
        "--enable-extra-resources",
        "--no-preemptible",
        "--priority",
        "production",
    ],
}

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
shape = world.scenario().get("job_id_shape", "rooted")
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
    run_id = f"zephyr-perf-pr{args.pr}-g{args.gate}-treatment-{stamp_dt.strftime('%Y%m%dT%H%M%SZ')}"
    if not any(j.rstrip("/").endswith("/" + run_id) for j in jobs):
        break
    stamp_dt += dt.timedelta(seconds=1)
spec = world.attempt_spec(args.gate, attempt)
iris = os.path.join(args.cwd, ".venv", "bin", "iris")
config = os.path.join(args.cwd, args.iris_config)
argv = [iris, f"--config={config}", "job", "run", "--no-wait", "--job-name", run_id]
argv += TIER_FLAGS.get(args.gate, ["--memory=2G", "--extra=cpu"])  # marin's tier map
argv += ["-e", "FERRY_STATUS_PATH", args.status_out or ""]
argv += ["--", "python", "-m", spec.get("ferry_module") or world.TIER_FERRY[str(args.gate)]]
env = {
    **os.environ,
    "FAKE_SUBMIT": json.dumps({"gate": args.gate, "attempt": attempt, "pr": args.pr}),
}
try:
    proc = subprocess.run(argv, cwd=args.cwd, env=env, capture_output=True, text=True)
except FileNotFoundError:
    print(f"ERROR [Errno 2] No such file or directory: {iris!r}", file=sys.stderr)
    sys.exit(1)
if proc.returncode != 0:
    print(f"ERROR iris job run failed: {proc.stderr}", file=sys.stderr)
    sys.exit(1)
job_id = proc.stdout.strip().splitlines()[-1].strip()
check = UNROOTED_ID if shape == "unrooted" else ROOTED_OR_NOT_ID
if not check.match(job_id):
    print(f"ERROR unexpected job id from iris: {job_id!r}", file=sys.stderr)
    sys.exit(1)
with world.locked():
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
            "status_file_at_submit": bool(args.status_out and os.path.exists(args.status_out)),
        },
    )
time.sleep(float(world.scenario().get("submit_sleep", 0)))
print(
    json.dumps(
        {
            "job_id": job_id,
            "gate": str(args.gate),
            "ferry_module": spec.get("ferry_module") or world.TIER_FERRY[str(args.gate)],
            "status_path": args.status_out,
            "run_id": run_id,
            "cwd": args.cwd,
        }
    ),
    flush=True,
)
