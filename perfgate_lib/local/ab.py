"""Gate 0, the local A/B runner: the mini ferry on merge-base (control) and head
(treatment) worktrees, paired (:mod:`.pairs`); its result, outputs and frames. Times are
seconds, memory MB, instructions a count. The method: ``docs/gate0.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from perfgate_lib.errors import EXIT_PASS, PerfgateError, UsageError
from perfgate_lib.io.git import GitError, detached_worktree, git_out
from perfgate_lib.local import stats as abstats
from perfgate_lib.local import zephyr_api  # H1 (issue 28): what the mini ferry cannot see
from perfgate_lib.local.corpus import CorpusSpec, write_corpus
from perfgate_lib.local.miniferry import StageResult, build_report, local_provenance
from perfgate_lib.local.pairs import LOG_NAME as PROGRESS_LOG
from perfgate_lib.local.pairs import (
    SIDES,
    Gate0Settings,
    LocalRunError,
    ProgressLog,
    SideProcesses,
    SideServer,
    compile_natively,
    measure_pairs,
    paired_intervals,
    require_callgrind,
)
from perfgate_lib.local.sideenv import SideEnv, dependency_differences, prepare_side_env
from perfgate_lib.local.stats import MEMORY, TOTAL
from perfgate_lib.verdict.abfacts import ABFacts
from perfgate_lib.verdict.abfacts import SideFacts as ABSide
from perfgate_lib.verdict.paired import metric_words
from perfgate_lib.verdict.where import read_where

if TYPE_CHECKING:
    from matplotlib.typing import LineStyleType

    from perfgate_lib.verdict.rules import Verdict

ZEPHYR_SRC = Path("lib/zephyr/src")
ZEPHYR_DIR = "lib/zephyr/"


# --- git worktrees --------------------------------------------------------------------------------


def _revision(checkout: Path, arg: str, rev: str) -> str:
    """The commit SHA of ``rev``; UsageError (exit 2) naming ``arg`` when unknown."""
    if not rev or str(rev).startswith("-"):
        raise UsageError(f"{arg} {rev!r}: not a revision")
    try:
        return git_out(checkout, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except GitError as exc:
        raise UsageError(f"{arg} {rev}: unknown revision in {checkout}") from exc


def resolve_revisions(checkout: str | Path, base: str, head: str) -> tuple[str, str]:
    """(merge-base SHA, head SHA) of ``base`` and ``head`` in ``checkout``; UsageError
    naming ``--checkout``, ``--base`` or ``--head`` when one is wrong."""
    checkout = Path(checkout)
    if not (checkout / ".git").exists():
        raise UsageError(f"--checkout {checkout}: not a git checkout")
    head_sha = _revision(checkout, "--head", head)
    base_sha = _revision(checkout, "--base", base)
    try:
        return git_out(checkout, "merge-base", base_sha, head_sha), head_sha
    except GitError as exc:
        raise UsageError(f"--base {base} and --head {head} have no common ancestor") from exc


class NothingToMeasure(PerfgateError):
    """The diff changes no file under ``lib/zephyr/``: no verdict, exit 0 (a skip)."""

    exit_code = EXIT_PASS


def require_zephyr_change(checkout: str | Path, control_sha: str, head_sha: str) -> list[str]:
    """The changed paths under ``lib/zephyr/`` (renames: both names); NothingToMeasure when
    none; empty for an A/A (head is the merge-base: a calibration)."""
    if control_sha == head_sha:
        return []
    # -z: paths as they are (git quotes one with a tab, newline or quote otherwise)
    args = ("-c", "core.quotepath=off", "diff", "--name-only", "--no-renames", "-z")
    changed = [p for p in git_out(checkout, *args, control_sha, head_sha).split("\0") if p]
    zephyr = [p for p in changed if p.startswith(ZEPHYR_DIR)]
    if not zephyr:
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        raise NothingToMeasure(
            f"nothing to measure: the diff {control_sha[:12]}..{head_sha[:12]} changes no file "
            f"under {ZEPHYR_DIR} ({shown or 'no file at all'}); gate 0 measures Zephyr only, "
            "so it gives no verdict"
        )
    return zephyr


def source_digest(src: str | None) -> str | None:
    """SHA-256 (16 hex digits) of the paths and bytes of the files under ``src``, sorted,
    ``__pycache__`` left out; None for None."""
    if not src:
        return None
    sha = hashlib.sha256()
    root = Path(src)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts:
            continue
        sha.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def measurability_problems(
    sources: dict[str, str | None],
    digests: dict[str, str | None],
    imported: dict[str, str | None],
    zephyr_changes: list[str],
    dependency_changes: list[str],
) -> list[str]:
    """Why gate 0 could not measure this diff (pure; rules: ``docs/gate0.md``, When there
    is nothing to measure). ``imported``: side -> its ``zephyr.__file__``, sides that started."""
    problems = []
    for side, file in imported.items():
        src = sources.get(side)
        if not src:
            problems.append(
                f"{side} has no {ZEPHYR_SRC}/zephyr package and imported "
                f"{file or 'an installed marin-zephyr'}"
            )
        elif not file:
            problems.append(f"{side} did not report which Zephyr it imported")
        elif not Path(file).resolve().is_relative_to(Path(src).resolve()):
            problems.append(f"{side} imported Zephyr from {file}, not from its worktree's {src}")
    same = digests.get("control") == digests.get("treatment")
    if not problems and zephyr_changes and same and not dependency_changes:
        shown = ", ".join(zephyr_changes[:3]) + ("..." if len(zephyr_changes) > 3 else "")
        problems.append(
            f"both sides run identical Zephyr sources (digest {digests.get('control')}) and "
            f"dependencies, although the diff changes {shown}"
        )
    return problems


def zephyr_source(tree: str | Path) -> str | None:
    """``<tree>/lib/zephyr/src`` when it holds a zephyr package, else None (installed)."""
    src = Path(tree) / ZEPHYR_SRC
    return str(src.resolve()) if (src / "zephyr" / "__init__.py").is_file() else None


def _side_reports(
    pairs: list[dict[str, Any]], ab_id: str, side: str, info: dict[str, Any], errors: list[str]
) -> list[dict[str, Any]]:
    """One marin-shaped report per pair for one side; with no pair, one run that failed
    with the side's ``errors`` (if any)."""
    identity = info.get("identity")
    method = info.get("memory_method", "unknown")
    source = (identity or {}).get("zephyr_source")
    extra = {"memory_method": method, "zephyr_source": source, "identity": identity}
    runs = []
    for pair in pairs:
        error = (pair.get("failed") or {}).get(side)
        runs.append((pair["pair"], pair[side], f"ferry failed: {error}" if error else ""))
    if not runs:  # nothing measured: the side that did not start failed, the other did not
        mine = [e for e in errors if e.startswith(side)]
        runs = [(1, {}, ("ferry failed: " + "; ".join(mine))[:300] if mine else "")]
    return [
        build_report(
            f"{ab_id}/{side}-p{number}",
            {n: StageResult.from_measure(r) for n, r in stages.items()},
            status="failed" if error else "succeeded",
            error=error or None,
            failure_bucket="application_failure" if error else None,
            memory_method=method if pairs else "unknown",
            extra=extra,
        )
        for number, stages, error in runs
    ]


