"""``perfgate history --gate N``: trend, noise and change points of the scheduled baselines."""

from __future__ import annotations

import logging

import click

from perfgate_lib.audit.history import DEFAULT_LAST_N
from perfgate_lib.errors import BaselineUnavailable
from perfgate_lib.verdict.gates import DEFAULT_MIRROR


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def describe(summary: dict) -> str:
    """The plain-text summary: one line per stage, then change points and placement."""
    lines = [
        f"Gate {summary['gate']} history: {summary['reports']} scheduled baselines "
        f"({summary['first'] or '-'} .. {summary['last'] or '-'}) from {summary['mirror']}",
        f"  {len(summary['skipped'])} malformed skipped, {summary['excluded']} not scheduled "
        f"main runs left out; spread and trend over the last {summary['last_n']}",
        "",
        f"  {'stage':<24}{'reports':>8}{'latest s':>11}{'median s':>11}{'spread':>9}{'trend':>9}",
    ]
    for stage, row in summary["stages"].items():
        spread = _num(row["spread_pct"], "±{:.1f}%")
        flag = "  too noisy to judge" if row["too_noisy"] else ""
        lines.append(
            f"  {stage:<24}{row['reports']:>8}{_num(row['latest_s']):>11}{_num(row['median_s']):>11}"
            f"{spread:>9}{_num(row['trend_pct'], '{:+.1f}%'):>9}{flag}"
        )
    points = summary["change_points"]
    lines += ["", f"Change points ({len(points)}):" if points else "Change points: none"]
    lines += [
        f"  {c['time'][:10]}  {c['stage']:<22} {c['before_s']:.1f} s -> {c['after_s']:.1f} s "
        f"({c['shift_pct']:+.1f}%, z={c['z']:.1f})"
        for c in points
    ]
    treatment = summary.get("treatment")
    if treatment:
        lines += [
            "",
            f"Treatment {treatment['source']} against the last {summary['last_n']}:",
            f"  {'stage':<24}{'treatment s':>12}{'median s':>11}{'delta':>9}"
            f"{'percentile':>12}{'robust z':>10}",
        ]
        lines += [
            f"  {stage:<24}{_num(row['treatment_s']):>12}{_num(row['median_s']):>11}"
            f"{_num(row['delta_pct'], '{:+.1f}%'):>9}{_num(row['percentile'], '{:.0f}'):>12}"
            f"{_num(row['robust_z'], '{:+.1f}'):>10}"
            for stage, row in treatment["stages"].items()
        ]
    return "\n".join(lines)


@click.command("history")
@click.option("--gate", type=click.IntRange(1, 3), required=True, help="Tier: 1, 2 or 3.")
@click.option(
    "--mirror",
    default=DEFAULT_MIRROR,
    show_default=True,
    help="Mirror root: any fsspec URL or a local folder.",
)
@click.option("--treatment", default="", help="A perf report to place against the history.")
@click.option(
    "--last-n",
    type=click.IntRange(3, None),
    default=DEFAULT_LAST_N,
    show_default=True,
    help="Scheduled baselines in the spread, trend and placement window.",
)
@click.option("--chart", default="", help="Also write the per-stage trend chart (PNG) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(gate, mirror, treatment, last_n, chart, as_json):
    """Per-stage trend and noise of a gate's scheduled baselines, and change points.

    Reads every report_*_tier<N>/perf_report.json under the mirror; malformed reports
    are skipped (named on stderr), manual runs left out.
    """
    from perfgate_lib.audit import history
    from perfgate_lib.verdict.report import load_report

    treated = load_report(treatment) if treatment else None
    logging.getLogger("perfgate.history").setLevel(logging.ERROR)  # skips are echoed below
    try:
        hist = history.load_history(gate, mirror)
    except Exception as exc:  # any backend error while listing: the mirror is unreachable
        raise BaselineUnavailable(
            f"cannot read the mirror {mirror}: {type(exc).__name__}: {exc}"
        ) from exc
    for skipped in hist.skipped:
        click.echo(f"perfgate: skipped {skipped.reason}", err=True)
    if not len(hist):
        raise BaselineUnavailable(f"no scheduled tier-{gate} baselines under {mirror}")
    points = history.detect_change_points(hist.stages)
    summary = history.summarize(hist, last_n=last_n, treatment=treated, points=points)
    if chart:
        from perfgate_lib.audit import history_charts

        fig = history_charts.trend_chart(hist, points=points, treatment=treated)
        history_charts.save_png(fig, chart)
        summary["chart"] = chart
    if as_json:
        from perfgate_lib.verdict.compare import strict_dumps

        click.echo(strict_dumps(summary))
    else:
        click.echo(describe(summary))
        if chart:
            click.echo(f"\nchart: {chart}")
