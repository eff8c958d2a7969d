"""The doctor's rows and its contract checks: pure functions from the inputs :mod:`.probe`
gathers to rows; nothing here runs a process or reads a file. Tested on recorded ``--help``
texts of both marin generations (``tests/fixtures/contracts/``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from perfgate_lib.errors import EXIT_COULD_NOT_RUN, EXIT_PASS
from perfgate_lib.gate.doctor.helptext import (
    help_choices,
    help_commands,
    help_options,
    looks_like_help,
    source_click_commands,
    source_constant_strings,
    source_top_names,
)
from perfgate_lib.gate.runsettings import parse_flags

State = Literal["holds", "broken", "unchecked"]
STATE_LABEL: dict[State, str] = {
    "holds": "holds",
    "broken": "BROKEN",
    "unchecked": "could not check",
}


@dataclass(frozen=True)
class Row:
    """One contract ("iris job list"), its state, and why, in one line a person can act on."""

    contract: str
    state: State
    reason: str


def holds(contract: str, reason: str) -> Row:
    return Row(contract, "holds", reason)


def broken(contract: str, reason: str) -> Row:
    return Row(contract, "broken", reason)


def unchecked(contract: str, reason: str) -> Row:
    return Row(contract, "unchecked", reason)


@dataclass(frozen=True)
class Report:
    """Every row of one ``perfgate doctor`` run, in the order they were checked."""

    checkout: str
    gates: tuple[int, ...]
    rows: tuple[Row, ...]

    @property
    def broken(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.state == "broken")

    @property
    def exit_code(self) -> int:
        """0 when nothing is broken, 4 (could not run) otherwise."""
        return EXIT_COULD_NOT_RUN if self.broken else EXIT_PASS

    def summary(self) -> str:
        n = Counter(r.state for r in self.rows)
        return f"{n['holds']} hold, {n['broken']} broken, {n['unchecked']} could not be checked"

    def to_json(self) -> dict[str, object]:
        return {
            "checkout": self.checkout,
            "gates": list(self.gates),
            "exit_code": self.exit_code,
            "rows": [asdict(r) for r in self.rows],
        }


# What the kit passes to marin's scripts (runners/iris.py) and to the iris CLI.
SUBMIT_FLAGS = ("--gate", "--pr", "--cwd", "--status-out", "--iris-config")
COLLECT_FLAGS = ("--job-id", "--status", "--out", "--iris-config")
_MONITOR_STATUS = ("--job-id", "--iris-config")
MONITOR_COMMANDS = {  # what runners/iris.py passes to iris_monitor.py
    "wait": (*_MONITOR_STATUS, "--poll-interval", "--timeout", "--resource-exhaustion-policy"),
    "status": _MONITOR_STATUS,
}
LOGS_FLAGS = ("--tail", "--max-lines")
STOP_VERBS = ("stop", "cancel")  # 0.2.20, 0.2.227
SUMMARY_VERBS = ("summary", "describe", "wait")  # 0.2.20; 0.2.227
# Flags of the tier workflows compared with parameters/gate<N>.yaml's baseline_iris_flags.
WORKFLOW_KEYS = ("--timeout", "--priority", "--memory")
# Flags of the submit script's tiers compared with parameters/gate<N>.yaml's iris_flags.
SUBMIT_KEYS = ("--priority", "--memory", "--disk", "--cpu", "--extra")


@dataclass(frozen=True)
class Help:
    """One ``--help`` call: ``exit_code`` None when it did not finish (``error`` says why)."""

    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    error: str = ""

    @property
    def shown(self) -> str:
        return " ".join(self.argv)

    @property
    def text(self) -> str:
        """The help text if the call printed one, else ""."""
        return self.stdout if self.exit_code == 0 and looks_like_help(self.stdout) else ""

    def why_not(self) -> str:
        """Why there is no help text, in one line."""
        if self.exit_code is None:
            return f"`{self.shown}` did not finish: {self.error}"
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines() or ["no output"]
        return f"`{self.shown}` exited {self.exit_code}: {tail[-1][:300]}"

    def unreadable(self, contract: str) -> Row:
        """The row when this call printed no usable help: broken only when it crashed."""
        return (broken if self.crashed else unchecked)(contract, self.why_not())

    @property
    def crashed(self) -> bool:
        """It ran and died with a Python traceback (a CLI that cannot start)."""
        return (
            self.exit_code not in (None, 0) and "Traceback (most recent call last)" in self.stderr
        )


def check_python(contract: str, version: str | None, requires: str | None, missing: str) -> Row:
    """``version`` ("3.12.1") against ``requires`` (Zephyr's requires-python)."""
    if version is None:
        return unchecked(contract, missing)
    if not requires:
        why = "lib/zephyr/pyproject.toml is missing or states no requires-python"
        return unchecked(contract, f"Python {version}; {why}")
    try:
        ok = SpecifierSet(requires).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion) as exc:
        return unchecked(contract, f"cannot compare Python {version} with {requires!r}: {exc}")
    verb = "satisfies" if ok else "does not satisfy"
    return (holds if ok else broken)(
        contract, f"Python {version} {verb} Zephyr's requires-python {requires!r}"
    )


