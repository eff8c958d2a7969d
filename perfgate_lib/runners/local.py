"""The local A/B runner: the mini ferry on control and treatment code, on this machine.

Control is a worktree at ``merge-base(base, head)``, treatment a worktree at ``head``,
both created with ``git worktree add --detach`` in a temporary folder and always removed.
Each run is a fresh ``python -m perfgate_lib.miniferry`` process importing Zephyr from its
worktree's ``lib/zephyr/src`` (or the installed package when the checkout has none), over
one shared generated corpus. Runs are interleaved ``control, treatment, control, ...``
``repeats`` times; the two reports handed to the verdict engine hold the per-stage
*medians* (and the median total and peak memory).

Noise (documented choice). For each stage, the total and peak memory:

* ``noise_pct`` = 100 x the wider side's spread, ``max(range_c / median_c,
  range_t / median_t)``, where ``range`` is max - min over that side's repeats;
* ``runs_overlap`` = the control and treatment repeats' ranges overlap;
* ``within_noise`` = ``|delta_s| <= resolution_s or runs_overlap or |delta_pct| <= noise_pct``.

So a delta counts as real only when it is larger than the measurement's resolution
(:data:`RESOLUTION_S`, 0.25 s: Zephyr's local scheduler polls with 0.1 s back-offs, so
stage times move in ~0.1 s steps; the total's resolution is that times the number of
stages), every treatment repeat is on one side of every
control repeat, *and* the medians moved more than either side's repeats spread. Under
identical code (A/A) complete separation alone happens with probability 1/C(2k, k) per
stage and direction for continuous noise (1/252 at k=5); the resolution floor covers the
stepped scheduler noise that breaks that bound. A real slowdown much larger than the
spread and the floor meets all three. A stage in the fail band but within the noise is shown as a
warn with the note "within noise" (never as a pass, so nothing is hidden); see
:func:`local_verdict`. With fewer than 2 repeats the noise is unknown (NaN).

Times are seconds, memory MB.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from perfgate_lib.corpus import CorpusSpec, write_corpus
from perfgate_lib.errors import PerfgateError, UsageError
from perfgate_lib.miniferry import local_provenance

if TYPE_CHECKING:
    from perfgate_lib.rules import Verdict

ZEPHYR_SRC = Path("lib/zephyr/src")
TOTAL = "wall_seconds_total"
MEMORY = "peak_worker_memory_mb"
NOISE_COLUMNS = [
    "stage",
    "control_median_s",
    "treatment_median_s",
    "delta_pct",
    "noise_pct",
    "within_noise",
    "runs_overlap",
    "delta_s",
    "resolution_s",
]
# Zephyr's local scheduler polls with 0.1 s back-offs, so a stage's wall time moves in
# ~0.1 s steps from run to run: a median delta of 0.25 s or less is below what one local
# run can resolve.
RESOLUTION_S = 0.25


class LocalRunError(PerfgateError):
    """The local A/B could not run (git, worktree, or a ferry process crashed); exit 4."""


# ---------------------------------------------------------------------------
# git worktrees
# ---------------------------------------------------------------------------


def _git(checkout: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise LocalRunError("git is not installed") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise LocalRunError(
            f"git {' '.join(args)} failed in {checkout}: {detail[-1] if detail else 'error'}"
        )
    return done.stdout.strip()


def resolve_revisions(checkout: str | Path, base: str, head: str) -> tuple[str, str]:
    """(merge-base SHA, head SHA) of ``base`` and ``head`` in ``checkout``."""
    checkout = Path(checkout)
    if not (checkout / ".git").exists():
        raise UsageError(f"--checkout {checkout}: not a git checkout")
    head_sha = _git(checkout, "rev-parse", "--verify", f"{head}^{{commit}}")
    base_sha = _git(checkout, "rev-parse", "--verify", f"{base}^{{commit}}")
    return _git(checkout, "merge-base", base_sha, head_sha), head_sha


@contextlib.contextmanager
def worktree(checkout: str | Path, sha: str, path: Path) -> Iterator[Path]:
    """A detached worktree of ``sha`` at ``path``; removed (and pruned) on exit."""
    checkout = Path(checkout)
    _git(checkout, "worktree", "add", "--detach", str(path), sha)
    try:
        yield path
    finally:
        with contextlib.suppress(LocalRunError):
            _git(checkout, "worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(LocalRunError):
            _git(checkout, "worktree", "prune")


def zephyr_source(tree: str | Path) -> str | None:
    """``<tree>/lib/zephyr/src`` when it holds a zephyr package, else None (installed)."""
    src = Path(tree) / ZEPHYR_SRC
    return str(src.resolve()) if (src / "zephyr" / "__init__.py").is_file() else None


# ---------------------------------------------------------------------------
# One ferry run (a child process)
# ---------------------------------------------------------------------------


def run_ferry_process(
    out: Path,
    *,
    zephyr_src: str | None,
    corpus_dir: Path,
    run_id: str,
    work_dir: Path,
    log: Path,
    max_workers: int = 2,
    timeout_s: float = 900.0,
) -> dict[str, Any]:
    """Run ``python -m perfgate_lib.miniferry`` once; returns its report (failed or not).

    ``zephyr_src`` goes first on the child's PYTHONPATH. Raises LocalRunError when the
    child wrote no report (crash, timeout).
    """
    cmd = [
        sys.executable,
        "-m",
        "perfgate_lib.miniferry",
        "--out",
        str(out),
        "--corpus",
        str(corpus_dir),
        "--run-id",
        run_id,
        "--work-dir",
        str(work_dir),
        "--max-workers",
        str(max_workers),
    ]
    env = dict(os.environ)
    # Zephyr under test first, then this kit (importable even when not pip-installed).
    paths = [str(Path(__file__).resolve().parents[2])]
    if zephyr_src:
        cmd += ["--zephyr-src", zephyr_src]
        paths.insert(0, zephyr_src)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        try:
            subprocess.run(
                cmd,
                cwd=work_dir,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalRunError(f"mini ferry {run_id} timed out after {timeout_s:g} s") from exc
    if not out.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise LocalRunError(f"mini ferry {run_id} wrote no report ({log}): {' | '.join(tail)}")
    return json.loads(out.read_text())


# ---------------------------------------------------------------------------
# Medians and noise (pure)
# ---------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread_pct(values: list[float]) -> float:
    """100 x (max - min) / median; NaN with fewer than 2 values or a zero median."""
    if len(values) < 2:
        return math.nan
    mid = statistics.median(values)
    return math.nan if mid == 0 else 100 * (max(values) - min(values)) / mid


def noise_row(
    name: str, control: list[float], treatment: list[float], resolution: float = 0.0
) -> dict[str, Any]:
    """One row of the noise table for repeat values of one signal (seconds or MB).

    ``resolution`` (same unit): a median delta at or below it is within the noise whatever
    the spreads say (the measurement cannot resolve it).
    """
    mc, mt = _median(control), _median(treatment)
    delta = None if not mc or mt is None else round(100 * (mt - mc) / mc, 2)
    delta_abs = None if mc is None or mt is None else round(mt - mc, 4)
    spreads = [_spread_pct(control), _spread_pct(treatment)]
    noise = math.nan if any(math.isnan(s) for s in spreads) else round(max(spreads), 2)
    overlap = bool(
        control and treatment and min(treatment) <= max(control) and min(control) <= max(treatment)
    )
    below_resolution = delta_abs is not None and abs(delta_abs) <= resolution
    spread_ok = delta is not None and not math.isnan(noise) and (overlap or abs(delta) <= noise)
    return {
        "stage": name,
        "control_median_s": None if mc is None else round(mc, 4),
        "treatment_median_s": None if mt is None else round(mt, 4),
        "delta_pct": delta,
        "noise_pct": noise,
        "within_noise": bool(delta is not None and (below_resolution or spread_ok)),
        "runs_overlap": overlap,
        "delta_s": delta_abs,
        "resolution_s": resolution,
    }


def _values(reports: list[dict[str, Any]], stage: str | None, key: str = TOTAL) -> list[float]:
    out = []
    for report in reports:
        if report.get("status") != "succeeded":
            continue
        value = (report.get("stage_wall_seconds") or {}).get(stage) if stage else report.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(float(value))
    return out


def _stage_names(reports: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for report in reports:
        for stage in report.get("stage_wall_seconds") or {}:
            if stage not in names:
                names.append(stage)
    return names


def noise_table(
    control: list[dict[str, Any]],
    treatment: list[dict[str, Any]],
    resolution_s: float = RESOLUTION_S,
) -> pd.DataFrame:
    """Per stage, then ``wall_seconds_total``: medians (s), delta and noise (%), flags.

    Columns: stage, control_median_s, treatment_median_s, delta_pct, noise_pct,
    within_noise, runs_overlap, delta_s (s), resolution_s (s). Only succeeded runs count.
    """
    rows = [
        noise_row(stage, _values(control, stage), _values(treatment, stage), resolution_s)
        for stage in _stage_names(control + treatment)
    ]
    # The total sums every stage's scheduler steps, which can all fall the same way.
    total_resolution = resolution_s * max(1, len(rows))
    rows.append(
        noise_row(TOTAL, _values(control, None), _values(treatment, None), total_resolution)
    )
    return pd.DataFrame(rows, columns=NOISE_COLUMNS)


def memory_noise(control: list[dict[str, Any]], treatment: list[dict[str, Any]]) -> dict[str, Any]:
    """The noise row for ``peak_worker_memory_mb`` (the ``*_s`` keys hold MB here)."""
    return noise_row(MEMORY, _values(control, None, MEMORY), _values(treatment, None, MEMORY))


def median_report(reports: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    """One report in marin's schema holding the medians of ``reports`` (one side's runs).

    Stage times, the total and peak memory are medians over the succeeded runs; status is
    ``succeeded`` only when every run succeeded; counts (failed shards, infra buckets)
    take the worst run. ``local_run.repeats`` lists each run's job id and figures.
    """
    if not reports:
        raise LocalRunError(f"no runs to summarise for {job_id}")
    ok = [r for r in reports if r.get("status") == "succeeded"]
    stages = {}
    for stage in _stage_names(reports):
        value = _median(_values(reports, stage))
        if value is not None:
            stages[stage] = round(value, 4)
    total = _median(_values(reports, None))
    memory = _median(_values(reports, None, MEMORY))
    infra: dict[str, int] = {}
    for report in reports:
        for bucket, count in (report.get("infra_failures") or {}).items():
            infra[bucket] = max(infra.get(bucket, 0), int(count or 0))
    states: dict[str, int] = {}
    for state, count in (reports[-1].get("task_state_counts") or {}).items():
        states[state] = int(count)
    for report in reports:
        if report.get("status") != "succeeded":
            states = dict(report.get("task_state_counts") or {"failed": 1})
            break
    warnings = [f"median of {len(ok)} succeeded of {len(reports)} interleaved local runs"]
    for report in reports:
        warnings += [w for w in report.get("warnings") or [] if w.startswith("ferry failed")]
    first = reports[0]
    return {
        "iris_job_id": job_id,
        "status": "succeeded" if len(ok) == len(reports) else "failed",
        "marin_prefix": None,
        "wall_seconds_total": None if total is None else round(total, 4),
        "stage_wall_seconds": stages,
        "sum_task_wall_seconds_total": None,
        "cached_steps": [],
        "ooms": infra.get("oom", 0),
        "failed_shards": max(int(r.get("failed_shards") or 0) for r in reports),
        "peak_worker_memory_mb": 0 if memory is None else int(round(memory)),
        "preemption_count": 0,
        "failure_count": sum(int(r.get("failure_count") or 0) for r in reports),
        "task_state_counts": states,
        "tree_job_count": first.get("tree_job_count"),
        "infra_failures": infra,
        **local_provenance(),
        "warnings": warnings,
        "local_run": {
            "repeats": [
                {
                    "iris_job_id": r.get("iris_job_id"),
                    "status": r.get("status"),
                    TOTAL: r.get(TOTAL),
                    "stage_wall_seconds": r.get("stage_wall_seconds"),
                    MEMORY: r.get(MEMORY),
                }
                for r in reports
            ],
            "zephyr_source": (first.get("local_run") or {}).get("zephyr_source"),
            "memory_method": (first.get("local_run") or {}).get("memory_method"),
            "corpus": (first.get("local_run") or {}).get("corpus"),
        },
    }


# ---------------------------------------------------------------------------
# The A/B
# ---------------------------------------------------------------------------


@dataclass
class ABResult:
    """The outcome of a local A/B. Reports are dicts in marin's schema (medians).

    ``noise``: DataFrame with :data:`NOISE_COLUMNS` (stages then wall_seconds_total);
    ``memory``: the same figures for peak_worker_memory_mb (MB). ``paths`` name the files
    written in ``out_dir``: control_report, treatment_report, noise_csv, ab_json.
    """

    control_report: dict[str, Any]
    treatment_report: dict[str, Any]
    noise: pd.DataFrame
    memory: dict[str, Any]
    control_sha: str
    treatment_sha: str
    repeats: int
    out_dir: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    zephyr_sources: dict[str, str | None] = field(default_factory=dict)

    @property
    def source_warning(self) -> str | None:
        """Set when a side ran the installed marin-zephyr instead of its worktree's code."""
        missing = [side for side, src in self.zephyr_sources.items() if not src]
        if not missing:
            return None
        return f"{' and '.join(missing)} had no lib/zephyr/src: ran the installed marin-zephyr" + (
            ", so this A/B cannot see a Zephyr change" if len(missing) == 2 else ""
        )

    def within_noise(self) -> dict[str, str]:
        """Signal or stage name -> note, for every delta inside the noise."""
        notes = {}
        rows = [*self.noise.to_dict("records"), self.memory]
        for row in rows:
            if row["within_noise"]:
                notes[row["stage"]] = f"within noise ({_noise_text(row, self.repeats)})"
        return notes

    def stage_context(self) -> dict[str, str]:
        """Stage -> text for the comment's noise column: spread, and whether within it."""
        out = {}
        for row in self.noise.to_dict("records"):
            if row["stage"] == TOTAL:
                continue
            out[row["stage"]] = _context_text(row)
        return out

    def compare_context(self) -> dict[str, Any]:
        """GateContext keys (``within_noise`` included) plus ``comment`` extras for
        ``compare.run_compare``."""
        total = self.noise[self.noise["stage"] == TOTAL].to_dict("records")
        total_note = ""
        if total and total[0]["noise_pct"] is not None and not math.isnan(total[0]["noise_pct"]):
            total_note = f"; total wall time spread ±{total[0]['noise_pct']:.1f}%"
        context: dict[str, Any] = {
            "baseline": {
                "source": "local control run (merge-base worktree)",
                "sha": self.control_sha,
                "age_hours": 0.0,
            },
            "comment": {
                "title": "Gate 0 (local A/B, mini ferry)",
                "stage_context": self.stage_context(),
                "stage_context_title": f"Noise (k={self.repeats})",
                "top_notes": [
                    f"Local A/B on this machine: control = merge-base `{self.control_sha[:12]}`, "
                    f"treatment = head `{self.treatment_sha[:12]}`, {self.repeats} interleaved "
                    f"repeats each, medians compared{total_note}. A delta inside the noise "
                    "(repeats overlap, |Δ| ≤ the spread of a side's repeats, or |Δ| ≤ "
                    f"{RESOLUTION_S:g} s per stage, the scheduler's resolution) is marked "
                    "'within noise'."
                ],
            },
        }
        if self.source_warning:
            context["comment"]["top_notes"].append(f"⚠ {self.source_warning}.")
        context["within_noise"] = self.within_noise()
        return context


