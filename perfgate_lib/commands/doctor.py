"""``perfgate doctor``: the outside contracts, checked in seconds; :func:`preflight` is
``perfgate run``'s first step (``docs/contracts.md``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from perfgate_lib.errors import PerfgateError, UsageError

if TYPE_CHECKING:
    from perfgate_lib.gate.doctor.checks import Report
    from perfgate_lib.gate.flow import RunOptions

_STYLE = {"holds": "green", "broken": "bold red", "unchecked": "yellow"}


class ContractBroken(PerfgateError):
    """A contract the run relies on is broken (exit 4); the message names each one."""


def gates_for(runner: str, max_gate: str | None = None) -> tuple[int, ...]:
    """The gates a run relies on (``docs/contracts.md``)."""
    if runner == "local":
        return (0,)
    if runner != "iris" or max_gate == "skip":
        return ()
    top = int(max_gate) if max_gate and max_gate.isdigit() else 3
    return tuple(range(1, top + 1))


def render(report: Report, file: TextIO | None = None) -> None:
    """The report as a rich table; every cell is literal text, never read as rich markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from perfgate_lib.gate.doctor.checks import STATE_LABEL

    console = Console(file=file or sys.stdout, width=120, soft_wrap=False)
    gates = ", ".join(str(g) for g in report.gates)
    title = Text(f"perfgate doctor: {report.checkout} (gates {gates})")
    table = Table(title=title, title_justify="left")
    table.add_column("contract", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for row in report.rows:
        state = Text(STATE_LABEL[row.state], style=_STYLE[row.state])
        table.add_row(Text(row.contract), state, Text(row.reason))
    console.print(table, highlight=False)
    console.print(Text(f"{report.summary()}; exit {report.exit_code}"), highlight=False)


def _checkout(path: str) -> Path:
    top = Path(path or ".")
    if not top.is_dir():
        raise UsageError(f"--checkout {path}: no such folder")
    return top


def relied_max_gate(opts: RunOptions) -> str | None:
    """The highest gate a run can reach: ``--max-gate``, else the one its ``--confirm``
    names (``max_gate=K``, ``skip``); None when the assessment's proposal decides."""
    if opts.max_gate is not None or not opts.confirm:
        return opts.max_gate
    from perfgate_lib.assess.confirm import parse_reply

    reply = parse_reply(opts.confirm)
    return reply.max_gate if reply.action == "override" else None


def preflight(opts: RunOptions, echo: Callable[[str], None]) -> None:
    """The doctor for the gates the run relies on: the table on stderr and
    :class:`ContractBroken` naming each broken row when one is."""
    gates = gates_for(opts.runner, relied_max_gate(opts))
    if not gates:
        return
    from perfgate_lib.gate.doctor import diagnose

    report = diagnose(_checkout(opts.checkout), gates, opts.run_params or None)
    if report.broken:
        render(report, file=sys.stderr)
        names = "; ".join(f"{r.contract}: {r.reason}" for r in report.broken)
        raise ContractBroken(
            f"perfgate doctor: broken contract(s), nothing was run: {names} "
            f"(see `perfgate doctor --checkout {opts.checkout}`)"
        )
    echo(f"doctor: {report.summary()}")


@click.command("doctor")
@click.option(
    "--checkout", default=".", show_default=True, help="The marin checkout to check against."
)
@click.option(
    "--gate",
    type=click.IntRange(0, 3),
    default=None,
    help="Only the contracts gate N relies on (0: the local A/B). Default: every gate.",
)
@click.option(
    "--run-params",
    default="",
    help="Run settings file (default parameters/gate_common.yaml): script paths, iris_command.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON instead of a table.")
def command(checkout: str, gate: int | None, run_params: str, as_json: bool) -> None:
    """Check every outside contract the kit relies on against CHECKOUT and its environment:
    the Python, the Zephyr API of the mini ferry, the iris CLI (or iris_monitor.py), the
    submit and collect scripts' flags, the collector's lineage, the tier workflows' flags.

    Exit code: 0 nothing broken (some rows may be unchecked), 4 a contract is broken.
    """
    from perfgate_lib.gate.doctor import ALL_GATES, diagnose

    gates = (gate,) if gate is not None else ALL_GATES
    report = diagnose(_checkout(checkout), gates, run_params or None)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        render(report)
    sys.exit(report.exit_code)
