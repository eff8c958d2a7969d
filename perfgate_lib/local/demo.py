"""The demo (the whole pipeline offline, on a sandbox repository, with real Zephyr) and
gate 0's notebooks run on this machine. Times are seconds. The steps and the run folder:
``docs/gate0.md`` (The demo).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfgate_lib.errors import UsageError
from perfgate_lib.local.sandbox import Sandbox, build_sandbox, diff_text

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class DemoResult:
    """Where the demo's outputs are, its verdict and step timings (seconds)."""

    run_dir: str
    verdict: dict[str, Any]
    comment: str
    notebooks: list[str]
    sandbox: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    archived: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def flagged_stages(self) -> list[str]:
        """Stages whose row verdict is fail."""
        return [s["stage"] for s in self.verdict.get("stages", []) if s.get("verdict") == "fail"]


def run_local_gate(
    checkout: str,
    base: str,
    head: str,
    run_dir: str | Path,
    *,
    gate0: Mapping[str, Any] | None = None,
    seed: int = 0,
    assessment: str = "",
    console: Console | None = None,
) -> tuple[dict[str, Any], list[str], dict[str, float]]:
    """Gate 0 here: ``local_ab.ipynb`` (into ``<run_dir>/ab``) then ``compare.ipynb``;
    ``gate0``: Gate0Settings overrides. (verdict.json, executed notebooks, step seconds);
    progress on a terminal ``console``; NothingToMeasure before any kernel starts."""
    from perfgate_lib.io.notebook import run_notebook
    from perfgate_lib.local.ab import Gate0Settings, require_zephyr_change, resolve_revisions
    from perfgate_lib.local.pairs import LOG_NAME, follow
    from perfgate_lib.verdict.measured import GATE0
    from perfgate_lib.verdict.notebook import run_compare_notebook

    # fail fast, before starting a kernel: bad revisions, or nothing to measure
    require_zephyr_change(checkout, *resolve_revisions(checkout, base, head))
    settings = Gate0Settings.load(**(gate0 or {}))
    run_dir = Path(run_dir).resolve()
    ab_dir = run_dir / "ab"
    timings: dict[str, float] = {}
    t = time.perf_counter()
    what = f"gate 0 ({settings.metric}, at most {settings.max_pairs} pairs)"
    casts = dict(max_pairs=int, budget_s=float, docs=int, env=str, metric=str, profile=str)
    params = {"checkout": str(Path(checkout).resolve()), "base": str(base), "head": str(head)}
    params.update({key: cast(getattr(settings, key)) for key, cast in casts.items()})
    with follow(ab_dir / LOG_NAME, what, console=console):
        notebook = run_notebook(
            "local_ab", str(run_dir), {**params, "seed": int(seed), "out_dir": str(ab_dir)}
        )
    timings["local_ab"] = round(time.perf_counter() - t, 2)
    ab = json.loads((ab_dir / "ab.json").read_text())
    timings.update({f"local_ab.{k}": v for k, v in (ab.get("timings_seconds") or {}).items()})
    t = time.perf_counter()
    verdict = run_compare_notebook(
        str(ab_dir / "control-report.json"),
        str(ab_dir / "treatment-report.json"),
        str(run_dir),
        gate=GATE0,
        assessment=assessment,
        context=_context(ab_dir, assessment),
    )
    timings["compare"] = round(time.perf_counter() - t, 2)
    return verdict, [notebook, str(run_dir / "compare.ipynb")], timings


def _context(ab_dir: Path, assessment: str) -> str:
    """The A/B's compare context, with the assessment's agreement lines if there is one."""
    from perfgate_lib.local.ab import with_assessment
    from perfgate_lib.local.evidence import assessed_files

    text = (ab_dir / "compare_context.json").read_text()
    per_file = assessed_files(assessment)
    if not per_file:
        return text
    return json.dumps(with_assessment(json.loads(text), str(ab_dir), per_file))


