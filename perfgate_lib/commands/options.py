"""Click options shared by several sub-commands (one definition each)."""

from __future__ import annotations

import functools

import click

from perfgate_lib.local.sideenv import ENV_MODES

GATE0_OVERRIDES = ("max_pairs", "budget_s", "env", "docs", "metric", "profile")
"""Gate0Settings fields the command line may override (the options' parameter names)."""


def _gate0(*decls: str, help: str, **kwargs):
    return click.option(
        *decls, default=None, help=f"Gate 0: {help} [default: parameters/gate0.yaml].", **kwargs
    )


_GATE0_OPTIONS = (  # in --help order
    _gate0(
        "--max-pairs",
        type=click.IntRange(1, 1000),
        help="pairs at most (one pair: every stage measured once on control and once on treatment)",
    ),
    _gate0(
        "--env",
        type=click.Choice(ENV_MODES),
        help="each side's Python environment: uv (the worktree's own uv project, cached by "
        "dependency digest), kit (this kit's venv), auto (uv when the worktree has a uv "
        "project for zephyr)",
    ),
    _gate0(
        "--budget",
        "budget_s",
        type=click.FloatRange(min=1),
        help="seconds of paired measurement at most; what is still undecided then is "
        "reported as undecided",
    ),
    _gate0("--docs", type=click.IntRange(10, 10_000_000), help="documents in the generated corpus"),
    _gate0(
        "--profile",
        type=click.Choice(("flagged", "all")),
        help="whose callgrind evidence and function delta to keep in the run folder: flagged "
        "(stages gate 0 does not pass) or all (every stage; `perfgate explain` reads them)",
    ),
    _gate0(
        "--metric",
        type=click.Choice(("instructions", "cpu", "wall")),
        help="the decision metric: instructions (valgrind callgrind counts, load-independent), "
        "cpu (process CPU time) or wall; a time metric takes the time_metric values of "
        "parameters/gate0.yaml",
    ),
)


def gate0_options(command):
    """``--max-pairs``, ``--env``, ``--budget``, ``--docs``, ``--profile`` and ``--metric``,
    handed to the command as one ``gate0`` mapping of the given ones (field -> value; an
    option not given is absent, so parameters/gate0.yaml keeps its value)."""

    @functools.wraps(command)
    def packed(*args, **kwargs):
        given = {name: kwargs.pop(name) for name in GATE0_OVERRIDES}
        return command(*args, gate0={k: v for k, v in given.items() if v is not None}, **kwargs)

    return functools.reduce(lambda func, option: option(func), reversed(_GATE0_OPTIONS), packed)