# --- The A/B --------------------------------------------------------------------------------------


@dataclass
class ABResult:
    """The outcome of gate 0; ``timings`` and ``seconds`` in seconds."""

    control_report: dict[str, Any]  # marin's schema, medians
    treatment_report: dict[str, Any]
    paired: pd.DataFrame  # abstats.PAIRED_COLUMNS: stages, then the total (wall_seconds_total)
    memory: dict[str, Any]  # the noise row of peak_worker_memory_mb (MB)
    control_sha: str
    treatment_sha: str
    settings: Gate0Settings
    out_dir: str
    pairs: list[dict[str, Any]] = field(default_factory=list)  # the raw pair records
    stop_reason: str = ""
    errors: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # the files written in out_dir
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    zephyr_sources: dict[str, str | None] = field(default_factory=dict)
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)
    dependency_changes: list[str] = field(default_factory=list)
    bands: tuple[float, float] = (5.0, 10.0)  # the stage band's pass and warn edges, %
    read_only: bool = False  # reloaded from an archived run: nothing is written

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def stage_context(self) -> dict[str, str]:
        """Stage -> the comment's interval cell (``instructions ×1.32 [1.27, 1.39], 8 pairs``)."""
        return {
            str(row["stage"]): abstats.interval_text(row)
            for row in self.paired.to_dict("records")
            if row["stage"] != TOTAL
        }

    @property
    def limitations(self) -> list[str]:
        """What the mini ferry cannot see (H1, issue 28): from each side's execution paths."""
        idents = [(info or {}).get("identity") or {} for info in self.sides.values()]
        return zephyr_api.limitations([i.get("execution_paths") or {} for i in idents])

    def facts(self) -> ABFacts:
        """What this A/B compared and how, and each side's environment as its process
        reported it, for the comment's notes (no markdown)."""
        sides = []
        for side in SIDES:
            info = self.sides.get(side) or {}
            ident, versions = info.get("identity") or {}, info.get("versions") or {}
            values = {
                "mode": info.get("mode"),
                **{key: ident.get(key) for key in ("python", "executable")},
                **{key: versions.get(f"marin-{key}") for key in ("zephyr", "fray", "iris")},
            }
            digest = str(info.get("env_digest") or "")
            sides.append(
                ABSide(side, digest=digest, **{k: str(v or "?") for k, v in values.items()})
            )
        total = self.paired[self.paired["stage"] == TOTAL].to_dict("records")
        undecided = abstats.undecided_stages(self.paired)
        return ABFacts(
            control_sha=self.control_sha,
            treatment_sha=self.treatment_sha,
            pairs=self.n_pairs,
            stop_reason=self.stop_reason,
            metric=self.settings.metric,
            confidence=self.settings.confidence,
            total_interval=abstats.interval_text(total[0]) if total else "",
            sides=sides,
            resolution_pct=abstats.resolution_pct(self.paired) if undecided else None,
            dependency_changes=list(self.dependency_changes),
            missing_sources=[side for side, src in self.zephyr_sources.items() if not src],
            limitations=self.limitations,
        )

    def measured(self) -> dict[str, Any]:
        """The decision metric's per-pair medians by row: ``verdict.measured.Measured`` JSON."""
        control, treatment, _ = abstats.MEDIAN_COLUMNS[self.settings.metric]
        rows = {}
        for row in self.paired.to_dict("records"):
            b, t = row.get(control), row.get(treatment)
            if pd.notna(b) and pd.notna(t):  # not None nor NaN (pandas' unmeasured cells)
                rows[str(row["stage"])] = {"baseline": float(b), "treatment": float(t)}
        return {"metric": self.settings.metric, "rows": rows}

    def compare_context(self) -> dict[str, Any]:
        """GateContext keys plus ``comment`` extras for ``compare.run_compare``."""
        s = self.settings
        context: dict[str, Any] = {
            "baseline": {
                "source": "local control run (merge-base worktree)",
                "sha": self.control_sha,
                "age_hours": 0.0,
            },
            "comment": {
                "title": "Gate 0 (local A/B, mini ferry)",
                "stage_context": self.stage_context(),
                "stage_context_title": f"Paired ratio, {100 * s.confidence:g}% CI",
                "ab": asdict(self.facts()),
            },
            "intervals": {
                name: interval.to_json()
                for name, interval in abstats.interval_context(self.paired, s.confidence).items()
            },
            "measured": self.measured(),
        }
        if self.memory.get("within_noise"):
            context["within_noise"] = {MEMORY: abstats.memory_note(self.memory)}
        return with_assessment(context, self.out_dir, {})  # issue 31: folded


