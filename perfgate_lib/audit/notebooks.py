"""The notebooks' entry points that write run folders, archived like the CLI's.

``out_dir = ""`` makes a new run folder under the runs root, archived and indexed like
``perfgate compare``; ``run_dir`` opens a finished run, writing nothing; an ``out_dir``
holding outputs is refused unless ``overwrite``. File defaults are "" (the bundled
example), so the notebooks run from the repository root or ``notebooks/``.
"""

from __future__ import annotations

from perfgate_lib.io.paramfile import kit_path
from perfgate_lib.verdict.compare import (
    OUTPUT_FILES,
    CompareResult,
    load_compare,
    refuse_existing_outputs,
    run_compare,
)
from perfgate_lib.verdict.gates import COMPARE_GATES, check_gate


def repo_path(path: str) -> str:
    """A notebook's relative path default, found from the repository root, from
    ``notebooks/`` and from an installed wheel (:func:`perfgate_lib.io.paramfile.kit_path`)."""
    return kit_path(path)


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
    """compare.ipynb's one call. ``run_dir``: open that finished comparison (nothing
    computed or written). Otherwise compare ``baseline`` with ``treatment`` ("" for the
    bundled tier-1 example of each) for ``gate`` (0 to 3) into ``out_dir``; "" makes a new
    run folder under the runs root, archived and indexed. An ``out_dir`` that already
    holds a verdict, comment or chart is refused unless ``overwrite``."""
    from perfgate_lib.assess.render import assessment_table_md
    from perfgate_lib.audit.archive import archive_run
    from perfgate_lib.io.paramfile import EXAMPLES_DIR
    from perfgate_lib.io.rundir import new_run_dir

    if run_dir:
        return load_compare(run_dir)
    gate = check_gate(gate, COMPARE_GATES)
    refuse_existing_outputs(out_dir, overwrite, OUTPUT_FILES)
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