def _noise_text(row: dict[str, Any], repeats: int | None = None) -> str:
    """``±12.3%`` (plus ``, k=5``; ``spread unknown`` with one repeat), then
    ``; |Δ| 0.01 s ≤ 0.25 s`` when the delta is below the resolution."""
    noise = row.get("noise_pct")
    known = noise is not None and not math.isnan(noise)
    text = f"±{noise:.1f}%" if known else "spread unknown (k<2)"
    if repeats is not None and known:
        text += f", k={repeats}"
    delta_s, resolution = row.get("delta_s"), row.get("resolution_s") or 0.0
    if resolution and delta_s is not None and abs(delta_s) <= resolution:
        text += f"; |Δ| {abs(delta_s):.2f} s ≤ {resolution:g} s"
    return text


def _context_text(row: dict[str, Any]) -> str:
    """The comment's noise cell: ``±12.3% · outside noise``."""
    noise = row.get("noise_pct")
    known = noise is not None and not math.isnan(noise)
    text = f"±{noise:.1f}%" if known else "spread unknown"
    if not row["within_noise"]:
        return f"{text} · outside noise"
    delta_s, resolution = row.get("delta_s"), row.get("resolution_s") or 0.0
    if resolution and delta_s is not None and abs(delta_s) <= resolution:
        return f"{text} · within noise (|Δ| ≤ {resolution:g} s)"
    return f"{text} · within noise"


