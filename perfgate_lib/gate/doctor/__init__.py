"""``perfgate doctor``, the outside contracts checked in seconds: :mod:`.checks` (pure rows),
:mod:`.helptext` (help texts, script sources), :mod:`.probe` (processes with timeouts, files);
:func:`diagnose` gathers them concurrently. Which gate needs which: ``docs/contracts.md``."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perfgate_lib.gate.doctor import checks, probe
from perfgate_lib.gate.doctor.checks import Report, Row, unchecked
from perfgate_lib.gate.doctor.helptext import source_tiers
from perfgate_lib.gate.runparams import RunParams, load_run_params
from perfgate_lib.gate.runsettings import parse_flags, workflow_flags_from_checkout
from perfgate_lib.io.pythons import find_python, install_hint, interpreter_version

ALL_GATES = (0, 1, 2, 3)


def _python_rows(checkout: Path, requires: str | None, cluster: bool) -> list[Row]:
    """The kit's Python (it parses Zephyr) and, for gates 1-3, the checkout's ``.venv`` one."""
    rows = [checks.check_python("kit Python", probe.kit_python_version(), requires, "")]
    if cluster:
        own = probe.checkout_python(checkout)
        version = interpreter_version(str(own)) if own else None
        no_venv = "no .venv in the checkout (marin's scripts run in it; `uv sync` makes it)"
        missing = f"{own} does not run" if own else no_venv
        rows.append(checks.check_python("checkout .venv Python", version, requires, missing))
    return rows


def _gate0_rows(checkout: Path, requires: str | None) -> list[Row]:
    from perfgate_lib.local.zephyr_api import NEEDED, probe_zephyr_api

    found = find_python(requires) if requires else None
    shown = f"{found.path} ({found.version}, {found.source})" if found else None
    hint = install_hint(requires, "lib/zephyr")
    rows = [checks.check_found_python("Python for gate 0's uv environments", shown, requires, hint)]
    src, contract = checkout / "lib" / "zephyr" / "src", "Zephyr API (mini ferry)"
    if not (src / "zephyr").is_dir():
        return [*rows, unchecked(contract, f"no {src}/zephyr")]
    got = probe_zephyr_api(sys.executable, str(src), timeout_s=probe.HELP_TIMEOUT_S)
    modules = {module for places in NEEDED.values() for module, _ in places}
    roots = [src, checkout / "lib" / "fray" / "src"]
    in_source = checks.static_missing(NEEDED, probe.module_sources(roots, modules))
    return [*rows, checks.check_zephyr_api(contract, got.ok, got.missing, got.detail, in_source)]


def _cluster_rows(checkout: Path, gates: tuple[int, ...], common: RunParams) -> list[Row]:
    from perfgate_lib.verdict.gates import load_gate
    from perfgate_lib.verdict.lineage import STEP_LOG

    params = {g: load_gate(g) for g in gates}
    run_flags = {k: v for p in params.values() for k, v in parse_flags(p.iris_flags).items()}
    iris = probe.iris_command(checkout, common.iris_command)
    helps = probe.iris_helps(iris) if iris else {}
    dialect, dialect_error = _dialect(helps)
    rows = checks.check_iris(helps, dialect, dialect_error, run_flags)
    monitor = checkout / "scripts" / "ci" / "iris_monitor.py"
    python = probe.checkout_python(checkout)
    started = None
    if python is not None and monitor.exists():
        started = probe.run_help([str(python), str(monitor), "--help"], cwd=checkout)
    rows.append(checks.check_iris_monitor(probe.read_text(monitor), started))
    rows.append(checks.check_program("uv", common.uv_command, probe.which(common.uv_command)))
    for contract, script, needed in (
        ("submit script flags", common.submit_script, checks.SUBMIT_FLAGS),
        ("collect script flags", common.collect_script, checks.COLLECT_FLAGS),
    ):
        options, how = probe.script_options(checkout / script, python, checkout)
        rows.append(checks.check_script_flags(contract, options, needed, how))
    collector = probe.read_text(checkout / common.collect_script)
    rows.append(checks.check_lineage(collector, STEP_LOG.expected_steps))
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
