"""``perfgate local-ab``: gate 0 on this machine (real Zephyr, no cluster, no credentials)."""

from __future__ import annotations

import sys

import click

from perfgate_lib.commands.options import gate0_options


@click.command("local-ab")
@click.option("--checkout", required=True, help="Git checkout holding BASE and HEAD.")
@click.option("--base", default="main", show_default=True, help="Base revision.")
@click.option("--head", required=True, help="Head revision (the PR).")
@gate0_options
@click.option("--seed", default=0, show_default=True, type=int, help="Corpus seed.")
@click.option("--assessment", default="", help="assessment.json to show in the comment.")
@click.option("--out", "out_dir", default="", help="Run folder (default: runs/local/<stamp>).")
def command(checkout, base, head, gate0, seed, assessment, out_dir):
    """Gate 0: the mini ferry on merge-base(BASE, HEAD) and HEAD, paired, and compare.

    Adds pairs while a stage is undecided (up to --max-pairs or --budget seconds). Writes
    the executed local_ab and compare notebooks, both median reports, the paired interval
    table, verdict.json and comment.md (not posted) into the run folder.
    Exit code: 0 pass or warn, 1 fail, 3 inconclusive, 4 could not run.
    """
    from perfgate_lib.errors import EXIT_BY_VERDICT
    from perfgate_lib.io.rundir import absolute, new_run_dir
    from perfgate_lib.local.demo import run_local_gate, where_time_went

    out_dir = out_dir or new_run_dir(None, None, kind="local")
    verdict, _notebooks, timings = run_local_gate(
        checkout,
        base,
        head,
        out_dir,
        gate0=gate0,
        seed=seed,
        assessment=absolute(assessment),
    )
    click.echo(f"verdict: {verdict['verdict']}")
    for line in verdict["hard_fails"] + verdict["warns"] + verdict["inconclusive_reasons"]:
        click.echo(f"  - {line}")
    click.echo(f"run folder: {out_dir}")
    total = sum(v for k, v in timings.items() if "." not in k)  # sub-steps are inside a step
    click.echo(f"took {total:.0f} s: {where_time_went(timings)}")
    sys.exit(EXIT_BY_VERDICT[verdict["verdict"]])
