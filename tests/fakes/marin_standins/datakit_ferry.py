"""Stand-in for marin's experiments/ferries/datakit_ferry.py: the mini ferry as a real
Iris job tree. Runs inside an Iris task; each datakit step is a direct child job named
like marin's (``zephyr-normalize-...``, ``zephyr-minhash-attrs-...``,
``zephyr-fuzzy-dups-...``, ``zephyr-consolidate-filter-...``, ``zephyr-tokenize-train-...``)
that runs that stage of perfgate's mini ferry with real Zephyr (``datakit_step.py``).
Steps run one after another; outputs go under ``marin_prefix``. When it ends (succeeded or
failed, not when killed) it writes ``{"status", "marin_prefix"}`` to ``$FERRY_STATUS_PATH``.

Scenario (``$STANDIN_WORLD/scenarios/pr<PR>.json``, optional): ``fail_at`` (that step's
job exits 1, the ferry fails), ``hold_at`` (that step's job sleeps until stopped),
``kill_at`` (that step's job is terminated as soon as it is submitted and the ferry goes
on: a step killed mid-way in a ferry that succeeds), ``light`` (steps skip the Zephyr
work: for tests about job states, not stage times), ``docs`` (corpus size).

``lineage: "step-log"`` runs today's ferry instead: its steps (``normalize, tokenize,
embed, quality, decontam, minhash, dedup, verify_fuzzy_clusters, store``) run in the
driver, as steps on the shared Zephyr pool do (no child job each), and marin's StepRunner
log lines go to the driver's log (logger ``marin.execution.step_runner``): ``Step
<ferry>/<step>_<8 hex> succeeded in H:MM:SS.f``, or ``Skip <ferry>/<step>_<8 hex>: already
succeeded`` for the steps in ``cached``. ``fail_at`` ends the ferry at that step (no line
for it or any later step); ``no_line_at`` runs the step but writes no line (a cut log).
``normalize`` and ``minhash`` run the mini ferry's stages with real Zephyr; the other
steps, and all under ``light``, sleep briefly.
"""

import datetime as dt
import hashlib
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from iris.client.client import iris_ctx
from iris.cluster.types import Entrypoint, ResourceSpec

STEPS = (
    ("normalize", "zephyr-normalize-"),
    ("minhash", "zephyr-minhash-attrs-"),
    ("fuzzy_dups", "zephyr-fuzzy-dups-"),
    ("consolidate", "zephyr-consolidate-filter-"),
    ("tokenize", "zephyr-tokenize-train-"),
)


def write_status(status: str, prefix: Path) -> None:
    path = os.environ.get("FERRY_STATUS_PATH")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"status": status, "marin_prefix": str(prefix)}))


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


def step_log_ferry(name: str, prefix: Path, scenario: dict) -> int:
    """Today's ferry: every step in the driver, one StepRunner line per step."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stdout,
        force=True,
    )
    log = logging.getLogger("marin.execution.step_runner")
    mini = {"normalize", "minhash"}  # the mini ferry stages whose inputs exist by then
    for step in STEP_LOG_STEPS:
        step_name = f"{name}/{step}"
        digest = hashlib.sha256(step_name.encode()).hexdigest()[:8]
        if step in scenario.get("cached", []):
            log.info("Skip %s_%s: already succeeded", step_name, digest)
            continue
        if scenario.get("fail_at") == step:
            log.error("Step %s_%s failed: ValueError: bad record in shard 3", step_name, digest)
            write_status("failed", prefix)
            return 1
        start = time.monotonic()
        if step in mini and not scenario.get("light"):
            from perfgate_lib.local import ferry_pipeline as ferry

            ctx = ferry.make_context(prefix / "chunks" / step, max_workers=1)
            builders = ferry.stage_datasets(str(prefix / "corpus" / "*.jsonl"), prefix / "work")
            ferry.run_stage(ctx, step, builders, prefix / "work", ferry.PeakMemory())
        else:
            time.sleep(0.05)
        elapsed = dt.timedelta(seconds=time.monotonic() - start)
        if scenario.get("no_line_at") != step:
            log.info("Step %s_%s succeeded in %s", step_name, digest, elapsed)
    write_status("succeeded", prefix)
    return 0


def main() -> int:
    ctx = iris_ctx()
    name = str(ctx.job_id).rstrip("/").rsplit("/", 1)[-1]
    world = Path(os.environ["STANDIN_WORLD"])
    match = re.search(r"-pr(\d+)-", name)
    scenario_file = world / "scenarios" / f"pr{match.group(1) if match else 0}.json"
    scenario = json.loads(scenario_file.read_text()) if scenario_file.exists() else {}
    prefix = world / "outputs" / name
    prefix.mkdir(parents=True, exist_ok=True)
    step_log = scenario.get("lineage") == "step-log"
    if not (step_log and scenario.get("light")):  # a light step-log ferry reads no corpus
        from perfgate_lib.local.corpus import CorpusSpec, write_corpus

        write_corpus(CorpusSpec(docs=int(scenario.get("docs", 60))), prefix / "corpus", shards=2)
    if step_log:
        return step_log_ferry(name, prefix, scenario)
    tag = name.rsplit("-", 1)[-1].lower()
    for stage, job_prefix in STEPS:
        mode = next((m for m in ("fail_at", "hold_at") if scenario.get(m) == stage), "run")
        mode = "light" if mode == "run" and scenario.get("light") else mode
        command = f"cd $IRIS_WORKDIR && exec $IRIS_PYTHON -m experiments.ferries.datakit_step {stage} {prefix} {mode}"
        job = ctx.client.submit(
            Entrypoint.from_command("bash", "-c", command),
            f"{job_prefix}{tag}",
            ResourceSpec(cpu=1, memory="1GB"),
        )
        print(f"step {stage}: submitted {job.job_id}", flush=True)
        if scenario.get("kill_at") == stage:
            job.terminate()
            print(f"step {stage}: terminated", flush=True)
            continue
        try:
            job.wait(timeout=3600, poll_interval=0.5, raise_on_failure=True)
        except Exception as exc:  # noqa: BLE001 - the step's failure ends the ferry
            print(f"step {stage} failed: {exc}", file=sys.stderr, flush=True)
            write_status("failed", prefix)
            return 1
        print(f"step {stage}: done at {time.time():.1f}", flush=True)
    write_status("succeeded", prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
