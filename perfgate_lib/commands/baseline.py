"""``perfgate baseline --gate N``: find the scheduled baseline, print its provenance, save it."""

from __future__ import annotations

import json

import click

from perfgate_lib.errors import UsageError
from perfgate_lib.gate.baseline import NoBaseline, find_baseline, render_unavailable
from perfgate_lib.io import storage
from perfgate_lib.mdtext import fmt_age
from perfgate_lib.verdict.gates import DEFAULT_MIRROR, load_gate


def describe(prov: dict, saved_to: str, title: str) -> str:
    """The human-readable provenance block (plain text, no secrets)."""
    names = {"actions": "GitHub Actions", "gcs-mirror": "GCS mirror", "local": "local file"}
    run = f"run #{prov['run_id']}" if prov.get("run_id") else "no run id"
    lines = [f"{title} baseline: {names.get(prov['source'], prov['source'])}, {run}"]
    lines += [f"  run:      {prov['run_url']}"] if prov.get("run_url") else []
    stale = "STALE" if prov["stale"] else "fresh"
    age, limit = fmt_age(prov.get("age_hours")), fmt_age(prov.get("max_age_hours"))
    lines += [
        f"  from:     {prov['location']}",
        f"  sha:      {prov.get('sha') or 'unknown'}",
        f"  created:  {prov.get('created_at') or 'unknown'} (age {age}, {stale}; limit {limit})",
    ]
    lines += ["  note:     not from a scheduled main run"] if prov.get("scheduled") is False else []
    lines += [f"  skipped:  {note}" for note in prov.get("notes", [])]
    return "\n".join([*lines, f"  saved to: {saved_to}"])


@click.command("baseline")
@click.option("--gate", type=click.IntRange(1, 3), required=True, help="Tier: 1, 2 or 3.")
@click.option("--json", "as_json", is_flag=True, help="Print the provenance as JSON.")
@click.option(
    "--out",
    default="",
    help="Where to save the report (path or fsspec URL). Default: baseline-g<N>-perf-report.json.",
)
@click.option("--repo", default=None, help="OWNER/NAME (default marin-community/marin).")
@click.option(
    "--mirror",
    default=DEFAULT_MIRROR,
    show_default=True,
    help="Mirror root (any fsspec URL or folder); empty to disable the fallback.",
)
@click.option("--no-actions", is_flag=True, help="Skip GitHub Actions; use the mirror only.")
@click.option("--local", default="", help="Use this report file or folder (source 'local').")
@click.option(
    "--gap-comment",
    default="",
    help="When no baseline is found, write the gap comment (markdown) here.",
)
@click.option("--reviewer", default=None, help="Login to ping in the gap comment.")
def command(gate, as_json, out, repo, mirror, no_actions, local, gap_comment, reviewer):
    """Find the latest scheduled baseline of a gate, print where it came from, save it.

    Tries GitHub Actions (GITHUB_TOKEN or GH_TOKEN; GITHUB_API_URL), then the mirror.
    Exit code 4 when neither has a usable report.
    """
    for option, path in (("--out", out), ("--gap-comment", gap_comment)):
        if path and storage.isdir(path):
            raise UsageError(f"{option} {path}: a folder, not a file")
    params = load_gate(gate)
    try:
        found = find_baseline(
            params,
            repo=repo,
            mirror=mirror or None,
            local=local or None,
            use_actions=not no_actions,
        )
    except NoBaseline as exc:
        if gap_comment:
            body = render_unavailable(params, exc.attempts, reviewer=reviewer)
            storage.write_text(gap_comment, body)
        if as_json:
            attempts = [{"source": where, "reason": why} for where, why in exc.attempts]
            data = {"gate": gate, "available": False, "attempts": attempts}
            click.echo(json.dumps(data, indent=2))
        raise
    out = out or f"baseline-g{gate}-perf-report.json"
    found.save(out)
    prov = found.provenance.to_json()
    if as_json:
        click.echo(json.dumps({**prov, "available": True, "report_path": out}, indent=2))
    else:
        click.echo(describe(prov, out, f"Gate {gate} ({params.name})"))
