"""``perfgate demo``: the main job on its embedded default (no credentials, no network)."""

from __future__ import annotations

import click

from perfgate_lib.rundir import new_run_dir
from perfgate_lib.thresholds import PARAMETERS_DIR

EXAMPLES = PARAMETERS_DIR / "examples"


@click.command("demo")
@click.option("--out", "out_dir", default="", help="Run folder (default: runs/demo/<stamp>).")
def command(out_dir):
    """Run the compare notebook on bundled tier-1 reports and print where the outputs are."""
    from perfgate_lib.commands.compare import run_compare_notebook

    out_dir = out_dir or new_run_dir(None, None, kind="demo")
    verdict = run_compare_notebook(
        str(EXAMPLES / "tier1_baseline.json"), str(EXAMPLES / "tier1_treatment.json"), out_dir
    )
    click.echo(f"verdict: {verdict['verdict']}")
    click.echo(f"run folder: {out_dir}")
    for name in ("compare.ipynb", "verdict.json", "comment.md", "stage_chart.png"):
        click.echo(f"  {name}")