def run_demo(
    out_dir: str | None = None,
    *,
    gate0: Mapping[str, Any] | None = None,
    seed: int = 0,
    keep_sandbox: bool = False,
    archive: bool = True,
    progress: Callable[[str], None] | None = print,
) -> DemoResult:
    """Build the sandbox, assess, run the local A/B, compare, render, archive (into
    ``out_dir``, default ``runs/demo/<UTC stamp>``); the expected verdict: fail at fuzzy_dups."""
    from perfgate_lib.io.rundir import new_run_dir

    say = progress or (lambda _msg: None)
    run_dir = Path(out_dir or new_run_dir(None, None, kind="demo")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    notes: list[str] = []
    notebooks: list[str] = []
    start = time.perf_counter()
    sandbox_parent = Path(tempfile.mkdtemp(prefix="perfgate-demo-"))
    try:
        t = time.perf_counter()
        box = build_sandbox(sandbox_parent / "marin")
        (run_dir / "pr.diff").write_text(diff_text(box))
        timings["sandbox"] = round(time.perf_counter() - t, 2)
        say(f"sandbox: {box.path} ({box.base} -> {box.head}, {', '.join(box.changed_files)})")

        t = time.perf_counter()
        assessment = _assess_or_skip(box, run_dir, say, notebooks, notes)
        timings["assess"] = round(time.perf_counter() - t, 2)

        say(
            "gate 0: paired local A/B of merge-base and head, pairs added while a stage is undecided"
        )
        verdict, gate_notebooks, gate_timings = run_local_gate(
            box.path, box.base, box.head, run_dir, gate0=gate0, seed=seed, assessment=assessment
        )
        notebooks += gate_notebooks
        timings.update(gate_timings)
    finally:
        if keep_sandbox:
            notes.append(f"sandbox kept at {sandbox_parent / 'marin'}")
        else:
            shutil.rmtree(sandbox_parent, ignore_errors=True)

    timings["total"] = round(time.perf_counter() - start, 2)
    result = DemoResult(
        run_dir=str(run_dir),
        verdict=verdict,
        comment=str(run_dir / "comment.md"),
        notebooks=notebooks,
        sandbox={**asdict(box), "path": box.path if keep_sandbox else None},
        timings=timings,
        notes=notes,
    )
    _write_summary(result)
    if archive:
        _archive(result, start)
    return result


def _assess_or_skip(
    box: Sandbox, run_dir: Path, say: Callable[[str], None], notebooks: list[str], notes: list[str]
) -> str:
    """Run assess.ipynb on the sandbox PR (reply "go"); assessment.json's path, or "" with a
    note when it cannot run (the demo goes on without it)."""
    params = {"pr": 0, "checkout": box.path, "base": box.base, "head": box.head}
    params.update(reply="go", out_dir=str(run_dir))
    try:
        from perfgate_lib.io.notebook import run_notebook

        notebooks.append(run_notebook("assess", str(run_dir), params))
        assessment = str(run_dir / "assessment.json")
        summary = json.loads(Path(assessment).read_text())
        say(f"assess: max_gate {summary.get('max_gate')} ({summary.get('rationale', '')})")
    except (ImportError, FileNotFoundError, UsageError) as exc:  # no assess: still demo
        notes.append(f"assessment skipped: {exc}")
        assessment = ""
    return assessment


def _archive(result: DemoResult, start: float) -> None:
    """Archive the run folder as gate 0, then rewrite demo.json with the archive's seconds
    and the total since ``start`` (a ``perf_counter`` reading)."""
    from perfgate_lib.verdict.measured import GATE0

    t = time.perf_counter()
    from perfgate_lib.audit.archive import archive_run

    archive_run(result.run_dir, verdict=result.verdict.get("verdict"), gate=GATE0)
    result.archived = True
    result.timings["archive"] = round(time.perf_counter() - t, 2)
    result.timings["total"] = round(time.perf_counter() - start, 2)
    _write_summary(result)


def _write_summary(result: DemoResult) -> None:
    """``demo.json`` in the run folder: what ran, step seconds, the verdict."""
    summary = {
        "run_dir": result.run_dir,
        "verdict": result.verdict.get("verdict"),
        "flagged_stages": result.flagged_stages,
        "comment": result.comment,
        "notebooks": result.notebooks,
        "sandbox": result.sandbox,
        "timings_seconds": result.timings,
        "archived": result.archived,
        "notes": result.notes,
    }
    (Path(result.run_dir) / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")


def where_time_went(timings: dict[str, float]) -> str:
    """``sandbox 1 s, assess 6 s, local_ab 80 s (start-up 4 s, pairs 70 s), ...``."""
    inner = ", ".join(
        f"{key.removeprefix('local_ab.').replace('_', '-')} {value:.0f} s"
        for key, value in timings.items()
        if key.startswith("local_ab.")
    )
    return ", ".join(
        f"{key} {value:.0f} s" + (f" ({inner})" if key == "local_ab" and inner else "")
        for key, value in timings.items()
        if key != "total" and not key.startswith("local_ab.")
    )


def where_to_look(result: DemoResult) -> list[str]:
    """Lines telling the user what the demo found and where the files are."""
    run = Path(result.run_dir)
    flagged = ", ".join(result.flagged_stages) or "none"
    lines = [
        f"verdict: {result.verdict.get('verdict')} (flagged stages: {flagged})",
        f"run folder: {run}",
        f"  comment.md        the PR comment (not posted): {run / 'comment.md'}",
        f"  verdict.json      {run / 'verdict.json'}",
        "  executed notebooks: " + ", ".join(Path(n).name for n in result.notebooks),
        f"  local A/B         {run / 'ab'} (median reports, paired.csv, pairs.json, logs)",
        f"  took {result.timings.get('total', 0):.0f} s: " + where_time_went(result.timings),
    ]
    return lines + [f"  note: {n}" for n in result.notes]