def with_assessment(context: dict[str, Any], ab_dir: str, per_file: Mapping[str, Any]) -> dict:
    """``compare_context.json``'s content with the comment's "Where the instructions went"
    facts from ``profile/attribution.json`` (none without it) and, from assessment.json's
    ``per_file``, their agreement lines."""
    from perfgate_lib.local.evidence import load_attribution

    comment = dict(context.get("comment") or {})
    comment.pop("where", None)
    try:
        attribution = load_attribution(ab_dir) if ab_dir else None
    except (FileNotFoundError, ValueError):
        attribution = None
    if attribution:
        where = read_where(attribution, per_file, f"{ab_dir}: profile/attribution.json")
        comment["where"] = asdict(where)
    return {**context, "comment": comment}


@dataclass
class _LocalAB:
    """One gate-0 run's inputs and what its steps find (``timings`` in seconds)."""

    checkout: str | Path
    settings: Gate0Settings
    out: Path
    say: ProgressLog
    bands: tuple[float, float]  # the stage band's pass and warn edges, %
    control_sha: str
    head_sha: str
    zephyr_changes: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity, environment
    sources: dict[str, str | None] = field(default_factory=dict)  # lib/zephyr/src
    changes: list[str] = field(default_factory=list)  # dependency differences

    def measure(self, tmp: Path, spec: CorpusSpec) -> tuple[list[dict[str, Any]], str, list[str]]:
        """(pairs, why the loop stopped, errors); worktrees and processes under ``tmp``."""
        corpus_dir = tmp / "corpus"
        write_corpus(spec, corpus_dir, shards=self.settings.shards)
        with (
            detached_worktree(self.checkout, self.control_sha, tmp / "control") as control_tree,
            detached_worktree(self.checkout, self.head_sha, tmp / "treatment") as treatment_tree,
            contextlib.ExitStack() as stack,
        ):
            trees = {"control": control_tree, "treatment": treatment_tree}
            self.sources = {side: zephyr_source(tree) for side, tree in trees.items()}
            t = time.perf_counter()
            self.say("preparing each side's Python environment")
            envs = {
                side: prepare_side_env(trees[side], mode=self.settings.env, progress=self.say)
                for side in SIDES
            }
            self.timings["environments"] = round(time.perf_counter() - t, 2)
            self.changes = dependency_differences(envs["control"], envs["treatment"])
            for side in SIDES:
                self.say(f"{side}: {envs[side].description}")
            t = time.perf_counter()

            def start(side: str, generation: int | str) -> SideServer:
                """A side's server, under callgrind when counting instructions (not the
                native ``compile`` generation)."""
                counted = self.settings.counts_instructions and generation != "compile"
                dumps = tmp / f"callgrind-{side}-{generation}" / "callgrind.out"
                return SideServer(
                    side,
                    envs[side],
                    corpus_dir=corpus_dir,
                    work_dir=tmp / f"work-{side}-{generation}",
                    zephyr_src=self.sources[side],
                    log=self.out / "logs" / f"{side}-{generation}.log",
                    max_workers=self.settings.max_workers,
                    pycache=tmp / "pycache",
                    callgrind_out=dumps if counted else None,
                )

            if self.settings.counts_instructions:
                compile_natively(start, self.settings.stage_timeout_s)
            processes = SideProcesses(
                start, self.settings.pairs_per_process, self.settings.stage_timeout_s
            )
            stack.callback(processes.close)
            start_error = self._start_sides(processes, envs)
            self.timings["start_up"] = round(time.perf_counter() - t, 2)
            problems = measurability_problems(
                self.sources,
                {side: source_digest(self.sources[side]) for side in SIDES},
                {  # a treatment that did not start imported nothing
                    side: (self.sides[side].get("identity") or {}).get("zephyr_file")
                    for side in SIDES
                    if not (side == "treatment" and start_error)
                },
                self.zephyr_changes,
                self.changes,
            )
            if problems:
                raise LocalRunError("gate 0 cannot measure this diff: " + "; ".join(problems))
            t = time.perf_counter()
            measured = self._measure_pairs(processes, trees, start_error)
            self.timings["restarts"] = round(processes.restart_seconds, 2)
            self.timings["pairs"] = round(time.perf_counter() - t, 2)
        return measured

    def _start_sides(self, processes: SideProcesses, envs: dict[str, SideEnv]) -> str:
        """Start both sides, noting them in ``sides``; why the treatment did not start ("")."""
        self.say("starting both sides (imports and one unmeasured warm-up run)")
        servers = processes.launch()
        start_error = ""
        for side in SIDES:  # both warm up at once; nothing is timed yet
            try:
                servers[side].wait_ready(self.settings.stage_timeout_s)
            except LocalRunError as exc:
                if side == "control":
                    raise  # the base itself does not run: gate 0 cannot run
                start_error = str(exc)  # the PR breaks Zephyr: a failed treatment
            server, env = servers[side], envs[side]
            self.sides[side] = {
                "mode": env.mode,
                "description": env.description,
                "identity": server.identity,
                "versions": {**(server.identity.get("versions") or {}), **env.versions},
                "memory_method": server.memory_method,
                "env_digest": env.digest,
                "env_dir": env.env_dir,
                "build_seconds": env.build_seconds,
            }
            self.say(f"{side}: {self.sides[side]['identity'].get('zephyr_source', start_error)}")
        return start_error

    def _measure_pairs(
        self, processes: SideProcesses, trees: dict[str, Path], start_error: str
    ) -> tuple[list[dict[str, Any]], str, list[str]]:
        """The pairs (none if the treatment did not start), then the callgrind evidence and
        the function delta (:mod:`.evidence`)."""
        if start_error:
            return [], "the treatment did not start", [start_error]
        settings = self.settings
        self.say(
            f"measuring pairs: at least {settings.min_pairs}, at most "
            f"{settings.max_pairs}, while a stage is undecided"
        )
        pairs, stop, errors = measure_pairs(
            processes, settings, bands=self.bands, progress=self.say
        )
        if settings.counts_instructions:
            for server in processes.current.values():
                server.kill()  # it may still hold queued stage requests
            from perfgate_lib.local import evidence

            t_profile = time.perf_counter()  # issue 31: where the instructions went
            table = paired_intervals(pairs, self.settings, self.bands)
            kept = evidence.keep_for_run(
                pairs, table.to_dict("records"), self.out, checkout=self.checkout,
                control_sha=self.control_sha, head_sha=self.head_sha, trees=trees,
                mode=settings.profile, budget_mb=settings.profile_budget_mb,
            )  # fmt: skip
            if kept.get("stages"):
                self.say(
                    f"where the instructions went: {', '.join(kept['stages'])} (perfgate explain)"
                )
            if kept.get("error"):
                self.say(f"where the instructions went: not computed ({kept['error']})")
            self.timings["profile"] = round(time.perf_counter() - t_profile, 2)
        return pairs, stop, errors


