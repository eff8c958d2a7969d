"""Shared inputs for the comment tests: the bundled tier-1 pair with a pinned clock."""

from __future__ import annotations

import math
import re

from perfgate_lib.verdict.report import load_report
from perfgate_lib.verdict.rules import GateContext, decide
from perfgate_lib.verdict.thresholds import PARAMETERS_DIR, load_thresholds

EXAMPLES = PARAMETERS_DIR / "examples"
ASSESSMENT = {
    "max_gate": "3",
    "rationale": "shuffle.py: scatter hashing loop changed (CPU)",
    "per_file": {
        "lib/zephyr/src/zephyr/shuffle.py": {
            "trivial": False,
            "shuffle": True,
            "memory": False,
            "cpu": True,
            "design": False,
            "summary": "scatter hashing loop rewritten",
            "evidence": {
                "trivial": ["the AST changed in `_route` (hunk @@ -40,7 +40,9 @@)"],
                "shuffle": ["shuffle.py is the scatter pipeline; `_route` hashing changed"],
                "cpu": ["hot loop in `_route` changed"],
            },
        }
    },
    "flags": [],
}
CONTEXT = GateContext(
    gate=1,
    treatment_ferry_module="experiments.ferries.datakit_ferry",
    baseline={
        "source": "actions",
        "run_id": "19876543210",
        "run_url": "https://github.com/marin-community/marin/actions/runs/19876543210",
        "created_at": "2026-11-27T06:30:12Z",
    },
    now="2026-11-27T11:30:12+00:00",
)


def example_pair():
    base = load_report(str(EXAMPLES / "tier1_baseline.json"))
    treat = load_report(str(EXAMPLES / "tier1_treatment.json"))
    return base, treat, decide(base, treat, load_thresholds(), CONTEXT)


TIER = "smoke"

# verdict.json keys docs/audit-trail.md fixes (stable; more may be added)
DESIGN_VERDICT_KEYS = frozenset(
    {
        "schema",
        "gate",
        "verdict",
        "hard_fails",
        "warns",
        "inconclusive_reasons",
        "signals",
        "stages",
        "self_check",
        "baseline",
        "treatment",
    }
)


# --- every printed delta recomputes from its printed figures (issue 30) ------------------


_SCALES = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
_COUNT = re.compile(r"^(?P<num>\d+(?:\.(?P<dec>\d+))?)(?P<scale>[kMG]?) instr$")
_SECONDS = re.compile(r"^(?P<num>\d+(?:\.(?P<dec>\d+))?)s$")
_CLOCK = re.compile(r"^(?:(?P<h>\d+)h )?(?:(?P<m>\d+)m )?(?P<s>\d+)s$")
_PLAIN = re.compile(r"^(?P<num>\d+(?:\.(?P<dec>\d+))?)$")
_DELTA = re.compile(r"^(?P<d>[+-]\d+\.\d)%$")
_WITH_DELTA = re.compile(r"^(?P<fig>.+?) \((?P<d>[+-]\d+\.\d)%\)$")
_ARROW = re.compile(r"^(?P<b>.+?) → (?P<t>.+?) \((?P<d>[+-]\d+\.\d)%\)$")


def parse_figure(text: str) -> tuple[float, float] | None:
    """(value, half of the last printed digit) of a printed figure: ``257.5M instr``,
    ``52.4s``, ``14m 05s``, ``210`` (MB); None for anything else (a dash, words)."""
    text = text.strip()
    for pattern in (_COUNT, _SECONDS, _PLAIN):
        found = pattern.match(text)
        if found:
            scale = _SCALES[found.groupdict().get("scale") or ""]
            step = 10.0 ** -len(found.group("dec") or "") * scale
            return float(found.group("num")) * scale, step / 2
    found = _CLOCK.match(text)
    if found and (found.group("h") or found.group("m") or text.endswith("s")):
        h, m = int(found.group("h") or 0), int(found.group("m") or 0)
        return h * 3600 + m * 60 + int(found.group("s")), 0.5
    return None


def _tables(markdown: str) -> list[list[list[str]]]:
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-", ":"} for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def printed_deltas(markdown: str) -> list[tuple[str, str, str, float]]:
    """Every (row name, baseline text, treatment text, delta %) a comment prints in its
    tables: Baseline / Treatment / Δ columns, ``figure (Δ)`` cells beside a Baseline
    column, and ``baseline → treatment (Δ)`` cells."""
    out = []
    for header, *rows in _tables(markdown):
        b_col = next((i for i, h in enumerate(header) if h.startswith("Baseline")), None)
        t_col = next((i for i, h in enumerate(header) if h.startswith("Treatment")), None)
        d_col = next((i for i, h in enumerate(header) if h.startswith("Δ")), None)
        for row in rows:
            if len(row) != len(header):
                continue
            if b_col is not None and t_col is not None:
                found = _DELTA.match(row[d_col]) if d_col is not None else None
                t_text = row[t_col]
                if found is None and d_col is None:
                    found = _WITH_DELTA.match(row[t_col])
                    t_text = found.group("fig") if found else t_text
                if found:
                    out.append((row[0], row[b_col], t_text, float(found.group("d"))))
            for cell in row:
                arrow = _ARROW.match(cell)
                if arrow:
                    out.append(
                        (row[0], arrow.group("b"), arrow.group("t"), float(arrow.group("d")))
                    )
    return out


