"""The verdict through ``notebooks/compare.ipynb``: what ``perfgate compare``, the demo and
gate 0 call. Light on purpose: the CLI imports it at start, and pandas and matplotlib load
only in the kernel (:mod:`perfgate_lib.verdict.compare` is what the notebook runs).
"""

from __future__ import annotations

import json

from perfgate_lib.io import storage
from perfgate_lib.io.rundir import absolute


def run_compare_notebook(
    baseline: str,
    treatment: str,
    out_dir: str,
    *,
    gate: int = 1,
    assessment: str = "",
    thresholds: str = "",
    context: str = "{}",
) -> dict:
    """Execute compare.ipynb into ``out_dir`` (the caller's run folder: outputs there are
    rewritten); returns verdict.json as a dict."""
    from perfgate_lib.io.notebook import run_notebook
    from perfgate_lib.verdict.thresholds import DEFAULT_THRESHOLDS

    run_notebook(
        "compare",
        out_dir,
        {
            "baseline": absolute(baseline),
            "treatment": absolute(treatment),
            "gate": int(gate),
            "assessment": absolute(assessment),
            "thresholds": absolute(thresholds) or str(DEFAULT_THRESHOLDS),
            "out_dir": absolute(out_dir),
            "context": context,
            "overwrite": True,  # the caller named out_dir: its run folder, its outputs
        },
    )
    return json.loads(storage.read_text(storage.join(out_dir, "verdict.json")))