def run_local_ab(
    checkout: str | Path,
    base: str,
    head: str,
    *,
    out_dir: str | Path,
    settings: Gate0Settings | None = None,
    seed: int = 0,
    thresholds: str | None = None,
    progress: Callable[[str], None] | None = print,
) -> ABResult:
    """Gate 0 into ``out_dir`` (``docs/gate0.md``, The run folder); ``progress`` also gets
    each progress message."""
    from perfgate_lib.verdict.thresholds import load_thresholds

    settings = settings or Gate0Settings.load()
    started = time.perf_counter()
    control_sha, head_sha = resolve_revisions(checkout, base, head)
    zephyr_changes = require_zephyr_change(checkout, control_sha, head_sha)
    band = load_thresholds(thresholds).bands["stage_wall_seconds"]
    bands = (band.pass_pct, band.warn_pct)
    out = Path(out_dir)
    say = ProgressLog(out / PROGRESS_LOG, progress)  # creates ``out``
    ab_id = f"ab-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{head_sha[:7]}"
    spec = CorpusSpec(docs=settings.docs, seed=seed, large_docs=settings.large_docs)
    if settings.counts_instructions:
        require_callgrind()
    run = _LocalAB(checkout, settings, out, say, bands, control_sha, head_sha, zephyr_changes)
    with tempfile.TemporaryDirectory(prefix="perfgate-local-ab-") as tmp_name:
        pairs, stop, errors = run.measure(Path(tmp_name), spec)
    say(f"stopped: {stop}")
    result = summarize_pairs(
        pairs,
        ab_id=ab_id,
        control_sha=control_sha,
        treatment_sha=head_sha,
        settings=settings,
        out_dir=str(out),
        sides=run.sides,
        zephyr_sources=run.sources,
        bands=bands,
        errors=errors,
    )
    result.stop_reason = stop
    result.dependency_changes = run.changes
    result.timings = run.timings
    result.seconds = round(time.perf_counter() - started, 2)
    if missing := [side for side, src in result.zephyr_sources.items() if not src]:
        both = ", so this A/B cannot see a Zephyr change" if len(missing) == 2 else ""
        who = " and ".join(missing)
        say(f"warning: {who} had no lib/zephyr/src: ran the installed marin-zephyr{both}")
    result.paths = write_outputs(result, spec)
    return result


