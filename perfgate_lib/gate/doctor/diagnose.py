"""``diagnose(checkout, gates)``: gather each input once, run every check, one report.

Which contracts each gate relies on, and the rows: ``docs/contracts.md``. The three
groups (all gates, gate 0, gates 1-3) are gathered concurrently.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perfgate_lib.gate.doctor import checks, probe
from perfgate_lib.gate.doctor.helptext import source_tiers
from perfgate_lib.gate.doctor.model import Report, Row, unchecked
from perfgate_lib.gate.runparams import RunParams, load_run_params
from perfgate_lib.gate.runsettings import parse_flags, workflow_flags_from_checkout

ALL_GATES = (0, 1, 2, 3)


def _python_rows(checkout: Path, requires: str | None, cluster: bool) -> list[Row]:
    """The kit's Python (it parses the checkout's Zephyr) and, for the cluster gates, the
    checkout's ``.venv`` Python (marin's scripts run in it)."""
    rows = [checks.check_python("kit Python", probe.kit_python_version(), requires, "")]
    if cluster:
        from perfgate_lib.io.pythons import interpreter_version

        own = probe.checkout_python(checkout)
        version = interpreter_version(str(own)) if own else None
        missing = (
            f"{own} does not run"
            if own
            else "no .venv in the checkout (marin's scripts run in it; `uv sync` makes it)"
        )
        rows.append(checks.check_python("checkout .venv Python", version, requires, missing))
    return rows


def _gate0_rows(checkout: Path, requires: str | None) -> list[Row]:
    from perfgate_lib.io.pythons import find_python, install_hint
    from perfgate_lib.local.zephyr_api import NEEDED, probe_zephyr_api

    found = find_python(requires) if requires else None
    shown = f"{found.path} ({found.version}, {found.source})" if found else None
    rows = [
        checks.check_found_python(
            "Python for gate 0's uv environments",
            shown,
            requires,
            install_hint(requires, "lib/zephyr"),
        )
    ]
    src = checkout / "lib" / "zephyr" / "src"
    if not (src / "zephyr").is_dir():
        rows.append(unchecked("Zephyr API (mini ferry)", f"no {src}/zephyr"))
        return rows
    probe_result = probe_zephyr_api(sys.executable, str(src), timeout_s=probe.HELP_TIMEOUT_S)
    modules = {module for places in NEEDED.values() for module, _ in places}
    roots = [src, checkout / "lib" / "fray" / "src"]
    in_source = checks.static_missing(NEEDED, probe.module_sources(roots, modules))
    rows.append(
        checks.check_zephyr_api(
            "Zephyr API (mini ferry)",
            probe_result.ok,
            probe_result.missing,
            probe_result.detail,
            in_source,
        )
    )
    return rows


def _cluster_rows(checkout: Path, gates: tuple[int, ...], common: RunParams) -> list[Row]:
    from perfgate_lib.verdict.gates import load_gate
    from perfgate_lib.verdict.lineage import STEP_LOG

    params = {g: load_gate(g) for g in gates}
    run_flags: dict[str, str] = {}
    for p in params.values():
        run_flags.update(parse_flags(p.iris_flags))
    iris = probe.iris_command(checkout, common.iris_command)
    helps = probe.iris_helps(iris) if iris else {}
    dialect, dialect_error = _dialect(helps)
    rows = checks.check_iris(helps, dialect, dialect_error, run_flags)
    monitor = checkout / "scripts" / "ci" / "iris_monitor.py"
    python = probe.checkout_python(checkout)
    started = (
        probe.run_help([str(python), str(monitor), "--help"], cwd=checkout)
        if python is not None and monitor.exists()
        else None
    )
    rows.append(checks.check_iris_monitor(probe.read_text(monitor), started))
    rows.append(checks.check_program("uv", common.uv_command, probe.which(common.uv_command)))
    for contract, script, needed in (
        ("submit script flags", common.submit_script, checks.SUBMIT_FLAGS),
        ("collect script flags", common.collect_script, checks.COLLECT_FLAGS),
    ):
        options, how = probe.script_options(checkout / script, python, checkout)
        rows.append(checks.check_script_flags(contract, options, needed, how))
    rows.append(
        checks.check_lineage(
            probe.read_text(checkout / common.collect_script), STEP_LOG.expected_steps
        )
    )
    bands = probe.admin_bands(iris, checkout)
    tiers = source_tiers(probe.read_text(checkout / common.submit_script) or "")
    for gate, p in params.items():
        rows.append(checks.check_submit_tier(gate, tiers, p.iris_flags))
        flags = workflow_flags_from_checkout(str(checkout), p.workflow)
        rows.append(checks.check_workflow(gate, p.workflow, flags, p.baseline_iris_flags))
        submitted = tiers.get(str(gate), p.iris_flags) if tiers else p.iris_flags
        rows.append(checks.check_priority(gate, submitted, bands))
    return rows


def _dialect(helps: dict[str, checks.Help]) -> tuple[str | None, str]:
    from perfgate_lib.runners.iris_dialect import DialectError, detect_dialect

    job, listing = helps.get("job"), helps.get("job list")
    if job is None or listing is None or not job.text or not listing.text:
        return None, "`iris job list --help` could not be read"
    try:
        return detect_dialect(job.text, listing.text), ""
    except DialectError as exc:
        return None, str(exc)


def diagnose(
    checkout: str | Path, gates: tuple[int, ...] = ALL_GATES, run_params: str | None = None
) -> Report:
    """Every contract the given gates rely on, checked against ``checkout``."""
    top = Path(checkout).resolve()
    common = load_run_params(run_params or None)
    requires = probe.zephyr_requires_python(top)
    cluster = tuple(g for g in gates if g >= 1)
    with ThreadPoolExecutor(max_workers=3) as pool:  # each waits on its own subprocesses
        python = pool.submit(_python_rows, top, requires, bool(cluster))
        gate0 = pool.submit(_gate0_rows, top, requires) if 0 in gates else None
        remote = pool.submit(_cluster_rows, top, cluster, common) if cluster else None
        rows = python.result()
        rows += gate0.result() if gate0 else []
        rows += remote.result() if remote else []
    return Report(str(top), tuple(gates), tuple(rows))
