"""Stand-in for marin's scripts/ci/submit_perf_run.py against a real Iris controller.

marin's CLI and output contract (docs/contracts.md, checked 2026-12): run from the
treatment worktree as ``uv run python scripts/ci/submit_perf_run.py --gate N --pr PR
--cwd WORKTREE [--status-out URL] [--iris-config PATH] [--dry-run]``. It runs the
worktree's own ``.venv/bin/iris --config=CFG job run --no-wait ...`` with ``cwd=--cwd``
(no ``--timeout``; the tier workflows pass ``--timeout 21600``), takes the last line iris
printed as the job id, writes no status file (the ferry does, when it ends), forwards
``HF_TOKEN`` only when set, and prints one JSON line: job_id, gate (a string),
ferry_module, status_path, run_id, cwd.

``STANDIN_JOB_ID_SHAPE=unrooted`` prints the id as the older script version did, without
the leading slash (``perfgate/zephyr-perf-...``); the later one prints it rooted.

The ferry command is ``bash -c 'cd $IRIS_WORKDIR && exec $IRIS_PYTHON -m <module>'``: the
local runtime runs tasks in the controller's folder, not in the job's bundle.
"""

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys

TIERS = {
    1: (
        "experiments.ferries.datakit_ferry",
        ["--memory=2G", "--disk=4G", "--cpu=1", "--extra=cpu", "--priority", "production"],
    ),
    2: ("experiments.ferries.datakit_tier2_skewed_ferry", ["--memory=2G", "--extra=cpu"]),
    3: (
        "experiments.ferries.datakit_nemotron_ferry",
        ["--memory=4G", "--disk=5G", "--cpu=1", "--extra=cpu", "--priority", "production"],
    ),
}
JOB_ID = re.compile(r"^/?[a-z0-9][a-z0-9./_-]*$", re.IGNORECASE)

parser = argparse.ArgumentParser()
parser.add_argument("--gate", type=int, required=True, choices=sorted(TIERS))
parser.add_argument("--pr", type=int, required=True)
parser.add_argument("--cwd", required=True)
parser.add_argument("--status-out", default=None)
parser.add_argument("--iris-config", default="lib/iris/config/marin.yaml")
parser.add_argument("--dry-run", action="store_true")
args = parser.parse_args()

module, flags = TIERS[args.gate]
run_id = f"zephyr-perf-pr{args.pr}-g{args.gate}-treatment-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
config = (
    args.iris_config
    if os.path.isabs(args.iris_config)
    else os.path.join(args.cwd, args.iris_config)
)
argv = [os.path.join(".venv", "bin", "iris"), f"--config={config}", "job", "run", "--no-wait"]
argv += ["--job-name", run_id, "--user", "perfgate", *flags]
if args.status_out:
    argv += ["-e", "FERRY_STATUS_PATH", args.status_out]
if os.environ.get("HF_TOKEN"):
    argv += ["-e", "HF_TOKEN", os.environ["HF_TOKEN"]]
argv += ["--", "bash", "-c", f"cd $IRIS_WORKDIR && exec $IRIS_PYTHON -m {module}"]
print(f"INFO submitting gate {args.gate} for PR {args.pr}: {' '.join(argv)}", file=sys.stderr)
if args.dry_run:
    job_id = "DRY-RUN"
else:
    proc = subprocess.run(argv, cwd=args.cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(
            f"ERROR iris job run exited {proc.returncode}: {proc.stderr[-2000:]}", file=sys.stderr
        )
        sys.exit(1)
    job_id = (proc.stdout.strip().splitlines() or [""])[-1].strip()
    if not JOB_ID.match(job_id):
        print(f"ERROR unexpected job id from iris: {job_id!r}", file=sys.stderr)
        sys.exit(1)
    if os.environ.get("STANDIN_JOB_ID_SHAPE") == "unrooted":
        job_id = job_id.lstrip("/")
print(
    json.dumps(
        {
            "job_id": job_id,
            "gate": str(args.gate),
            "ferry_module": module,
            "status_path": args.status_out,
            "run_id": run_id,
            "cwd": args.cwd,
        }
    ),
    flush=True,
)