def summarize_pairs(
    pairs: list[dict[str, Any]],
    *,
    ab_id: str,
    control_sha: str,
    treatment_sha: str,
    settings: Gate0Settings | None = None,
    out_dir: str = "",
    sides: dict[str, dict[str, Any]] | None = None,
    zephyr_sources: dict[str, str | None] | None = None,
    bands: tuple[float, float] = (5.0, 10.0),
    errors: list[str] | None = None,
) -> ABResult:
    """The A/B result of the pair records (pure); ``errors``: ``"<side> <stage>: <error>"``,
    or a side that did not start."""
    settings = settings or Gate0Settings()
    sides = dict(sides or {})
    errors = list(errors or [])
    reports = {
        side: abstats.median_report(
            _side_reports(pairs, ab_id, side, sides.get(side) or {}, errors),
            f"local/{ab_id}/{side}",
            local_provenance(),
        )
        for side in SIDES
    }
    return ABResult(
        control_report=reports["control"],
        treatment_report=reports["treatment"],
        paired=paired_intervals(pairs, settings, bands),
        memory=abstats.memory_noise(pairs),
        control_sha=control_sha,
        treatment_sha=treatment_sha,
        settings=settings,
        out_dir=out_dir,
        pairs=list(pairs),
        errors=errors,
        sides=sides,
        zephyr_sources=dict(zephyr_sources or {}),
        bands=(float(bands[0]), float(bands[1])),
    )


