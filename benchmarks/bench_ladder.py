"""Gate execution overheads (no cluster): one gate attempt in-process with the replay
runner, a resumed (already posted) attempt, state.json writes, and one gate notebook run.

The real cost of a gate is the ferry (30 min to 3 h); these figures are the kit's own
overhead per gate. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.gate.run import GateJob, GateSession  # noqa: E402
from perfgate_lib.gate.state import RunState  # noqa: E402
from perfgate_lib.io.notebook import run_notebook  # noqa: E402
from perfgate_lib.verdict.thresholds import PARAMETERS_DIR  # noqa: E402

EXAMPLES = PARAMETERS_DIR / "examples"


def job(run_dir: str) -> GateJob:
    return GateJob(
        run_dir=run_dir,
        runner="replay",
        replay=str(EXAMPLES),
        baseline=str(EXAMPLES / "tier1_baseline.json"),
        use_actions=False,
        post="file",
    )


def main(attempts: int = 5, writes: int = 200) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        times, resumed = [], []
        for i in range(attempts):
            run_dir = f"{tmp}/a{i}"
            start = time.perf_counter()
            GateSession(job(run_dir)).run_all()
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            GateSession(job(run_dir)).run_all()
            resumed.append(time.perf_counter() - start)
        print(
            f"gate attempt in-process (replay, charts, comment): median {statistics.median(times) * 1000:.0f} ms"
        )
        print(
            f"resumed attempt (recorded steps skipped, comparison re-rendered, no post): median {statistics.median(resumed) * 1000:.0f} ms"
        )

        state = RunState.create(f"{tmp}/s", pr=1, status="running")
        start = time.perf_counter()
        for i in range(writes):
            state.event("poll", n=i)
        per = (time.perf_counter() - start) / writes
        print(f"state.json atomic write (with {writes} events): {per * 1000:.2f} ms each")

        start = time.perf_counter()
        run_notebook("gate", f"{tmp}/nb", {"run_dir": f"{tmp}/nb/run"})
        print(
            f"gate notebook under papermill (kernel start included): {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
