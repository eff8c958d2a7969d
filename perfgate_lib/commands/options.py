"""Click options shared by several sub-commands (one definition each)."""

from __future__ import annotations

import functools

import click

from perfgate_lib.local.sideenv import ENV_MODES

GATE0_OVERRIDES = ("max_pairs", "budget_s", "env", "docs", "metric", "profile")
"""Gate0Settings fields the command line may override (the options' parameter names)."""


def gate0_options(command):
    """``--max-pairs``, ``--budget``, ``--env``, ``--docs``, ``--metric`` and ``--profile`` for gate 0,
    handed to the command as one ``gate0`` mapping of the given ones (field -> value; an
    option not given is absent, so parameters/gate0.yaml keeps its value)."""

    @functools.wraps(command)
    def packed(*args, **kwargs):
        given = {name: kwargs.pop(name) for name in GATE0_OVERRIDES}
        return command(*args, gate0={k: v for k, v in given.items() if v is not None}, **kwargs)

    func = click.option(
        "--metric",
        default=None,
        type=click.Choice(("instructions", "cpu", "wall")),
        help="Gate 0: the decision metric: instructions (valgrind callgrind counts, "
        "load-independent), cpu (process CPU time) or wall; a time metric takes the "
        "time_metric values of parameters/gate0.yaml [default: parameters/gate0.yaml].",
    )(packed)
    func = click.option(
        "--profile",
        default=None,
        type=click.Choice(("flagged", "all")),
        help="Gate 0: whose callgrind evidence and function delta to keep in the run folder: "
        "flagged (stages gate 0 does not pass) or all (every stage; `perfgate explain` "
        "reads them) [default: parameters/gate0.yaml].",
    )(func)
    func = click.option(
        "--docs",
        default=None,
        type=click.IntRange(10, 10_000_000),
        help="Gate 0: documents in the generated corpus [default: parameters/gate0.yaml].",
    )(func)
    func = click.option(
        "--budget",
        "budget_s",
        default=None,
        type=click.FloatRange(min=1),
        help="Gate 0: seconds of paired measurement at most; what is still undecided then "
        "is reported as undecided [default: parameters/gate0.yaml].",
    )(func)
    func = click.option(
        "--env",
        "env",
        default=None,
        type=click.Choice(ENV_MODES),
        help="Gate 0: each side's Python environment: uv (the worktree's own uv project, "
        "cached by dependency digest), kit (this kit's venv), auto (uv when the worktree has "
        "a uv project for zephyr) [default: parameters/gate0.yaml].",
    )(func)
    return click.option(
        "--max-pairs",
        default=None,
        type=click.IntRange(1, 1000),
        help="Gate 0: pairs at most (one pair: every stage measured once on control and "
        "once on treatment) [default: parameters/gate0.yaml].",
    )(func)