def write_outputs(result: ABResult, spec: CorpusSpec) -> dict[str, str]:
    """Write the run folder's files (``docs/gate0.md``, The run folder)."""
    out = Path(result.out_dir)
    paths = {
        "control_report": out / "control-report.json",
        "treatment_report": out / "treatment-report.json",
        "paired_csv": out / "paired.csv",
        "pairs_json": out / "pairs.json",
        "ab_json": out / "ab.json",
        "compare_context": out / "compare_context.json",
    }
    result.paired.to_csv(paths["paired_csv"], index=False)
    paths["pairs_json"].write_text(json.dumps(result.pairs, indent=1) + "\n")
    runs = out / "runs"
    runs.mkdir(exist_ok=True)
    for side, report in zip(SIDES, (result.control_report, result.treatment_report), strict=True):
        paths[f"{side}_report"].write_text(json.dumps(report, indent=2) + "\n")
        for i, run in enumerate((report.get("local_run") or {}).get("repeats") or [], 1):
            (runs / f"{side}-p{i}.json").write_text(json.dumps(run, indent=2) + "\n")
    summary = {
        "control_sha": result.control_sha,
        "treatment_sha": result.treatment_sha,
        "settings": asdict(result.settings),
        "pairs": result.n_pairs,
        "stop_reason": result.stop_reason,
        "errors": result.errors,
        "order": result.settings.order,
        "corpus": {"docs": spec.docs, "seed": spec.seed, "shards": result.settings.shards},
        "paired": json.loads(result.paired.to_json(orient="records")),
        "memory": result.memory,
        "seconds": result.seconds,
        "timings_seconds": result.timings,
        "sides": result.sides,
        "zephyr_sources": result.zephyr_sources,
        "dependency_changes": result.dependency_changes,
        "limitations": result.limitations,  # H1 (issue 28): what the mini ferry cannot see
        "bands_pct": {"pass": result.bands[0], "warn": result.bands[1]},
        "method": "per stage: Hodges-Lehmann ratio of paired "
        f"{metric_words(result.settings.metric)} with a {100 * result.settings.confidence:g}% "
        "signed-rank interval; bands applied to the interval",
    }
    paths["ab_json"].write_text(json.dumps(summary, indent=2) + "\n")
    from perfgate_lib.verdict.compare import strict_dumps  # here: it loads matplotlib

    paths["compare_context"].write_text(strict_dumps(result.compare_context()) + "\n")
    return {k: str(v) for k, v in paths.items()}


