"""``perfgate runs [--pr N] [--root URL]``: list the runs registered in the run index."""

from __future__ import annotations

import json

import click


@click.command("runs")
@click.option("--pr", type=click.IntRange(1, None), default=None, help="Only this PR's runs.")
@click.option(
    "--root",
    default="",
    help="Runs root (folder or fsspec URL). Default: $PERFGATE_RUNS_ROOT, else ./runs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the entries as a JSON list.")
def command(pr, root, as_json):
    """List indexed runs, oldest first: start time, PR, gate, verdict, sha, folder."""
    from perfgate_lib.audit.runindex import default_runs_root, list_runs

    root = root or default_runs_root()
    entries = list_runs(root, pr=pr)
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"no runs indexed under {root}" + (f" for PR {pr}" if pr else ""))
        return
    click.echo(f"{'started':<27}{'pr':>6}{'gate':>6}  {'verdict':<14}{'sha':<12}path")
    for e in entries:
        click.echo(
            f"{e.started_at or '-':<27}{e.pr if e.pr is not None else '-':>6}"
            f"{e.gate if e.gate is not None else '-':>6}  {e.verdict or '-':<14}"
            f"{(e.sha or '-')[:10]:<12}{e.path}"
        )