def run_local_ab(
    checkout: str | Path,
    base: str,
    head: str,
    *,
    out_dir: str | Path,
    repeats: int = 5,
    docs: int = CorpusSpec.docs,
    seed: int = 0,
    max_workers: int = 2,
    timeout_s: float = 900.0,
    resolution_s: float = RESOLUTION_S,
    progress: Callable[[str], None] | None = print,
) -> ABResult:
    """Run the mini ferry on merge-base (control) and head (treatment), interleaved.

    Writes into ``out_dir``: ``control-report.json`` and ``treatment-report.json``
    (medians, marin's schema), ``noise.csv``, ``ab.json`` (settings, SHAs, order, noise),
    ``runs/<side>-r<i>.json`` and ``logs/<side>-r<i>.log``. A failed run stops the A/B
    after the current pair; the median report then says ``failed``.
    """
    if repeats < 1:
        raise UsageError(f"repeats must be >= 1, got {repeats}")
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    control_sha, head_sha = resolve_revisions(checkout, base, head)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ab_id = f"ab-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{head_sha[:7]}"
    spec = CorpusSpec(docs=docs, seed=seed)
    reports: dict[str, list[dict[str, Any]]] = {"control": [], "treatment": []}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="perfgate-local-ab-") as tmp_name:
        tmp = Path(tmp_name)
        corpus_dir = tmp / "corpus"
        write_corpus(spec, corpus_dir)
        with (
            worktree(checkout, control_sha, tmp / "control") as control_tree,
            worktree(checkout, head_sha, tmp / "treatment") as treatment_tree,
        ):
            sources = {
                "control": zephyr_source(control_tree),
                "treatment": zephyr_source(treatment_tree),
            }
            for side, src in sources.items():
                say(f"{side}: zephyr from {src or 'the installed package'}")
            for i in range(1, repeats + 1):
                for side in ("control", "treatment"):
                    run_id = f"{ab_id}/{side}-r{i}"
                    work = tmp / "work"
                    work.mkdir(exist_ok=True)
                    report = run_ferry_process(
                        out / "runs" / f"{side}-r{i}.json",
                        zephyr_src=sources[side],
                        corpus_dir=corpus_dir,
                        run_id=run_id,
                        work_dir=work,
                        log=out / "logs" / f"{side}-r{i}.log",
                        max_workers=max_workers,
                        timeout_s=timeout_s,
                    )
                    reports[side].append(report)
                    runs.append(
                        {
                            "side": side,
                            "repeat": i,
                            "iris_job_id": report.get("iris_job_id"),
                            "status": report.get("status"),
                            TOTAL: report.get(TOTAL),
                        }
                    )
                    say(
                        f"{side} {i}/{repeats}: {report.get('status')} "
                        f"{report.get(TOTAL) or 0:.2f} s"
                    )
                if any(r.get("status") != "succeeded" for r in runs):
                    say(f"stopping after repeat {i}: a ferry failed (see {out / 'logs'})")
                    break
    result = summarize_runs(
        reports["control"],
        reports["treatment"],
        ab_id=ab_id,
        control_sha=control_sha,
        treatment_sha=head_sha,
        out_dir=str(out),
        runs=runs,
        zephyr_sources=sources,
        resolution_s=resolution_s,
    )
    result.seconds = round(time.perf_counter() - started, 2)
    if result.source_warning:
        say(f"warning: {result.source_warning}")
    result.paths = write_outputs(result, spec)
    return result


