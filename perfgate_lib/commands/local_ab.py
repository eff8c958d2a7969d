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
    A diff that changes nothing under lib/zephyr/ has nothing to measure: said, no
    verdict, exit 0. A side that ran any Zephyr but its own worktree's, or two sides
    running identical Zephyr, stop with exit 4.
    Exit code: 0 pass or warn (or nothing to measure), 1 fail, 3 inconclusive, 4 could
    not run.
    """
    from perfgate_lib.errors import EXIT_BY_VERDICT, UsageError
    from perfgate_lib.io import storage
    from perfgate_lib.io.rundir import absolute, new_run_dir
    from perfgate_lib.local.ab import NothingToMeasure
    from perfgate_lib.local.demo import run_local_gate, where_time_went
    from perfgate_lib.mdtext import plain
    from perfgate_lib.verdict.measured import GATE0

    if out_dir and storage.exists(out_dir) and not storage.isdir(out_dir):
        raise UsageError(f"--out {out_dir}: a file, not a folder")
    in_runs_root = not out_dir
    out_dir = out_dir or new_run_dir(None, None, kind="local")
    try:
        verdict, _notebooks, timings = run_local_gate(
            checkout, base, head, out_dir, gate0=gate0, seed=seed, assessment=absolute(assessment)
        )
    except NothingToMeasure as exc:
        click.echo(str(exc))
        sys.exit(exc.exit_code)
    if in_runs_root:  # a run folder of the runs root: HTML, provenance, scrub, index
        from perfgate_lib.audit.archive import archive_run

        archive_run(out_dir, gate=GATE0, verdict=verdict["verdict"])
    click.echo(f"verdict: {verdict['verdict']}")
    for line in verdict["hard_fails"] + verdict["warns"] + verdict["inconclusive_reasons"]:
        click.echo(f"  - {plain(line)}")  # stage names come from the PR's code
    click.echo(f"run folder: {out_dir}")
    total = sum(v for k, v in timings.items() if "." not in k)  # sub-steps are inside a step
    click.echo(f"took {total:.0f} s: {where_time_went(timings)}")
    sys.exit(EXIT_BY_VERDICT[verdict["verdict"]])
