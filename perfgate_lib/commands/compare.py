"""``perfgate compare BASELINE TREATMENT``: the verdict for two perf reports."""

from __future__ import annotations

import json
import sys

import click

from perfgate_lib.errors import EXIT_BY_VERDICT, UsageError
from perfgate_lib.io import storage
from perfgate_lib.io.rundir import new_run_dir
from perfgate_lib.mdtext import plain
from perfgate_lib.verdict.notebook import run_compare_notebook
from perfgate_lib.verdict.report import load_report


def check_context(value: str) -> str:
    """``--context`` as given once it is a JSON object or a file holding one, else
    click.BadParameter (exit 2) before any kernel starts."""
    from perfgate_lib.io.paramfile import parse_json_arg

    text = (value or "").strip()
    try:
        decoded = json.loads(text) if text else {}
    except ValueError:
        decoded = None  # not inline JSON: a path or URL
    if decoded is not None and not isinstance(decoded, dict):
        kinds: dict[type, str] = {list: "an array", str: "a string"}
        kind = kinds.get(type(decoded), "a number or constant")
        raise click.BadParameter(f"must be a JSON object (or a file holding one), got {kind}")
    try:
        parse_json_arg(text, "--context")
    except UsageError as exc:
        raise click.BadParameter(str(exc).removeprefix("--context").lstrip(": ")) from exc
    return value


@click.command("compare")
@click.argument("baseline")
@click.argument("treatment")
@click.option(
    "--gate",
    type=click.IntRange(0, 3),
    default=1,
    show_default=True,
    help="Gate: 0 (the local A/B, no staleness limit) or the tier 1, 2 or 3.",
)
@click.option("--assessment", default="", help="assessment.json to render in the comment.")
@click.option("--thresholds", default="", help="Threshold table (default: bundled).")
@click.option(
    "--context",
    default="{}",
    callback=lambda _ctx, _param, value: check_context(value),
    help="JSON object, or a file holding one: GateContext keys.",
)
@click.option(
    "--out",
    "out_dir",
    default="",
    help="Output folder (default: a new run folder under the runs root, archived and indexed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print verdict.json to stdout.")
def command(baseline, treatment, gate, assessment, thresholds, context, out_dir, as_json):
    """Compare TREATMENT against BASELINE (paths or fsspec URLs of perf report JSON).

    Exit code: 0 pass or warn, 1 fail, 3 inconclusive, 4 could not run.
    """
    if out_dir and storage.exists(out_dir) and not storage.isdir(out_dir):
        raise UsageError(f"--out {out_dir}: a file, not a folder")
    load_report(baseline)  # fail fast, naming the file and field, before starting a kernel
    load_report(treatment)
    in_runs_root = not out_dir
    out_dir = out_dir or new_run_dir(None, None, kind="compare")
    verdict = run_compare_notebook(
        baseline,
        treatment,
        out_dir,
        gate=gate,
        assessment=assessment,
        thresholds=thresholds,
        context=context,
    )
    if in_runs_root:  # a run folder of the runs root: HTML, provenance, scrub, index
        from perfgate_lib.audit.archive import archive_run

        archive_run(out_dir, gate=gate, verdict=verdict["verdict"])
    if as_json:
        click.echo(json.dumps(verdict, indent=2))
    else:
        click.echo(f"verdict: {verdict['verdict']}")
        for line in verdict["hard_fails"] + verdict["warns"] + verdict["inconclusive_reasons"]:
            click.echo(f"  - {plain(line)}")
        click.echo(f"outputs: {out_dir}")
    sys.exit(EXIT_BY_VERDICT[verdict["verdict"]])