def summarize_runs(
    control: list[dict[str, Any]],
    treatment: list[dict[str, Any]],
    *,
    ab_id: str,
    control_sha: str,
    treatment_sha: str,
    out_dir: str = "",
    runs: list[dict[str, Any]] | None = None,
    zephyr_sources: dict[str, str | None] | None = None,
    resolution_s: float = RESOLUTION_S,
) -> ABResult:
    """The A/B result of both sides' run reports (pure): medians, noise table, memory."""
    return ABResult(
        control_report=median_report(control, f"local/{ab_id}/control"),
        treatment_report=median_report(treatment, f"local/{ab_id}/treatment"),
        noise=noise_table(control, treatment, resolution_s),
        memory=memory_noise(control, treatment),
        control_sha=control_sha,
        treatment_sha=treatment_sha,
        repeats=len(control),
        out_dir=out_dir,
        runs=list(runs or []),
        zephyr_sources=dict(zephyr_sources or {}),
    )


def write_outputs(result: ABResult, spec: CorpusSpec) -> dict[str, str]:
    """Write the median reports, the noise table and ``ab.json`` into ``result.out_dir``."""
    out = Path(result.out_dir)
    paths = {
        "control_report": out / "control-report.json",
        "treatment_report": out / "treatment-report.json",
        "noise_csv": out / "noise.csv",
        "ab_json": out / "ab.json",
    }
    paths["control_report"].write_text(json.dumps(result.control_report, indent=2) + "\n")
    paths["treatment_report"].write_text(json.dumps(result.treatment_report, indent=2) + "\n")
    result.noise.to_csv(paths["noise_csv"], index=False)
    summary = {
        "control_sha": result.control_sha,
        "treatment_sha": result.treatment_sha,
        "repeats": result.repeats,
        "order": "interleaved: control, treatment, control, treatment, ...",
        "corpus": {"docs": spec.docs, "seed": spec.seed},
        "runs": result.runs,
        "noise": json.loads(result.noise.to_json(orient="records")),
        "memory": result.memory,
        "seconds": result.seconds,
        "zephyr_sources": result.zephyr_sources,
        "noise_rule": "within_noise = |delta_s| <= resolution_s or runs_overlap or "
        "|delta_pct| <= noise_pct; noise_pct = 100 * max over sides of (max - min) / median",
        "resolution_s": RESOLUTION_S,
    }
    paths["ab_json"].write_text(json.dumps(summary, indent=2) + "\n")
    paths["compare_context"] = out / "compare_context.json"
    paths["compare_context"].write_text(json.dumps(result.compare_context(), indent=2) + "\n")
    return {k: str(v) for k, v in paths.items()}