def check_found_python(contract: str, found: str | None, requires: str | None, hint: str) -> Row:
    """An installed interpreter for gate 0's uv environments (``found``: "PATH (3.12.1)")."""
    if not requires:
        return unchecked(contract, "lib/zephyr/pyproject.toml states no requires-python")
    if found is None:
        return broken(contract, hint)
    return holds(contract, f"{found} satisfies {requires!r}; uv is given it, PATH is not edited")


def check_program(contract: str, command: str, found: str | None) -> Row:
    """A program the runner calls by name (``uv``: marin's scripts run with ``uv run``)."""
    if found is None:
        why = "(the iris runner runs marin's scripts with it)"
        return broken(contract, f"`{command}` is not on PATH {why}")
    return holds(contract, f"`{command}`: {found}")


def static_missing(
    needed: dict[str, tuple[tuple[str, str], ...]], sources: dict[str, str | None]
) -> tuple[str, ...]:
    """Names of ``needed`` (as :data:`~perfgate_lib.local.zephyr_api.NEEDED`) that no place's
    source (module -> text, None: absent) defines or imports at top level; a name whose
    every module is absent (``fray``) is not judged."""
    missing = []
    for places in needed.values():
        texts = [(attr, sources.get(module)) for module, attr in places]
        if all(text is None for _, text in texts):
            continue
        if not any(attr in (source_top_names(text) or ()) for attr, text in texts if text):
            missing.append(f"{places[0][0]}.{places[0][1]}")
    return tuple(missing)


def check_zephyr_api(
    contract: str,
    ok: bool,
    missing: tuple[str, ...],
    detail: str,
    missing_in_source: tuple[str, ...],
) -> Row:
    """The mini ferry's Zephyr API row, from the kit's import probe and the names missing
    in the source (read without importing); the rule: ``docs/contracts.md``."""
    if ok:
        return holds(contract, detail)
    if missing_in_source:
        return broken(contract, f"the source lacks {', '.join(missing_in_source)}: {detail}")
    if not missing:
        return unchecked(contract, detail)
    return unchecked(
        contract,
        "the source defines every name the mini ferry needs (read without importing), "
        f"but the kit's environment cannot import them: {detail}",
    )


def _verb_row(contract: str, commands: frozenset[str], verbs: tuple[str, ...]) -> Row:
    present = [v for v in verbs if v in commands]
    if not present:
        listed = ", ".join(sorted(commands))
        return broken(
            contract, f"`iris job --help` lists none of {', '.join(verbs)} (it lists {listed})"
        )
    also = f" (also {', '.join(present[1:])})" if present[1:] else ""
    return holds(contract, f"`iris job {present[0]}`{also}")


def _options_row(
    verb: str,
    commands: frozenset[str],
    helps: dict[str, Help],
    needed: tuple[str, ...],
    extra: str = "",
) -> Row:
    """``iris job <verb>`` is listed, and its --help shows every flag of ``needed``."""
    contract = f"iris job {verb}"
    if verb not in commands:
        return broken(contract, f"`iris job --help` lists no `{verb}`")
    help_ = helps.get(f"job {verb}")
    if help_ is None:
        return unchecked(contract, "its --help was not asked (the verb is missing)")
    options = help_options(help_.text)
    if options is None:
        return help_.unreadable(contract)
    lacking = [f for f in needed if f not in options]
    if lacking:
        return broken(contract, f"`{help_.shown}` has no {', '.join(lacking)}{extra}")
    return holds(contract, f"takes {', '.join(needed)}{extra}")


