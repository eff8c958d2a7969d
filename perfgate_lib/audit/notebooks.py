"""The notebooks' entry points that write run folders, archived like the CLI's.

``out_dir = ""`` makes a new, archived run folder; ``run_dir`` opens a finished one; file
defaults "" are the bundled examples."""

from __future__ import annotations

from perfgate_lib.verdict.compare import (
    CompareResult,
    load_compare,
    refuse_existing_outputs,
    run_compare,
)
from perfgate_lib.verdict.gates import COMPARE_GATES, check_gate


def notebook_compare(
    *,
    run_dir: str = "",
    baseline: str = "",
    treatment: str = "",
    gate: int = 1,
    assessment: str = "",
    thresholds: str = "",
    out_dir: str = "",
    context: str | dict = "{}",
    overwrite: bool = False,
) -> CompareResult:
    """compare.ipynb's one call: open ``run_dir``, or compare ``baseline`` with ``treatment``
    ("": the bundled tier-1 examples) into ``out_dir`` ("": a new archived run folder; one
    holding outputs is refused unless ``overwrite``)."""
    from perfgate_lib.assess.render import assessment_table_md
    from perfgate_lib.audit.archive import archive_run
    from perfgate_lib.io.paramfile import EXAMPLES_DIR
    from perfgate_lib.io.rundir import new_run_dir

    if run_dir:
        return load_compare(run_dir)
    gate = check_gate(gate, COMPARE_GATES)
    refuse_existing_outputs(out_dir, overwrite)
    new_folder = not out_dir
    out_dir = out_dir or new_run_dir(None, None, kind="compare")
    result = run_compare(
        baseline or str(EXAMPLES_DIR / "tier1_baseline.json"),
        treatment or str(EXAMPLES_DIR / "tier1_treatment.json"),
        gate=gate,
        assessment_md=assessment_table_md(assessment),
        thresholds=thresholds or None,
        out_dir=out_dir,
        context=context,
    )
    if new_folder:
        archive_run(out_dir, gate=gate, verdict=result.verdict.verdict)
    return result