# ---------------------------------------------------------------------------
# Tables and a chart for the notebook
# ---------------------------------------------------------------------------


def memory_frame(result: ABResult) -> pd.DataFrame:
    """Peak memory row. Columns: signal, control_median_mb, treatment_median_mb, delta_pct,
    noise_pct, within_noise, runs_overlap."""
    row = dict(result.memory)
    return pd.DataFrame(
        [
            {
                "signal": row["stage"],
                "control_median_mb": row["control_median_s"],
                "treatment_median_mb": row["treatment_median_s"],
                "delta_pct": row["delta_pct"],
                "noise_pct": row["noise_pct"],
                "within_noise": row["within_noise"],
                "runs_overlap": row["runs_overlap"],
            }
        ]
    )


def _repeat_rows(result: ABResult) -> list[dict[str, Any]]:
    rows = []
    for side, report in (
        ("control", result.control_report),
        ("treatment", result.treatment_report),
    ):
        for i, run in enumerate((report.get("local_run") or {}).get("repeats") or [], start=1):
            row = {"side": side, "repeat": i, "status": run.get("status")}
            row.update(run.get("stage_wall_seconds") or {})
            row[TOTAL] = run.get(TOTAL)
            row[MEMORY] = run.get(MEMORY)
            rows.append(row)
    return rows


