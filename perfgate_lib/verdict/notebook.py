"""The verdict through ``notebooks/compare.ipynb`` (``perfgate compare``, the demo, gate 0).

Light on purpose: the CLI imports it at start; pandas and matplotlib load in the kernel."""

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
    """Execute compare.ipynb into ``out_dir`` (its outputs are rewritten); returns
    verdict.json as a dict."""
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