# --- Tables and a chart for the notebook ----------------------------------------------------------


def memory_frame(result: ABResult) -> pd.DataFrame:
    """Peak memory row (MB): signal, control/treatment_median_mb and the noise columns."""
    names = {"stage": "signal", "control_median": "control_median_mb",
             "treatment_median": "treatment_median_mb"}  # fmt: skip
    keys = ("stage", "control_median", "treatment_median", "delta_pct", "noise_pct",
            "within_noise", "runs_overlap")  # fmt: skip
    return pd.DataFrame([{names.get(key, key): result.memory[key] for key in keys}])


def pairs_frame(result: ABResult, metric: str | None = None) -> pd.DataFrame:
    """One row per pair and stage: pair, stage, first (side), the sides' ``metric`` values
    (default: the decision metric; ``control_cpu_s`` ...) and treatment / control."""
    metric = metric or result.settings.metric
    key = abstats.METRICS[metric]
    c_col, t_col, _ = abstats.MEDIAN_COLUMNS[metric]
    rows = []
    for pair in result.pairs:
        first = pair["first"]
        for stage, c in pair["control"].items():
            t = pair["treatment"].get(stage)
            if t is not None:
                ratio = round(t[key] / c[key], 4) if c.get(key) and t.get(key) else None
                rows.append((pair["pair"], stage, first.get(stage), c.get(key), t.get(key), ratio))
    return pd.DataFrame(rows, columns=["pair", "stage", "first", c_col, t_col, "ratio"])


# the pairs chart's interval colour for each stage call
CALL_COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "undecided": "#6a1b9a"}