def check_iris(
    helps: dict[str, Help], dialect: str | None, dialect_error: str, run_flags: dict[str, str]
) -> list[Row]:
    """Rows for the iris CLI from its help texts (keys ``""``, ``"job"``, ``"job list"``...),
    the detected dialect (or why none) and the ``job run`` flags the gates use."""
    top = helps.get("")
    if top is None:
        return [
            unchecked("iris CLI", "no iris CLI found (no .venv/bin/iris, no iris_command on PATH)")
        ]
    if not top.text:
        return [top.unreadable("iris CLI")]
    no_config = "`iris --help` has no global --config (the kit passes --config=<cluster yaml>)"
    rows = [
        holds("iris CLI", "starts; global --config")
        if "--config" in (help_options(top.text) or ())
        else broken("iris CLI", no_config)
    ]
    job = helps.get("job")
    if job is None:
        return [*rows, unchecked("iris job verbs", "`iris job --help` was not asked")]
    commands = help_commands(job.text)
    if commands is None:
        return [*rows, job.unreadable("iris job verbs")]
    if "list" in commands and dialect is None:
        rows.append(broken("iris job list", dialect_error))
    else:
        needed, how = (
            (("--prefix", "--json"), " (JSON, marin-iris 0.2.20)")
            if dialect == "json"
            else (("--prefix", "--limit"), " (a table, no --json: marin-iris 0.2.227)")
        )
        rows.append(_options_row("list", commands, helps, needed, how))
    rows.append(_options_row("logs", commands, helps, LOGS_FLAGS))
    rows.append(_verb_row("iris job stop|cancel", commands, STOP_VERBS))
    summary = _verb_row("iris job summary|describe|wait", commands, SUMMARY_VERBS)
    if summary.state == "broken":  # the runner polls with `job list`; it calls none of them
        summary = unchecked(summary.contract, summary.reason + "; the kit does not call them")
    rows.append(summary)
    row = _options_row("run", commands, helps, ("--no-wait", *sorted(run_flags)))
    priority = run_flags.get("--priority")
    if row.state == "holds" and priority:
        choices = help_choices(helps["job run"].text, "--priority") or ()
        if choices and priority not in choices:
            row = broken(
                "iris job run",
                f"--priority {priority} is not a band of this Iris ({'|'.join(choices)})",
            )
    rows.append(row)
    return rows


def check_iris_monitor(source: str | None, started: Help | None = None) -> Row:
    """marin's ``scripts/ci/iris_monitor.py``: ``wait`` and ``status`` take the kit's flags
    (its click declarations) and, given ``started`` (its ``--help``), it starts there."""
    contract = "scripts/ci/iris_monitor.py"
    if started is not None and started.crashed:
        why = started.why_not()
        return broken(contract, f"it does not start in the checkout's environment: {why}")
    if source is None:
        why = "waits and states come from the iris CLI"
        return holds(contract, f"not in this checkout (older marin): {why}")
    commands = source_click_commands(source)
    if not commands:
        return unchecked(contract, "no click commands found in it")
    problems = []
    for name, flags in MONITOR_COMMANDS.items():
        if name not in commands:
            problems.append(f"no `{name}` command")
            continue
        lacking = [f for f in flags if f not in commands[name]]
        if lacking:
            problems.append(f"`{name}` has no {', '.join(lacking)}")
    if problems:
        return broken(contract, "; ".join(problems))
    ran = "; starts in the checkout's environment" if started is not None and started.text else ""
    return holds(
        contract,
        "`status` takes --job-id, --iris-config; `wait` also --poll-interval, --timeout, "
        f"--resource-exhaustion-policy (read from its click declarations){ran}",
    )


def check_script_flags(
    contract: str, options: frozenset[str] | None, needed: tuple[str, ...], how: str
) -> Row:
    """A marin script takes every flag the kit passes (``how``: "--help" or "its source")."""
    if how.endswith(" is missing"):
        return broken(contract, f"{how}: the iris runner runs it")
    if options is None:
        return unchecked(contract, f"could not read its flags ({how})")
    lacking = [f for f in needed if f not in options]
    passes = ", ".join(needed)
    if lacking:
        return broken(
            contract, f"takes no {', '.join(lacking)} (read from {how}); the kit passes {passes}"
        )
    return holds(contract, f"takes {passes} (read from {how})")


