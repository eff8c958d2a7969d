"""``perfgate explain RUN_DIR``: where a stage's instructions went, from a gate-0 run."""

from __future__ import annotations

import json
from typing import Any

import click

from perfgate_lib.errors import UsageError


@click.command("explain")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--stage", default=None, help="Only this stage (default: every kept stage).")
@click.option(
    "--rows",
    type=click.IntRange(1, None),
    default=None,
    help="At most this many rows per stage (default: the listed rows, up to 15).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the attribution JSON.")
@click.option(
    "--assessment",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="assessment.json to hold the profile against (default: RUN_DIR's or its parent's).",
)
def command(run_dir, stage, rows, as_json, assessment):
    """Print gate 0's function delta per stage: each function's own (exclusive)
    instructions in control and treatment, the change, its origin and, when the PR
    changed the file that defines it, the hunk; read from RUN_DIR's
    profile/attribution.json (or RUN_DIR/ab/profile/attribution.json). With an assessment,
    each assessed file's "Affects CPU?" answer is held against its functions' change."""
    from pathlib import Path

    from perfgate_lib.local.evidence import assessed_files, load_attribution

    try:
        attribution = load_attribution(run_dir)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    except ValueError as exc:  # JSONDecodeError
        raise UsageError(f"{run_dir}: profile/attribution.json is not valid JSON: {exc}") from exc
    if isinstance(attribution, dict) and attribution.get("error"):
        raise UsageError(f"{run_dir}: attribution was not computed: {attribution['error']}")
    if as_json:
        click.echo(json.dumps(attribution, indent=1, sort_keys=True))
        return
    here = Path(run_dir)
    per_file = assessed_files(assessment, here / "assessment.json", here.parent / "assessment.json")
    click.echo(_explained(attribution, run_dir, stage, rows, per_file), nl=False)


def _explained(
    attribution: Any, run_dir: str, stage: str | None, rows: int | None, per_file: Any
) -> str:
    """``where_text`` of the attribution; UsageError naming ``--stage`` when it has no such
    stage, or naming the file when its shape is not the one gate 0 writes."""
    from perfgate_lib.local.evidence import load_attribution_path
    from perfgate_lib.verdict.where import where_text

    stages = (attribution.get("stages") or {}) if isinstance(attribution, dict) else None
    unknown_stage = stage is not None and isinstance(stages, dict) and stage not in stages
    try:
        if not isinstance(attribution, dict):
            raise TypeError("expected a JSON object")
        return where_text(attribution, stage, rows, per_file)
    except KeyError as exc:
        if unknown_stage:  # where_text's message names the stage and the kept ones
            raise UsageError(str(exc.args[0])) from exc
        problem = f"no {exc.args[0]!r}"
    except (AttributeError, TypeError) as exc:  # an object where a list is, or the reverse
        problem = str(exc)
    path = load_attribution_path(run_dir)
    raise UsageError(f"{path}: malformed attribution ({problem})")
