"""One comparison, end to end: load both reports, decide, render, chart, write outputs.

``notebooks/compare.ipynb`` calls it; the outputs (``OUTPUT_FILES``) and gate 0's
``measured`` metric: ``docs/audit-trail.md``, ``docs/gate0.md``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from perfgate_lib.errors import UsageError, usage_at
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import parse_json_arg, read_json_object
from perfgate_lib.typed import read_model
from perfgate_lib.verdict import charts
from perfgate_lib.verdict.gates import COMPARE_GATES, check_gate, load_gate
from perfgate_lib.verdict.measured import (
    GATE0,
    GATE0_NAME,
    Measured,
    apply_measured,
    metric_view,
    stage_keys,
    verdict_json,
)
from perfgate_lib.verdict.render import CommentExtras, render_comment
from perfgate_lib.verdict.report import PerfReport, load_report
from perfgate_lib.verdict.rules import GateContext, SignalRow, StageRow, Verdict, decide
from perfgate_lib.verdict.thresholds import load_thresholds

VERDICT_FILE = "verdict.json"
COMMENT_FILE = "comment.md"
CHART_FILES = {"stage_chart": "stage_chart.png", "summary_chart": "summary_chart.png"}
OUTPUT_FILES = (VERDICT_FILE, COMMENT_FILE, *CHART_FILES.values())


@dataclass
class CompareResult:
    """The verdict, both reports, the comment text and the chart paths."""

    verdict: Verdict
    baseline: PerfReport
    treatment: PerfReport
    comment: str
    out_dir: str
    charts: dict[str, str] = field(default_factory=dict)
    measured: Measured | None = None

    @property
    def stages_table(self) -> pd.DataFrame:
        """Columns: stage, baseline_s, treatment_s (wall seconds), delta_pct, verdict, note; for
        gate 0 also baseline_<unit>, treatment_<unit> and <unit>_delta_pct of its metric."""
        cols = ["stage", "baseline_s", "treatment_s", "delta_pct", "verdict", "note"]
        if self.measured is not None and self.measured.metric != "wall":
            key = self.measured.unit.json_key
            cols += [f"baseline_{key}", f"treatment_{key}", f"{key}_delta_pct"]
        return pd.DataFrame(stage_keys(self.verdict, self.measured), columns=cols)

    @property
    def signals_table(self) -> pd.DataFrame:
        """Columns: signal, baseline, treatment (unit of the signal), delta_pct, verdict, note."""
        cols = ["signal", "baseline", "treatment", "delta_pct", "verdict", "note"]
        return pd.DataFrame([asdict(r) for r in self.verdict.signals], columns=cols)


def compare_reports(
    baseline: PerfReport,
    treatment: PerfReport,
    *,
    gate: int = 1,
    thresholds: str | None = None,
    context: dict[str, Any] | None = None,
    measured: Measured | None = None,
) -> Verdict:
    """The verdict for two loaded reports; ``context`` holds GateContext keys, ``measured``
    the metric gate 0 decided on (gate 0 has no staleness limit)."""
    gate = check_gate(gate, COMPARE_GATES)
    ctx_data = dict(context or {})
    ctx_data.setdefault("now", dt.datetime.now(dt.UTC).isoformat())
    ctx_data.pop("gate", None)
    ctx = GateContext.from_dict(ctx_data if gate == GATE0 else {**ctx_data, "gate": gate})
    ctx = dataclasses.replace(ctx, gate=gate)
    verdict = decide(baseline, treatment, load_thresholds(thresholds or None), ctx)
    if measured is not None:
        apply_measured(verdict, measured)
    return verdict


BUILT_IN_PROCESS = ("sections", "top_notes")
"""CommentExtras fields shown as markdown: only the process that renders sets them."""


def split_context(context: str | dict | None) -> tuple[dict, CommentExtras, str | None]:
    """(GateContext keys, the comment's options with ``measured``, the tier name) of a
    context (JSON text, a path or a dict); a bad key is a UsageError naming it."""
    ctx = from_strict_json(parse_json_arg(context, "context"))  # +inf comes back
    comment = dict(ctx.pop("comment", None) or {})
    tier_name = comment.pop("tier_name", None)
    measured = ctx.pop("measured", None)
    for key in BUILT_IN_PROCESS:
        if key in comment:
            raise usage_at(
                "context.comment",
                key,
                "unknown key: the kit builds the comment's markdown itself, never from a "
                "file (a gate-0 context of an older kit carried its sections: delete the key)",
            )
    extras = read_model(
        CommentExtras, comment, lambda key, problem: usage_at("context.comment", key, problem)
    )
    extras.measured = None if measured is None else Measured.from_json(measured)
    return ctx, extras, None if tier_name is None else str(tier_name)


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

    ``assessment_md``: the "Diff assessment" markdown, already rendered; ``context``: as
    :func:`split_context` reads it; ``extras_for`` (verdict -> CommentExtras) replaces its
    ``comment`` when given."""
    gate = check_gate(gate, COMPARE_GATES)
    base, treat = load_report(baseline), load_report(treatment)
    ctx, extras, tier_name = split_context(context)
    measured = extras.measured
    tier_name = tier_name or (GATE0_NAME if gate == GATE0 else load_gate(gate).name)
    verdict = compare_reports(
        base, treat, gate=gate, thresholds=thresholds, context=ctx, measured=measured
    )
    if extras_for is not None:
        extras = extras_for(verdict)
        extras.measured = measured
    comment = render_comment(
        verdict, base, treat, assessment_md=assessment_md, tier_name=tier_name, extras=extras
    )
    storage.makedirs(out_dir)
    storage.write_text(
        storage.join(out_dir, VERDICT_FILE),
        strict_dumps(verdict_json(verdict, measured)) + "\n",
    )
    storage.write_text(storage.join(out_dir, COMMENT_FILE), comment)
    unit = None if measured is None else measured.unit
    view = metric_view(verdict, measured)
    drawn = {"stage_chart": charts.stage_chart, "summary_chart": charts.summary_chart}
    paths = {
        name: charts.save_png(draw(view, unit), storage.join(out_dir, CHART_FILES[name]))
        for name, draw in drawn.items()
    }
    return CompareResult(verdict, base, treat, comment, out_dir, paths, measured)


def show_charts(result: CompareResult) -> None:
    """Display the PNG charts inline (in a notebook)."""
    from IPython.display import Image, display

    for path in result.charts.values():
        display(Image(data=storage.read_bytes(path), format="png"))


def show_comment(result: CompareResult) -> None:
    """Display the rendered comment as markdown (in a notebook)."""
    from IPython.display import Markdown, display

    display(Markdown(result.comment))


def _non_finite(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else f"{value:+}"
    return None


def strict_json(value: Any) -> Any:
    """``value`` as strict JSON: a non-finite number is null, and the object holding it
    names it under ``non_finite`` (``{"delta_pct": "+inf"}``; ``docs/comment.md``)."""
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if not isinstance(value, dict):
        return None if _non_finite(value) else value
    marks = {k: _non_finite(v) for k, v in value.items() if _non_finite(v)}
    out = {k: strict_json(v) for k, v in value.items()}
    return {**out, "non_finite": marks} if marks else out


def strict_dumps(value: Any) -> str:
    """``value`` as indented strict JSON text (:func:`strict_json`)."""
    return json.dumps(strict_json(value), indent=2, allow_nan=False)


def from_strict_json(value: Any) -> Any:
    """:func:`strict_json`'s output with its non-finite numbers back."""
    if isinstance(value, list):
        return [from_strict_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    marks = value.get("non_finite")
    if not isinstance(marks, dict) or not set(marks.values()) <= {"+inf", "-inf", "nan"}:
        marks = {}
    out = {k: float(marks[k]) if k in marks else from_strict_json(v) for k, v in value.items()}
    return {k: v for k, v in out.items() if not (marks and k == "non_finite")}


def verdict_from_json(data: dict[str, Any], source: str = VERDICT_FILE) -> Verdict:
    """A :class:`Verdict` from verdict.json; UsageError naming ``source`` for another file."""
    if not isinstance(data, dict) or "verdict" not in data:
        raise UsageError(f"{source}: not a verdict.json (no 'verdict')")

    def rows(kind: type, items: Any) -> list:
        names = {f.name for f in dataclasses.fields(kind)}
        return [kind(**{k: v for k, v in item.items() if k in names}) for item in items or []]

    lists = ("hard_fails", "warns", "inconclusive_reasons", "self_check", "notes")
    listed: dict[str, Any] = {key: list(data.get(key) or []) for key in lists}
    return Verdict(
        gate=int(data.get("gate", 1)),
        verdict=str(data["verdict"]),
        signals=rows(SignalRow, data.get("signals")),
        stages=rows(StageRow, data.get("stages")),
        baseline=dict(data.get("baseline") or {}),
        treatment=dict(data.get("treatment") or {}),
        contention=data.get("contention"),
        **listed,
    )


def measured_from_json(data: dict[str, Any]) -> Measured | None:
    """Gate 0's :class:`Measured` back from verdict.json (None for a cluster gate)."""
    decision = data.get("decision_metric")
    if not isinstance(decision, dict):
        return None
    metric = str(decision.get("metric"))
    measured = Measured.from_json({"metric": metric, "rows": {}})
    key = measured.unit.json_key
    rows = {
        str(s["stage"]): (float(s[f"baseline_{key}"]), float(s[f"treatment_{key}"]))
        for s in data.get("stages") or []
        if s.get(f"baseline_{key}") is not None and s.get(f"treatment_{key}") is not None
    }
    total = next((s for s in data.get("signals") or [] if s["signal"] == measured.unit.total), None)
    if total and total.get("baseline") is not None and total.get("treatment") is not None:
        rows["wall_seconds_total"] = (float(total["baseline"]), float(total["treatment"]))
    return Measured(metric, rows)


def load_compare(run_dir: str) -> CompareResult:
    """A finished comparison from its folder, nothing recomputed or written; the reports
    are not reloaded (None)."""
    path = storage.join(run_dir, VERDICT_FILE)
    if not storage.exists(path):
        raise UsageError(f"run_dir {run_dir}: no {VERDICT_FILE} (not a finished comparison)")
    data = from_strict_json(
        read_json_object(path, lambda problem: UsageError(f"{path}: {problem}"))
    )
    comment_path = storage.join(run_dir, COMMENT_FILE)
    comment = storage.read_text(comment_path) if storage.exists(comment_path) else ""
    paths = {
        name: storage.join(run_dir, file)
        for name, file in CHART_FILES.items()
        if storage.exists(storage.join(run_dir, file))
    }
    try:
        verdict, measured = verdict_from_json(data, path), measured_from_json(data)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a row of another shape
        raise UsageError(f"{path}: not a verdict.json the kit wrote ({exc!r})") from exc
    return CompareResult(
        verdict,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        comment,
        run_dir,
        paths,
        measured,
    )


def refuse_existing_outputs(out_dir: str, overwrite: bool) -> None:
    """UsageError when ``out_dir`` already holds one of ``OUTPUT_FILES``, unless ``overwrite``."""
    if overwrite or not out_dir:
        return
    found = [f for f in OUTPUT_FILES if storage.exists(storage.join(out_dir, f))]
    if found:
        raise UsageError(
            f"out_dir {out_dir} already holds {', '.join(found)}: a finished run is not "
            "rewritten; open it with run_dir, choose another out_dir, or pass overwrite=True"
        )
