"""One comparison, end to end: load both reports, decide, render, chart, write outputs.

This is what ``notebooks/compare.ipynb`` calls. Outputs in ``out_dir``:
``verdict.json``, ``comment.md``, ``stage_chart.png``, ``summary_chart.png``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from perfgate_lib.errors import UsageError
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import parse_json_arg
from perfgate_lib.verdict import charts
from perfgate_lib.verdict.gates import load_gate
from perfgate_lib.verdict.render import CommentExtras, render_comment
from perfgate_lib.verdict.report import PerfReport, load_report
from perfgate_lib.verdict.rules import GateContext, Verdict, decide
from perfgate_lib.verdict.thresholds import load_thresholds

VERDICT_FILE = "verdict.json"
COMMENT_FILE = "comment.md"


@dataclass
class CompareResult:
    """The verdict, both reports, the comment text and the chart paths."""

    verdict: Verdict
    baseline: PerfReport
    treatment: PerfReport
    comment: str
    out_dir: str
    charts: dict[str, str] = field(default_factory=dict)

    @property
    def stages_table(self) -> pd.DataFrame:
        """Columns: stage, baseline_s, treatment_s (seconds), delta_pct (%), verdict, note."""
        return stages_frame(self.verdict)

    @property
    def signals_table(self) -> pd.DataFrame:
        """Columns: signal, baseline, treatment (unit of the signal), delta_pct, verdict, note."""
        return signals_frame(self.verdict)


def stages_frame(verdict: Verdict) -> pd.DataFrame:
    cols = ["stage", "baseline_s", "treatment_s", "delta_pct", "verdict", "note"]
    return pd.DataFrame([asdict(r) for r in verdict.stages], columns=cols)


def signals_frame(verdict: Verdict) -> pd.DataFrame:
    cols = ["signal", "baseline", "treatment", "delta_pct", "verdict", "note"]
    return pd.DataFrame([asdict(r) for r in verdict.signals], columns=cols)


def compare_reports(
    baseline: PerfReport,
    treatment: PerfReport,
    *,
    gate: int = 1,
    thresholds: str | None = None,
    context: dict[str, Any] | None = None,
) -> Verdict:
    """The verdict for two loaded reports; ``context`` holds GateContext keys."""
    ctx_data = dict(context or {})
    ctx_data.setdefault("now", dt.datetime.now(dt.UTC).isoformat())
    ctx_data["gate"] = gate
    ctx = GateContext.from_dict(ctx_data)
    return decide(baseline, treatment, load_thresholds(thresholds or None), ctx)


def run_compare(
    baseline: str,
    treatment: str,
    *,
    gate: int = 1,
    assessment_md: str | None = None,
    thresholds: str | None = None,
    out_dir: str = ".",
    context: str | dict | None = None,
    extras_for: Callable[[Verdict], CommentExtras] | None = None,
) -> CompareResult:
    """Load, decide, render and write the outputs into ``out_dir``.

    ``assessment_md`` is the "Diff assessment" markdown shown in the comment
    (:func:`perfgate_lib.assess.render.assessment_table_md` renders it from
    ``assessment.json``); this package does not read assessments itself.

    ``context`` (JSON text, a path, or a dict) holds GateContext keys plus an optional
    ``comment`` object with CommentExtras fields and ``tier_name``. ``extras_for`` builds
    the comment's extra sections from the verdict (a gate run adds what the ladder did,
    failure evidence and noise context) instead of ``comment``.
    """
    base = load_report(baseline)
    treat = load_report(treatment)
    ctx = parse_json_arg(context, "context")
    comment_opts = ctx.pop("comment", {}) or {}
    tier_name = comment_opts.pop("tier_name", None) or load_gate(int(gate)).name
    if "sections" in comment_opts:
        comment_opts["sections"] = [tuple(s) for s in comment_opts["sections"]]
    try:
        extras = CommentExtras(**comment_opts)
    except TypeError as exc:
        raise UsageError(f"context.comment: {exc}") from exc
    verdict = compare_reports(base, treat, gate=int(gate), thresholds=thresholds, context=ctx)
    if extras_for is not None:
        extras = extras_for(verdict)
    comment = render_comment(
        verdict, base, treat, assessment_md=assessment_md, tier_name=tier_name, extras=extras
    )
    storage.makedirs(out_dir)
    storage.write_text(
        storage.join(out_dir, VERDICT_FILE), json.dumps(verdict.to_json(), indent=2) + "\n"
    )
    storage.write_text(storage.join(out_dir, COMMENT_FILE), comment)
    paths = {
        "stage_chart": charts.save_png(
            charts.stage_chart(verdict), storage.join(out_dir, "stage_chart.png")
        ),
        "summary_chart": charts.save_png(
            charts.summary_chart(verdict), storage.join(out_dir, "summary_chart.png")
        ),
    }
    return CompareResult(verdict, base, treat, comment, out_dir, paths)


def show_charts(result: CompareResult) -> None:
    """Display the PNG charts inline (in a notebook)."""
    from IPython.display import Image, display

    for path in result.charts.values():
        display(Image(data=storage.read_bytes(path), format="png"))


def show_comment(result: CompareResult) -> None:
    """Display the rendered comment as markdown (in a notebook)."""
    from IPython.display import Markdown, display

    display(Markdown(result.comment))