def repeats_frame(result: ABResult) -> pd.DataFrame:
    """One row per run: side, repeat, status, each stage (s), wall_seconds_total (s),
    peak_worker_memory_mb (MB). Runs appear per side in the order they ran."""
    return pd.DataFrame(_repeat_rows(result))


def repeats_chart(result: ABResult) -> Any:
    """A matplotlib figure: each repeat's seconds per stage, control vs treatment."""
    from matplotlib.figure import Figure

    frame = repeats_frame(result)
    stages = [s for s in _stage_names([result.control_report, result.treatment_report])]
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    for offset, side, color in ((-0.15, "control", "tab:blue"), (0.15, "treatment", "tab:red")):
        part = frame[frame["side"] == side]
        for x, stage in enumerate(stages):
            if stage in part:
                values = part[stage].dropna()
                ax.scatter(
                    [x + offset] * len(values),
                    values,
                    s=18,
                    color=color,
                    label=side if x == 0 else None,
                )
    ax.set_xticks(range(len(stages)), stages)
    ax.set_ylabel("seconds")
    ax.set_title(f"Every repeat (k={result.repeats}): control vs treatment")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def show_repeats_chart(result: ABResult) -> str:
    """Save the repeats chart as ``repeats_chart.png`` in ``out_dir``, display it in a
    notebook, and return the path."""
    path = Path(result.out_dir) / "repeats_chart.png"
    repeats_chart(result).savefig(path, dpi=110)
    try:
        from IPython.display import Image, display

        display(Image(filename=str(path)))
    except ImportError:  # pragma: no cover - outside notebooks
        pass
    return str(path)