def pairs_chart(result: ABResult) -> Any:
    """A matplotlib figure: each pair's ratio per stage, and the interval coloured by call."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    frame = pairs_frame(result)
    table = result.paired[result.paired["stage"] != TOTAL]
    stages = list(table["stage"])
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for x, stage in enumerate(stages):
        values = frame[frame["stage"] == stage]["ratio"].dropna()
        ax.scatter([x] * len(values), values, s=14, color="tab:gray", alpha=0.7)
        row = table[table["stage"] == stage].iloc[0]
        colour = CALL_COLOURS[str(row["call"])]
        high = float(row["high"]) if float(row["high"]) != float("inf") else max(values, default=1)
        ax.plot([x, x], [float(row["low"]), high], color=colour, linewidth=3)
        ax.scatter([x], [float(row["ratio"])], color=colour, s=30, zorder=3)
    pass_pct, warn_pct = result.bands  # the edges the calls were made with
    bands: tuple[tuple[float, LineStyleType, str], ...] = (
        (1.0, "-", "no change"),
        (1 + pass_pct / 100, ":", f"+{pass_pct:g}% (pass edge)"),
        (1 + warn_pct / 100, "--", f"+{warn_pct:g}% (fail edge)"),
    )
    for level, style, _ in bands:
        ax.axhline(level, color="black", linewidth=0.8, linestyle=style)
    calls = sorted(set(map(str, table["call"])), key=list(CALL_COLOURS).index)
    handles = [
        Line2D([], [], color="tab:gray", marker="o", linestyle="", label="one pair's ratio"),
        *(
            Line2D([], [], color=CALL_COLOURS[c], linewidth=3, label=f"interval: {c}")
            for c in calls
        ),
        *(
            Line2D([], [], color="black", linewidth=0.8, linestyle=st, label=lab)
            for _, st, lab in bands
        ),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xticks(range(len(stages)), stages)
    label = abstats.METRIC_LABELS.get(result.settings.metric, result.settings.metric)
    ax.set_ylabel(f"{label} ratio (treatment / control)")
    ax.set_title(
        f"Gate 0: paired {label} ratios ({result.n_pairs} pairs), "
        f"{100 * result.settings.confidence:g}% intervals"
    )
    fig.tight_layout()
    return fig


def show_pairs_chart(result: ABResult) -> str:
    """Display the pairs chart; saved as ``out_dir/pairs_chart.png`` (its path) unless the
    run was reloaded from its archive ("")."""
    import io

    buf = io.BytesIO()
    pairs_chart(result).savefig(buf, format="png", dpi=110)
    path = ""
    if not result.read_only:
        path = str(Path(result.out_dir) / "pairs_chart.png")
        Path(path).write_bytes(buf.getvalue())
    with contextlib.suppress(ImportError):  # outside notebooks
        from IPython.display import Image, display

        display(Image(data=buf.getvalue(), format="png"))
    return path


def verdict_frame(verdict: Verdict, result: ABResult) -> pd.DataFrame:
    """Stages (decision metric), the run's totals and peak memory, each with its interval.
    Columns: name, unit, baseline, treatment, delta_pct (%), verdict, interval, note."""
    from perfgate_lib.verdict.measured import Measured, metric_view

    measured = Measured.from_json(result.measured())
    unit = "instructions" if measured.unit.counts else "s"
    context = result.stage_context()
    for row in result.paired[result.paired["stage"] == TOTAL].to_dict("records"):
        context[measured.unit.total] = abstats.interval_text(row)
    rows = [
        (r.stage, unit, r.baseline_s, r.treatment_s, r.delta_pct, r.verdict, r.note)
        for r in metric_view(verdict, measured).stages
    ]
    units = {measured.unit.total: unit, TOTAL: "s", MEMORY: "MB"}
    rows += [
        (r.signal, units[r.signal], r.baseline, r.treatment, r.delta_pct, r.verdict, r.note)
        for r in verdict.signals
        if r.signal in units
    ]
    columns = ["name", "unit", "baseline", "treatment", "delta_pct", "verdict", "note"]
    frame = pd.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], columns=columns)
    frame.insert(6, "interval", [context.get(str(n), "") for n in frame["name"]])
    return frame


# --- Verdict --------------------------------------------------------------------------------------


def local_verdict(result: ABResult, thresholds: str | None = None) -> Verdict:
    """The verdict engine on the two median reports with the paired intervals."""
    from perfgate_lib.verdict.compare import compare_reports, split_context
    from perfgate_lib.verdict.measured import GATE0
    from perfgate_lib.verdict.report import parse_report

    context, extras, _ = split_context(result.compare_context())
    return compare_reports(
        parse_report(result.control_report, "control-report.json"),
        parse_report(result.treatment_report, "treatment-report.json"),
        gate=GATE0,
        thresholds=thresholds,
        context=context,
        measured=extras.measured,
    )
