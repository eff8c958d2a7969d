"""One datakit step of the stand-in ferry, as its own Iris job: a stage of perfgate's mini
ferry with real Zephyr (fray ``LocalClient``) over the ferry's prefix.
``python -m experiments.ferries.datakit_step STAGE PREFIX [run|light|fail_at|hold_at]``
(``light``: a short sleep instead of the stage)."""

import sys
import time
from pathlib import Path


def main() -> int:
    stage, prefix, mode = sys.argv[1], Path(sys.argv[2]), (sys.argv[3:] or ["run"])[0]
    if mode == "hold_at":
        time.sleep(3600)  # held until the job is stopped
    if mode == "light":
        time.sleep(0.2)
        return 0
    if mode == "fail_at":
        print(f"step {stage}: ValueError: bad record in shard 3", file=sys.stderr, flush=True)
        return 1
    from perfgate_lib.local import ferry_pipeline as ferry

    ctx = ferry.make_context(prefix / "chunks" / stage, max_workers=1)
    builders = ferry.stage_datasets(str(prefix / "corpus" / "*.jsonl"), prefix / "work")
    row = ferry.run_stage(ctx, stage, builders, prefix / "work", ferry.PeakMemory())
    print(f"step {stage}: wrote {row['records_out']} records", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