def verdict_frame(verdict: Verdict, result: ABResult) -> pd.DataFrame:
    """Stages then whole-run time/memory rows of a verdict, with the noise beside each.

    Columns: name, baseline, treatment, delta_pct, verdict, noise_pct, within_noise, note.
    """
    noise = {row["stage"]: row for row in [*result.noise.to_dict("records"), result.memory]}
    rows = []
    for row in verdict.stages:
        rows.append(
            (row.stage, row.baseline_s, row.treatment_s, row.delta_pct, row.verdict, row.note)
        )
    for row in verdict.signals:
        if row.signal in (TOTAL, MEMORY):
            rows.append(
                (row.signal, row.baseline, row.treatment, row.delta_pct, row.verdict, row.note)
            )
    out = []
    for name, b, t, delta, verdict_, note in rows:
        n = noise.get(name, {})
        out.append(
            {
                "name": name,
                "baseline": b,
                "treatment": t,
                "delta_pct": delta,
                "verdict": verdict_,
                "noise_pct": n.get("noise_pct"),
                "within_noise": n.get("within_noise"),
                "note": note,
            }
        )
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------
# Verdict on the medians
# ---------------------------------------------------------------------------


def local_verdict(result: ABResult, thresholds: str | None = None) -> Verdict:
    """The verdict engine on the two median reports, noise-aware: a time or memory delta
    in the fail band that lies within the measured noise is a warn that says so
    (``GateContext.within_noise``), never a pass."""
    from perfgate_lib.compare import compare_reports
    from perfgate_lib.report import parse_report

    context = result.compare_context()
    context.pop("comment", None)
    return compare_reports(
        parse_report(result.control_report, "control-report.json"),
        parse_report(result.treatment_report, "treatment-report.json"),
        gate=1,
        thresholds=thresholds,
        context=context,
    )
