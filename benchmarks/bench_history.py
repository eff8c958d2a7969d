"""History loading speed: a year of daily reports for three tiers from the GCS emulator.

Target (issue 7): 365 reports x 3 tiers load from the emulator in at most 3 s.
Starts the in-process GCS emulator, uploads the generated year (365 scheduled reports
per tier plus 5 malformed and 12 manual runs each; upload not timed), then times
:func:`load_history` for tiers 1, 2 and 3 one after another (list the mirror, fetch
concurrently over HTTP with real gcsfs, parse, build the frames), and change point
detection on each. Five repetitions; prints figures; asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes import history as fake  # noqa: E402
from tests.fakes.gcs import gcs_emulator  # noqa: E402

MIRROR = "gs://marin-us-central1/infra/datakit/ferry_perf"
TARGET_S = 3.0
REPEATS = 5


def main() -> None:
    logging.getLogger("perfgate.history").setLevel(logging.ERROR)  # planted malformed reports
    files, _ = fake.generate_history(
        dt.date(2025, 6, 1),
        365,
        (1, 2, 3),
        era_switch_day=120,
        step=fake.StepChange(2, "normalize", dt.date(2025, 11, 3), 1.2),
    )
    with gcs_emulator():
        from perfgate_lib.audit import history
        from perfgate_lib.io.bulkread import default_concurrency

        t0 = time.perf_counter()
        fake.upload(files, MIRROR)
        print(
            f"uploaded {len(files)} objects ({sum(map(len, files.values())) / 1e6:.2f} MB) "
            f"in {time.perf_counter() - t0:.2f} s (not timed below)"
        )
        totals, detects = [], []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            hists = [history.load_history(tier, MIRROR) for tier in (1, 2, 3)]
            totals.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            points = [history.detect_change_points(h.stages) for h in hists]
            detects.append(time.perf_counter() - t1)
        for h, p in zip(hists, points, strict=True):
            print(
                f"tier {h.gate}: {len(h)} scheduled reports loaded ({h.listed} listed, "
                f"{len(h.skipped)} malformed skipped, {len(h.excluded)} manual left out), "
                f"{len(h.stages.columns)} stages, {len(p)} change point(s)"
            )
        print(f"concurrency: {default_concurrency()} requests in flight")
        best, median = min(totals), statistics.median(totals)
        print(
            f"load 3 tiers x 365 reports: best {best:.2f} s, median {median:.2f} s "
            f"over {REPEATS} runs (target <= {TARGET_S:.1f} s: "
            f"{'met' if median <= TARGET_S else 'MISSED'})"
        )
        print(f"change point detection, 3 tiers: median {statistics.median(detects):.2f} s")


if __name__ == "__main__":
    main()