def delta_problems(markdown: str) -> tuple[int, list[str]]:
    """(deltas checked, problems): a printed delta that (treatment - baseline) / baseline
    of its printed figures cannot give, whatever their rounding (±half a last digit), or
    a delta beside a figure that cannot be read."""
    problems, checked = [], 0
    for name, b_text, t_text, delta in printed_deltas(markdown):
        b, t = parse_figure(b_text), parse_figure(t_text)
        if b is None or t is None:
            problems.append(
                f"{name}: unreadable figures {b_text!r} / {t_text!r} beside {delta:+.1f}%"
            )
            continue
        (bv, bh), (tv, th) = b, t
        corners = [
            100 * (tt - bb) / bb for bb in (bv - bh, bv + bh) for tt in (tv - th, tv + th) if bb > 0
        ]
        checked += 1
        if not corners or not min(corners) - 0.05 <= delta <= max(corners) + 0.05:
            problems.append(
                f"{name}: {b_text} -> {t_text} is {100 * (tv - bv) / bv:+.2f}%, printed {delta:+.1f}%"
            )
    return checked, problems


def verdict_json_problems(data: dict) -> list[str]:
    """verdict.json rows whose delta_pct is not (treatment - baseline) / baseline of the
    figures beside it (stages: ``baseline_s`` / ``treatment_s`` and, for gate 0,
    ``baseline_<unit>`` / ``treatment_<unit>``; signals: ``baseline`` / ``treatment``)."""
    problems = []

    def check(where: str, b, t, d) -> None:
        if d is None or b is None or t is None or b == 0:
            return
        if not math.isclose(100 * (t - b) / b, d, abs_tol=0.01):
            problems.append(f"{where}: {b} -> {t} is {100 * (t - b) / b:.3f}%, says {d}")

    for s in data.get("signals", []):
        check(f"signal {s['signal']}", s.get("baseline"), s.get("treatment"), s.get("delta_pct"))
    for s in data.get("stages", []):
        check(f"stage {s['stage']}", s.get("baseline_s"), s.get("treatment_s"), s.get("delta_pct"))
        for key in ("instructions", "cpu_s"):
            if f"{key}_delta_pct" in s:
                check(
                    f"stage {s['stage']} {key}",
                    s.get(f"baseline_{key}"),
                    s.get(f"treatment_{key}"),
                    s.get(f"{key}_delta_pct"),
                )
    return problems


def paired_csv_problems(rows: list[dict]) -> list[str]:
    """paired.csv rows whose ``*_delta_pct`` is not the delta of its two median columns."""
    from perfgate_lib.local.stats import MEDIAN_COLUMNS

    problems = []
    for row in rows:
        for c_col, t_col, d_col in MEDIAN_COLUMNS.values():
            b, t, d = row.get(c_col), row.get(t_col), row.get(d_col)
            if d is None or (isinstance(d, float) and math.isnan(d)):
                continue
            if not math.isclose(100 * (t - b) / b, d, abs_tol=0.01):
                problems.append(f"{row['stage']} {d_col}: {b} -> {t} says {d}")
    return problems


def chart_label_problems(fig) -> list[str]:
    """A stage chart whose delta labels are not (treatment - baseline) / baseline of its
    own bars (baseline bars first, then treatment bars, in stage order)."""
    ax = fig.axes[0]
    bars = ax.patches
    n = len(bars) // 2
    problems = []
    for base, treat, text in zip(bars[:n], bars[n:], ax.texts, strict=True):
        b, t = base.get_width(), treat.get_width()
        if b and text.get_text() != f"{100 * (t - b) / b:+.1f}%":
            problems.append(f"label {text.get_text()} beside bars {b} -> {t}")
    return problems


def gate0_agreement_problems(run_dir) -> tuple[int, list[str]]:
    """(deltas checked in comment.md, problems) of a gate-0 run folder: comment.md,
    verdict.json, ab/paired.csv and the charts must agree. Every printed delta recomputes
    from its printed figures; verdict.json's and the CSV's deltas from their columns; the
    comment's stage counts are the CSV's medians (to their printed digits); the stage
    chart, re-drawn from verdict.json by the current code, labels its bars with their own
    deltas; the run is recorded as gate 0."""
    import json
    from pathlib import Path

    import pandas as pd

    from perfgate_lib.verdict import charts
    from perfgate_lib.verdict.compare import load_compare
    from perfgate_lib.verdict.measured import metric_view

    run = Path(run_dir)
    body = (run / "comment.md").read_text()
    data = json.loads((run / "verdict.json").read_text())
    checked, problems = delta_problems(body)
    problems += verdict_json_problems(data)
    rows = pd.read_csv(run / "ab" / "paired.csv").to_dict("records")
    problems += paired_csv_problems(rows)
    if data.get("gate") != 0:
        problems.append(f"verdict.json gate {data.get('gate')!r}, not 0")
    if not body.splitlines()[1].startswith("🤖 ## Zephyr perf gate — Gate 0"):
        problems.append(f"comment title {body.splitlines()[1]!r}")
    medians = {r["stage"]: r for r in rows}
    shown = {name: (b, t) for name, b, t, _ in printed_deltas(body) if b.endswith(" instr")}
    for stage, (b_text, t_text) in shown.items():
        row = medians.get(stage.replace("\\_", "_"))
        if row is None:
            continue
        for text, value in (
            (b_text, row["control_instructions"]),
            (t_text, row["treatment_instructions"]),
        ):
            printed, half = parse_figure(text)
            if abs(printed - value) > half:
                problems.append(f"{stage}: comment {text}, paired.csv {value}")
    result = load_compare(str(run))
    view = metric_view(result.verdict, result.measured)
    fig = charts.stage_chart(view, result.measured.unit if result.measured else None)
    problems += chart_label_problems(fig)
    if "Gate 0" not in fig.axes[0].get_title():
        problems.append(f"stage chart title {fig.axes[0].get_title()!r}")
    return checked, problems