def check_lineage(source: str | None, known_step_log: tuple[str, ...]) -> Row:
    """Which lineage the checkout's collector writes, read from its source."""
    contract = "collector lineage"
    if source is None:
        return unchecked(contract, "no scripts/ci/collect_perf_metrics.py")
    steps = source_constant_strings(source, "EXPECTED_STEPS")
    if steps and "step_runner" in source:
        extra = sorted(set(steps) - set(known_step_log))
        note = f"; steps the kit does not know: {', '.join(extra)}" if extra else ""
        return holds(
            contract,
            f"step-log (driver's step_runner log; steps {', '.join(steps)}){note}: "
            "a baseline of the child-job lineage is not compared",
        )
    if "zephyr-normalize" in source or "zephyr-minhash" in source:
        return holds(
            contract,
            "child-job (wall time of zephyr-<step>- child jobs): "
            "a baseline of the step-log lineage is not compared",
        )
    return unchecked(
        contract, "neither EXPECTED_STEPS with step_runner nor zephyr-<step>- child jobs found"
    )


def check_workflow(
    gate: int, workflow: str, workflow_flags: dict[str, str] | None, recorded: str
) -> Row:
    """The tier workflow's ``iris job run`` flags against ``baseline_iris_flags``."""
    contract = f"gate {gate} workflow flags"
    if workflow_flags is None:
        why = "missing or without `iris job run`"
        return unchecked(contract, f".github/workflows/{workflow} {why}")
    want = parse_flags(recorded)
    diffs = [
        f"{key}: workflow {workflow_flags.get(key, 'not set')}, "
        f"parameters/gate{gate}.yaml {want.get(key, 'not set')}"
        for key in WORKFLOW_KEYS
        if workflow_flags.get(key) != want.get(key)
    ]
    if diffs:  # the checkout's workflow is what a gate reads (gate/runsettings.py)
        return holds(
            contract,
            f"{workflow}: the checkout's flags are used; the fallback differs: "
            + "; ".join(diffs)
            + " (update baseline_iris_flags)",
        )
    shown = ", ".join(f"{k} {workflow_flags[k]}" for k in WORKFLOW_KEYS if k in workflow_flags)
    return holds(
        contract, f"{workflow}: {shown or 'none of ' + ', '.join(WORKFLOW_KEYS)} as recorded"
    )


def check_submit_tier(gate: int, tiers: dict[str, str] | None, recorded: str) -> Row:
    """The submit script's ``TIERS`` flags for ``gate`` against its ``iris_flags``."""
    contract = f"gate {gate} submit flags"
    if tiers is None:
        return unchecked(contract, "no TIERS dict found in the submit script")
    if str(gate) not in tiers:
        listed = ", ".join(sorted(tiers))
        return broken(contract, f"the submit script has no tier {gate} (it has {listed})")
    seen, want = parse_flags(tiers[str(gate)]), parse_flags(recorded)
    diffs = [
        f"{key}: submit script {seen.get(key) or 'not set'}, "
        f"parameters/gate{gate}.yaml {want.get(key) or 'not set'}"
        for key in SUBMIT_KEYS
        if seen.get(key) != want.get(key)
    ]
    if diffs:
        return broken(contract, "; ".join(diffs) + " (update iris_flags)")
    shown = ", ".join(f"{k} {seen[k]}" for k in SUBMIT_KEYS if k in seen)
    return holds(contract, f"tier {gate}: {shown} as recorded")


def check_priority(gate: int, treatment_flags: str, admin_bands: frozenset[str] | None) -> Row:
    """Who may submit the gate: a ``--priority`` in an admin band limits it to Iris admins."""
    contract = f"gate {gate} priority"
    band = parse_flags(treatment_flags).get("--priority")
    if not band:
        return holds(contract, "submits with the default band: anyone may run it")
    if admin_bands is None:
        why = "this Iris's admin bands could not be read"
        return unchecked(contract, f"submits with --priority {band}; {why}")
    if band.lower() in admin_bands:
        return unchecked(
            contract,
            f"submits with --priority {band}, an admin band of this Iris "
            f"({', '.join(sorted(admin_bands))}): only Iris admins can run gate {gate}; "
            "others are refused (PERMISSION_DENIED)",
        )
    return holds(contract, f"submits with --priority {band}, not an admin band: anyone may run it")
