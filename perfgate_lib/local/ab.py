"""Gate 0, the local A/B runner: the mini ferry on control and treatment code, paired.

Control is a worktree at ``merge-base(base, head)``, treatment a worktree at ``head``,
both created with ``git worktree add --detach`` in a temporary folder and always removed.
Each side runs in a process, ``ferry_pipeline.py serve``, that imports Zephyr
from its worktree's ``lib/zephyr/src`` (or the installed package when the checkout has
none), warms up once unmeasured, and then runs single stages on request over one shared
generated corpus (PYTHONHASHSEED fixed, ``gc.collect()`` before every stage).

Measurement (documented choice, see the README's gate-0 section for the figures). The
decision metric is each stage's instruction count: both sides run under valgrind callgrind
(imports uninstrumented, counters zeroed and dumped around each stage's execute; see
:class:`perfgate_lib.local.ferry_pipeline.Callgrind`). A count does not depend on load, so
both sides run at once, each with all its stage requests queued up front, so that neither
ever waits for the other (a stage after an idle spell counts more, most likely the
polling of Zephyr's backed-off idle workers). One process per side measures every pair. With ``metric: cpu``
(or ``wall``) the earlier timed A/B runs instead: one *pair* runs every stage on both
sides back to back, stage by stage, the side that goes first alternating, and every
``pairs_per_process`` pairs (1) both processes are replaced by fresh ones, since a process
has a speed of its own. Each stage is judged on the per-pair ratio treatment / control with
a Hodges-Lehmann estimate and a signed-rank confidence interval
(:mod:`perfgate_lib.local.paired`, :mod:`perfgate_lib.local.stats`); the threshold bands
apply to the interval. Pairs are added while some stage is undecided, from ``min_pairs``
up to ``max_pairs`` or until the time budget runs out; what is still undecided then is
reported as undecided, never as a pass. Peak memory keeps its own noise rule (medians,
spread and overlap of per-pair peaks).

Times are seconds, memory MB.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from perfgate_lib.errors import PerfgateError, UsageError
from perfgate_lib.io.git import detached_worktree, git_out
from perfgate_lib.io.paramfile import PARAMETERS_DIR
from perfgate_lib.local import ferry_pipeline
from perfgate_lib.local import stats as abstats
from perfgate_lib.local.corpus import CorpusSpec, write_corpus
from perfgate_lib.local.miniferry import StageResult, build_report, local_provenance
from perfgate_lib.local.sideenv import ENV_MODES, SideEnv, dependency_differences, prepare_side_env
from perfgate_lib.local.stats import MEMORY, TOTAL

if TYPE_CHECKING:
    from perfgate_lib.verdict.rules import Verdict

ZEPHYR_SRC = Path("lib/zephyr/src")
CALLGRIND = ("valgrind", "--tool=callgrind", "--instr-atstart=no", "-q")
FERRY_SCRIPT = Path(ferry_pipeline.__file__).resolve()
SIDES = ("control", "treatment")
SETTINGS_FILE = PARAMETERS_DIR / "gate0.yaml"


class LocalRunError(PerfgateError):
    """A side's ferry process did not start, timed out or crashed (git failures: GitError); exit 4."""


@dataclass(frozen=True)
class Gate0Settings:
    """How gate 0 measures. Seconds for times; ``confidence`` two-sided, in (0, 1).

    ``metric``: ``instructions`` (callgrind counts, the decision metric kept, see the
    README), ``cpu`` or ``wall``. ``large_docs``: the corpus's large documents (400 KB
    each). ``env``: each side's environment, ``auto`` | ``uv`` | ``kit``
    (:mod:`perfgate_lib.local.sideenv`). The defaults are ``parameters/gate0.yaml``'s.
    """

    docs: int = 40
    large_docs: int = 0
    min_pairs: int = 6
    max_pairs: int = 12
    budget_s: float = 100.0
    confidence: float = 0.95
    metric: str = "instructions"
    max_workers: int = 2
    stage_timeout_s: float = 300.0
    env: str = "auto"
    pairs_per_process: int = 100

    def __post_init__(self) -> None:
        checks = {
            "docs": self.docs >= 10,
            "large_docs": 0 <= self.large_docs <= self.docs,
            "min_pairs": self.min_pairs >= 1,
            "max_pairs": self.max_pairs >= self.min_pairs,
            "budget_s": self.budget_s > 0,
            "confidence": 0 < self.confidence < 1,
            "metric": self.metric in abstats.METRICS,
            "max_workers": self.max_workers >= 1,
            "stage_timeout_s": self.stage_timeout_s > 0,
            "env": self.env in ENV_MODES,
            "pairs_per_process": self.pairs_per_process >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise UsageError(f"gate 0 settings: invalid {name}={getattr(self, name)!r}")

    @property
    def counts_instructions(self) -> bool:
        """True when the sides run under callgrind (both at once: counts ignore load)."""
        return self.metric == "instructions"

    @classmethod
    def load(cls, path: str | Path = SETTINGS_FILE, **overrides: Any) -> Gate0Settings:
        """Settings from ``parameters/gate0.yaml``, then the given ``overrides``: None, 0
        and "" mean "not given" (the notebook's parameters default to them). When the
        metric is a time (``cpu``, ``wall``), the file's ``time_metric`` section replaces
        its values first: a timed A/B needs a larger corpus and fresh processes."""
        from perfgate_lib.io.paramfile import load_yaml, mapping

        source = str(path)
        doc = mapping(load_yaml(source), source) if Path(path).is_file() else {}
        known = set(cls.__dataclass_fields__)
        timed = mapping(doc.get("time_metric") or {}, f"{source}: time_metric")
        for where, keys in (
            (source, set(doc) - {"schema", "time_metric"}),
            (f"{source}: time_metric", set(timed)),
        ):
            unknown = sorted(keys - known)
            if unknown:
                raise UsageError(f"{where}: unknown setting '{unknown[0]}'; known: {sorted(known)}")
        values = {k: v for k, v in doc.items() if k in known}
        given = {k: v for k, v in overrides.items() if v not in (None, 0, "")}
        if given.get("metric", values.get("metric", cls.metric)) != "instructions":
            values.update(timed)
        values.update(given)
        if "max_pairs" in given:
            # asking for fewer pairs than min_pairs lowers the minimum with it
            values["min_pairs"] = min(values.get("min_pairs", cls.min_pairs), values["max_pairs"])
        return cls(**values)


# ---------------------------------------------------------------------------
# git worktrees
# ---------------------------------------------------------------------------


def resolve_revisions(checkout: str | Path, base: str, head: str) -> tuple[str, str]:
    """(merge-base SHA, head SHA) of ``base`` and ``head`` in ``checkout``."""
    checkout = Path(checkout)
    if not (checkout / ".git").exists():
        raise UsageError(f"--checkout {checkout}: not a git checkout")
    head_sha = git_out(checkout, "rev-parse", "--verify", f"{head}^{{commit}}")
    base_sha = git_out(checkout, "rev-parse", "--verify", f"{base}^{{commit}}")
    return git_out(checkout, "merge-base", base_sha, head_sha), head_sha


def zephyr_source(tree: str | Path) -> str | None:
    """``<tree>/lib/zephyr/src`` when it holds a zephyr package, else None (installed)."""
    src = Path(tree) / ZEPHYR_SRC
    return str(src.resolve()) if (src / "zephyr" / "__init__.py").is_file() else None


# ---------------------------------------------------------------------------
# One side: a ferry_pipeline.py serve process
# ---------------------------------------------------------------------------


class SideServer:
    """One side's ``ferry_pipeline.py serve`` process; JSON lines over its pipes."""

    def __init__(
        self,
        side: str,
        launch: SideEnv,
        *,
        corpus_dir: Path,
        work_dir: Path,
        zephyr_src: str | None,
        log: Path,
        max_workers: int,
        pycache: Path | None = None,
        callgrind_out: Path | None = None,
    ) -> None:
        self.side = side
        self.log = log
        cmd = [
            *launch.python,
            str(FERRY_SCRIPT),
            "serve",
            "--corpus",
            str(corpus_dir),
            "--work-dir",
            str(work_dir),
            "--max-workers",
            str(max_workers),
        ]
        if zephyr_src:
            cmd += ["--zephyr-src", zephyr_src]
        if callgrind_out is not None:
            # imports run uninstrumented; the server turns instrumentation on once Zephyr is
            # imported and dumps the counters around every stage (callgrind_out.<n>)
            callgrind_out.parent.mkdir(parents=True, exist_ok=True)
            cmd = [
                *CALLGRIND,
                f"--callgrind-out-file={callgrind_out}",
                *cmd,
                "--callgrind-out",
                str(callgrind_out),
            ]
        # launch.env sets PYTHONPATH to the worktree's own sources only (not the kit's)
        env = {**os.environ, **launch.env, "PYTHONHASHSEED": "0"}
        if pycache is not None:
            # bytecode of the worktree's and the environment's modules, compiled by the
            # first process and read by every later one (restarts start in ~1 s instead of
            # recompiling Zephyr each time); nothing is written into a worktree or an env
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(pycache)
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("w")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                cwd=launch.cwd or str(work_dir.parent),
                env=env,
            )
        except OSError as exc:
            self._log.close()
            raise LocalRunError(f"{side}: could not start {cmd[0]}: {exc}") from exc
        self.identity: dict[str, Any] = {}
        self.memory_method = ""

    @property
    def pid(self) -> int:
        """The server process's id (pairs.json records which process measured a pair)."""
        return self.proc.pid

    def _tail(self) -> str:
        self._log.flush()
        lines = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        return " | ".join(lines) or "no output"

    def _read(self, timeout_s: float, what: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            self.close()
            raise LocalRunError(f"{self.side}: {what} timed out after {timeout_s:g} s ({self.log})")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise LocalRunError(
                f"{self.side}: the ferry process exited ({self.proc.returncode}) during "
                f"{what} ({self.log}): {self._tail()}"
            )
        return json.loads(line)

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Block until the server warmed up; its identity (versions, interpreter)."""
        answer = self._read(timeout_s, "start-up and warm-up")
        if not answer.get("ready"):
            raise LocalRunError(
                f"{self.side}: the mini ferry could not start: {answer.get('error')} ({self.log})"
            )
        self.identity = dict(answer.get("identity") or {})
        self.memory_method = str(answer.get("memory_method") or "")
        return self.identity

    def send_stage(self, stage: str) -> None:
        """Ask the server to run one stage (read its answer with :meth:`stage_answer`)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps({"cmd": "stage", "stage": stage}) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise LocalRunError(f"{self.side}: the ferry process is gone ({self.log})") from exc

    def stage_answer(self, stage: str, timeout_s: float) -> dict[str, Any]:
        """The server's answer to :meth:`send_stage` (status, stages, error)."""
        return self._read(timeout_s, f"stage {stage}")

    def run_stage(self, stage: str, timeout_s: float) -> dict[str, Any]:
        """Run one stage; the server's answer (status, stages, error)."""
        self.send_stage(stage)
        return self.stage_answer(stage, timeout_s)

    def kill(self) -> None:
        """Stop the server now (queued stage requests are dropped)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Ask the server to exit; kill it if it does not within 10 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"cmd": "exit"}\n')
                self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                pipe and pipe.close()
        self._log.close()


# ---------------------------------------------------------------------------
# The paired, adaptive loop
# ---------------------------------------------------------------------------


def _paired(
    pairs: list[dict[str, Any]], settings: Gate0Settings, bands: tuple[float, float]
) -> pd.DataFrame:
    """The interval table of ``pairs`` under the stage band (pass %, warn %)."""
    return abstats.paired_table(
        pairs,
        pass_pct=bands[0],
        warn_pct=bands[1],
        confidence=settings.confidence,
        metric=settings.metric,
    )


def _first_side(pair: int, stage_index: int) -> str:
    """Control goes first in pair 1's first stage, then the order alternates."""
    return SIDES[(pair + stage_index + 1) % 2]


ServersFor = Callable[[int], Mapping[str, Any]]
"""Pair number -> the ready side servers (``run_stage(stage, timeout_s)``) to measure it."""


def measure_pairs(
    servers_for: ServersFor,
    settings: Gate0Settings,
    *,
    stages: tuple[str, ...] = ferry_pipeline.STAGES,
    bands: tuple[float, float] = (5.0, 10.0),
    progress: Callable[[str], None] = lambda _m: None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Add pairs until every stage is decided, ``max_pairs`` or the budget; returns
    (pairs, why the loop stopped, errors). A failed stage ends the loop after its pair.

    ``servers_for(n)`` gives the servers of pair ``n`` (fresh processes, or the same ones
    again); the time it takes counts in the pair's seconds and so in the budget. With
    instruction counts the servers of pair 1 measure every pair, both sides at once
    (:func:`_measure_at_once`); the caller stops them after (they may hold queued
    requests). Time metrics take turns, back to back, the first side alternating.
    """
    if settings.counts_instructions:
        return _measure_at_once(servers_for(1), settings, stages, bands, progress, clock)
    pairs: list[dict[str, Any]] = []
    errors: list[str] = []
    started = clock()
    stop = f"max_pairs ({settings.max_pairs}) reached"
    for number in range(1, settings.max_pairs + 1):
        pair: dict[str, Any] = {"pair": number, "control": {}, "treatment": {}, "first": {}}
        t0 = clock()
        try:
            servers = servers_for(number)
        except LocalRunError as exc:
            errors.append(str(exc))
            stop = f"a side did not start for pair {number}"
            break
        pair["pids"] = {side: getattr(servers[side], "pid", None) for side in SIDES}
        for index, stage in enumerate(stages):
            first = _first_side(number, index)
            pair["first"][stage] = first
            for side in (first, SIDES[1 - SIDES.index(first)]):
                answer = servers[side].run_stage(stage, settings.stage_timeout_s)
                pair[side].update(answer.get("stages") or {})
                if answer.get("status") != "succeeded":
                    error = f"{side} {stage}: {answer.get('error') or 'failed'}"
                    pair.setdefault("failed", {})[side] = error
                    errors.append(error)
            if errors:
                break
        pairs.append(pair)
        elapsed, pair_s = clock() - started, clock() - t0
        if errors:
            stop = f"a stage failed in pair {number}"
            break
        open_ = abstats.undecided_stages(_paired(pairs, settings, bands))
        progress(
            f"pair {number}: {pair_s:.1f} s; "
            + (f"undecided: {', '.join(open_)}" if open_ else "all decided")
        )
        if number >= settings.min_pairs and not open_:
            stop = f"every stage decided after {number} pairs"
            break
        if elapsed + pair_s > settings.budget_s and number >= settings.min_pairs:
            stop = f"time budget ({settings.budget_s:g} s) spent after {number} pairs"
            break
        if elapsed + pair_s > settings.budget_s and number < settings.min_pairs:
            progress(f"over the {settings.budget_s:g} s budget, continuing to min_pairs")
    return pairs, stop, errors


def _stop_rule(
    pairs: list[dict[str, Any]], settings: Gate0Settings, bands: tuple[float, float], elapsed: float
) -> tuple[list[str], str]:
    """(undecided stages, why to stop or "") after ``pairs``; ``elapsed`` seconds so far."""
    n = len(pairs)
    open_ = abstats.undecided_stages(_paired(pairs, settings, bands))
    if n >= settings.min_pairs and not open_:
        return open_, f"every stage decided after {n} pairs"
    if n >= settings.min_pairs and elapsed > settings.budget_s:
        return open_, f"time budget ({settings.budget_s:g} s) spent after {n} pairs"
    if n >= settings.max_pairs:
        return open_, f"max_pairs ({settings.max_pairs}) reached"
    return open_, ""


def _measure_at_once(
    servers: Mapping[str, Any],
    settings: Gate0Settings,
    stages: tuple[str, ...],
    bands: tuple[float, float],
    progress: Callable[[str], None],
    clock: Callable[[], float],
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Instruction counts: both sides run every pair's stages at the same time, each side
    back to back with no wait (see :func:`measure_pairs`).

    A count does not depend on load, so the sides need not take turns; and they must not
    wait for each other: a stage that follows an idle spell counts more (measured: +15-23%
    instructions after 30-40 s idle, most likely the polling of Zephyr's idle workers,
    which back off up to 2 s apart), and the stage after a slow one would carry the other
    side's slowness. Every side gets ``max_pairs`` pairs of stage requests
    queued at once; pair ``n`` is complete when both sides answered its stages, and the
    stop rule (:func:`_stop_rule`) is applied then. The caller stops the servers (they
    may still hold queued requests). ``servers``: side -> ``send_stage(stage)``,
    ``stage_answer(stage, timeout_s)`` and, for select, ``proc.stdout``.
    """
    started = last = clock()
    plan = [stage for _ in range(settings.max_pairs) for stage in stages]
    for side in SIDES:
        for stage in plan:
            servers[side].send_stage(stage)
    pids = {side: getattr(servers[side], "pid", None) for side in SIDES}
    pairs = [
        {
            "pair": n + 1,
            "control": {},
            "treatment": {},
            "first": dict.fromkeys(stages, "both at once"),
            "pids": pids,
        }
        for n in range(settings.max_pairs)
    ]
    answered = dict.fromkeys(SIDES, 0)
    judged, stop, errors = 0, "", []
    while not stop:
        side = _next_answering(servers, [s for s in SIDES if answered[s] < len(plan)], settings)
        number, index = divmod(answered[side], len(stages))
        answer = servers[side].stage_answer(plan[answered[side]], settings.stage_timeout_s)
        answered[side] += 1
        pairs[number][side].update(answer.get("stages") or {})
        if answer.get("status") != "succeeded":
            error = f"{side} {stages[index]}: {answer.get('error') or 'failed'}"
            pairs[number]["failed"] = {side: error}
            errors.append(error)
            return pairs[: number + 1], f"a stage failed in pair {number + 1}", errors
        while not stop and judged < min(answered.values()) // len(stages):
            judged += 1
            now = clock()
            open_, stop = _stop_rule(pairs[:judged], settings, bands, now - started)
            progress(
                f"pair {judged}: {now - last:.1f} s; "
                + (f"undecided: {', '.join(open_)}" if open_ else "all decided")
            )
            last = now
    return pairs[:judged], stop, errors


def _next_answering(servers: Mapping[str, Any], sides: list[str], settings: Gate0Settings) -> str:
    """The side whose next answer is ready first (select on their pipes; the first of
    ``sides`` for servers without a pipe, or when none answers within the stage timeout,
    whose read then times out)."""
    pipes = {getattr(getattr(servers[s], "proc", None), "stdout", None): s for s in sides}
    if None in pipes:
        return sides[0]
    ready, _, _ = select.select(list(pipes), [], [], settings.stage_timeout_s)
    return pipes[ready[0]] if ready else sides[0]


class SideProcesses:
    """Both sides' ferry processes, replaced by fresh ones every ``per_process`` pairs.

    ``start(side, generation)`` launches one side's server (not yet ready); both sides of
    a generation start at once and warm up side by side, untimed by the stages. The
    processes of generation 0 are the ones whose identity the result reports.
    """

    def __init__(
        self,
        start: Callable[[str, int], SideServer],
        per_process: int,
        timeout_s: float,
    ) -> None:
        self.start, self.per_process, self.timeout_s = start, per_process, timeout_s
        self.current: dict[str, SideServer] = {}
        self.generation = -1
        self.restart_seconds = 0.0

    def launch(self) -> dict[str, SideServer]:
        """Start a new generation of both sides (closing the old one); not yet ready."""
        self.close()
        self.generation += 1
        self.current = {side: self.start(side, self.generation) for side in SIDES}
        return self.current

    def ready(self) -> dict[str, SideServer]:
        """Wait for the current generation to warm up; raises LocalRunError."""
        for side in SIDES:
            self.current[side].wait_ready(self.timeout_s)
        return self.current

    def __call__(self, number: int) -> dict[str, SideServer]:
        """The servers of pair ``number`` (1-based): generation ``(number - 1) // per``."""
        if (number - 1) // self.per_process > self.generation:
            t = time.perf_counter()
            self.launch()
            self.ready()
            self.restart_seconds += time.perf_counter() - t
        return self.current

    def close(self) -> None:
        for server in self.current.values():
            server.close()
        self.current = {}


def _run_reports(pairs: list[dict[str, Any]], ab_id: str, side: str, extra: dict[str, Any]):
    """One marin-shaped report per pair for one side (stages of that pair)."""
    reports = []
    for pair in pairs:
        stages = {n: StageResult.from_measure(r) for n, r in pair[side].items()}
        error = (pair.get("failed") or {}).get(side)
        reports.append(
            build_report(
                f"{ab_id}/{side}-p{pair['pair']}",
                stages,
                status="failed" if error else "succeeded",
                error=f"ferry failed: {error}" if error else None,
                failure_bucket="application_failure" if error else None,
                memory_method=extra.get("memory_method", "unknown"),
                extra=extra,
            )
        )
    return reports


# ---------------------------------------------------------------------------
# The A/B
# ---------------------------------------------------------------------------


@dataclass
class ABResult:
    """The outcome of gate 0. Reports are dicts in marin's schema (medians per side).

    ``paired``: DataFrame with :data:`abstats.PAIRED_COLUMNS` (stages, then
    wall_seconds_total); ``memory``: the noise row of peak_worker_memory_mb (MB).
    ``pairs``: the raw pair records; ``paths`` name the files written in ``out_dir``.
    ``timings``: seconds spent in start-up (both sides, warm-up included) and in pairs.
    """

    control_report: dict[str, Any]
    treatment_report: dict[str, Any]
    paired: pd.DataFrame
    memory: dict[str, Any]
    control_sha: str
    treatment_sha: str
    settings: Gate0Settings
    out_dir: str
    pairs: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    errors: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    zephyr_sources: dict[str, str | None] = field(default_factory=dict)
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)
    dependency_changes: list[str] = field(default_factory=list)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def source_warning(self) -> str | None:
        """Set when a side ran the installed marin-zephyr instead of its worktree's code."""
        missing = [side for side, src in self.zephyr_sources.items() if not src]
        if not missing:
            return None
        return f"{' and '.join(missing)} had no lib/zephyr/src: ran the installed marin-zephyr" + (
            ", so this A/B cannot see a Zephyr change" if len(missing) == 2 else ""
        )

    def stage_context(self) -> dict[str, str]:
        """Stage -> the comment's interval cell (``CPU ×1.32 [1.27, 1.39], 8 pairs · wall ×1.9``)."""
        return {
            str(row["stage"]): abstats.interval_text(row)
            for row in self.paired.to_dict("records")
            if row["stage"] != TOTAL
        }

    def side_lines(self) -> list[str]:
        """One line per side: environment mode, interpreter, Zephyr / fray / iris versions."""
        lines = []
        for side in SIDES:
            info = self.sides.get(side) or {}
            ident = info.get("identity") or {}
            versions = info.get("versions") or {}
            digest = info.get("env_digest")
            lines.append(
                f"{side}: {info.get('mode', '?')} environment"
                + (f" {str(digest)[:12]}" if digest else "")
                + f", Python {ident.get('python', '?')} (`{ident.get('executable', '?')}`); "
                f"zephyr {versions.get('marin-zephyr') or '?'}, fray {versions.get('marin-fray') or '?'}, iris {versions.get('marin-iris') or '?'}"
            )
        return lines

    def _method_note(self) -> str:
        """The comment's sentence on how each stage was measured and judged."""
        s = self.settings
        interval = f"{100 * s.confidence:g}% Hodges-Lehmann / signed-rank interval"
        tail = "An interval that straddles a band edge is undecided, never a pass."
        if s.counts_instructions:
            return (
                "Each stage is judged on its paired instruction-count ratio (treatment / "
                "control; valgrind callgrind counts every instruction of the side's process "
                "during the stage, both sides at the same time, since a count does not "
                f"depend on the machine's load) with a {interval}: Δ and the verdict come "
                "from that interval. Baseline and Treatment are median wall times under "
                f"valgrind (about 15-25× native), for orientation only. {tail}"
            )
        return (
            f"Each stage is judged on its paired {s.metric.upper()}-time ratio "
            "(treatment / control, measured back to back, order alternating) with a "
            f"{interval}: Δ and the verdict come from that interval, Baseline and "
            f"Treatment are median wall times. {tail}"
        )

    def compare_context(self) -> dict[str, Any]:
        """GateContext keys (``intervals``, memory's ``within_noise``) plus ``comment``
        extras for ``compare.run_compare``."""
        s = self.settings
        total = self.paired[self.paired["stage"] == TOTAL].to_dict("records")
        total_note = ""
        if total:
            total_note = f"; whole pipeline {abstats.interval_text(total[0])}"
        notes = [
            f"Local A/B on this machine: control = merge-base `{self.control_sha[:12]}`, "
            f"treatment = head `{self.treatment_sha[:12]}`, {self.n_pairs} pairs "
            f"({self.stop_reason}){total_note}.",
            self._method_note(),
            *[f"{line}." for line in self.side_lines()],
        ]
        resolution = abstats.resolution_pct(self.paired)
        if resolution is not None and abstats.undecided_stages(self.paired):
            notes.append(
                f"Resolution: after {self.n_pairs} pairs a stage's interval reaches about "
                f"±{resolution:.0f}% around its estimate (median over stages), so on this "
                "machine a smaller change stays undecided: more pairs (`--budget`, "
                "`--max-pairs`) or gate 1 decide it."
            )
        if self.dependency_changes:
            notes.append(
                "Dependencies differ between the sides: " + ", ".join(self.dependency_changes) + "."
            )
        if self.source_warning:
            notes.append(f"⚠ {self.source_warning}.")
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
                "top_notes": notes,
            },
            "intervals": abstats.interval_context(self.paired, s.confidence),
        }
        if self.memory.get("within_noise"):
            context["within_noise"] = {MEMORY: abstats.memory_note(self.memory)}
        return context


def _side_info(server: SideServer, env: SideEnv) -> dict[str, Any]:
    """What ab.json and the comment say of one side: its environment and identity."""
    return {
        "mode": env.mode,
        "description": env.description,
        "identity": server.identity,
        "versions": {**(server.identity.get("versions") or {}), **env.versions},
        "memory_method": server.memory_method,
        "env_digest": env.digest,
        "env_dir": env.env_dir,
        "build_seconds": env.build_seconds,
    }


def _compile_natively(start: Callable[[str, int | str], SideServer], timeout_s: float) -> None:
    """Start and stop one native process per side (generation ``compile``), at once.

    They fill the shared bytecode cache (PYTHONPYCACHEPREFIX) in a few seconds, so the
    callgrind processes do not compile every module under valgrind (about 9 s each). A
    side that fails here is left to fail again, and be reported, when it starts for real.
    """
    servers = [start(side, "compile") for side in SIDES]
    for server in servers:
        with contextlib.suppress(LocalRunError):
            server.wait_ready(timeout_s)
    for server in servers:
        server.close()


def require_callgrind() -> None:
    """Raise LocalRunError (exit 4) unless valgrind can count instructions here."""
    if platform.machine() not in ("x86_64", "AMD64"):
        raise LocalRunError(
            f"gate 0's metric 'instructions' needs an x86-64 machine (this is "
            f"{platform.machine()}): run with --metric cpu"
        )
    if not shutil.which(CALLGRIND[0]):
        raise LocalRunError(
            "gate 0's metric 'instructions' needs valgrind on PATH (Debian/Ubuntu: apt-get "
            "install valgrind), or run with --metric cpu"
        )


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
    """Gate 0: paired, adaptive A/B of merge-base (control) and head (treatment).

    Writes into ``out_dir``: ``control-report.json`` and ``treatment-report.json``
    (medians, marin's schema), ``paired.csv`` (the interval table), ``pairs.json`` (every
    measurement), ``ab.json`` (settings, SHAs, order, stop reason, timings, sides),
    ``compare_context.json``, ``runs/<side>-p<i>.json`` and ``logs/<side>-<g>.log`` (one
    per process generation ``g``, from 0).
    """
    from perfgate_lib.verdict.thresholds import load_thresholds

    settings = settings or Gate0Settings.load()
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    control_sha, head_sha = resolve_revisions(checkout, base, head)
    band = load_thresholds(thresholds).bands["stage_wall_seconds"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ab_id = f"ab-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{head_sha[:7]}"
    spec = CorpusSpec(docs=settings.docs, seed=seed, large_docs=settings.large_docs)
    if settings.counts_instructions:
        require_callgrind()
    timings: dict[str, float] = {}
    sides: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="perfgate-local-ab-") as tmp_name:
        tmp = Path(tmp_name)
        corpus_dir = tmp / "corpus"
        write_corpus(spec, corpus_dir)
        with (
            detached_worktree(checkout, control_sha, tmp / "control") as control_tree,
            detached_worktree(checkout, head_sha, tmp / "treatment") as treatment_tree,
            contextlib.ExitStack() as stack,
        ):
            trees = {"control": control_tree, "treatment": treatment_tree}
            sources = {side: zephyr_source(tree) for side, tree in trees.items()}
            t = time.perf_counter()
            envs = {
                side: prepare_side_env(trees[side], mode=settings.env, progress=say)
                for side in SIDES
            }
            timings["environments"] = round(time.perf_counter() - t, 2)
            changes = dependency_differences(envs["control"], envs["treatment"])
            for side in SIDES:
                say(f"{side}: {envs[side].description}")
            t = time.perf_counter()

            def start(side: str, generation: int | str) -> SideServer:
                counted = settings.counts_instructions and generation != "compile"
                return SideServer(
                    side,
                    envs[side],
                    corpus_dir=corpus_dir,
                    work_dir=tmp / f"work-{side}-{generation}",
                    zephyr_src=sources[side],
                    log=out / "logs" / f"{side}-{generation}.log",
                    max_workers=settings.max_workers,
                    pycache=tmp / "pycache",
                    callgrind_out=(
                        tmp / f"callgrind-{side}-{generation}" / "callgrind.out"
                        if counted
                        else None
                    ),
                )

            if settings.counts_instructions:
                _compile_natively(start, settings.stage_timeout_s)
            processes = SideProcesses(start, settings.pairs_per_process, settings.stage_timeout_s)
            stack.callback(processes.close)
            servers = processes.launch()
            start_error = ""
            for side in SIDES:  # both warm up at once; nothing is timed yet
                try:
                    servers[side].wait_ready(settings.stage_timeout_s)
                except LocalRunError as exc:
                    if side == "control":
                        raise  # the base itself does not run: gate 0 cannot run
                    start_error = str(exc)  # the PR breaks Zephyr: a failed treatment
                sides[side] = _side_info(servers[side], envs[side])
                say(f"{side}: {sides[side]['identity'].get('zephyr_source', start_error)}")
            timings["start_up"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            if start_error:
                pairs, stop, errors = [], "the treatment did not start", [start_error]
            else:
                pairs, stop, errors = measure_pairs(
                    processes, settings, bands=(band.pass_pct, band.warn_pct), progress=say
                )
                if settings.counts_instructions:
                    for server in processes.current.values():
                        server.kill()  # it may still hold queued stage requests
            timings["restarts"] = round(processes.restart_seconds, 2)
            timings["pairs"] = round(time.perf_counter() - t, 2)
    say(f"stopped: {stop}")
    result = summarize_pairs(
        pairs,
        ab_id=ab_id,
        control_sha=control_sha,
        treatment_sha=head_sha,
        settings=settings,
        out_dir=str(out),
        sides=sides,
        zephyr_sources=sources,
        bands=(band.pass_pct, band.warn_pct),
        errors=errors,
    )
    result.stop_reason = stop
    result.dependency_changes = changes
    result.timings = timings
    result.seconds = round(time.perf_counter() - started, 2)
    if result.source_warning:
        say(f"warning: {result.source_warning}")
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
    """The A/B result of the pair records (pure): intervals, median reports, memory.

    ``errors``: what failed (``"<side> <stage>: <error>"``, or a side that did not start);
    a side with no measured stage gets one failed run carrying them.
    """
    settings = settings or Gate0Settings()
    sides = dict(sides or {})
    errors = list(errors or [])
    reports = {}
    for side in SIDES:
        info = sides.get(side) or {}
        extra = {
            "memory_method": info.get("memory_method", "unknown"),
            "zephyr_source": (info.get("identity") or {}).get("zephyr_source"),
            "identity": info.get("identity"),
        }
        runs = _run_reports(pairs, ab_id, side, extra)
        if not runs:  # nothing measured: the side that did not start failed, the other did not
            mine = [e for e in errors if e.startswith(side)]
            runs = [
                build_report(
                    f"{ab_id}/{side}-p1",
                    {},
                    status="failed" if mine else "succeeded",
                    error=("ferry failed: " + "; ".join(mine))[:300] if mine else None,
                    failure_bucket="application_failure" if mine else None,
                    extra=extra,
                )
            ]
        reports[side] = abstats.median_report(runs, f"local/{ab_id}/{side}", local_provenance())
    return ABResult(
        control_report=reports["control"],
        treatment_report=reports["treatment"],
        paired=_paired(pairs, settings, bands),
        memory=abstats.memory_noise(pairs),
        control_sha=control_sha,
        treatment_sha=treatment_sha,
        settings=settings,
        out_dir=out_dir,
        pairs=list(pairs),
        errors=errors,
        sides=sides,
        zephyr_sources=dict(zephyr_sources or {}),
    )


def write_outputs(result: ABResult, spec: CorpusSpec) -> dict[str, str]:
    """Write the median reports, the interval table, the pairs and ``ab.json``."""
    out = Path(result.out_dir)
    paths = {
        "control_report": out / "control-report.json",
        "treatment_report": out / "treatment-report.json",
        "paired_csv": out / "paired.csv",
        "pairs_json": out / "pairs.json",
        "ab_json": out / "ab.json",
        "compare_context": out / "compare_context.json",
    }
    paths["control_report"].write_text(json.dumps(result.control_report, indent=2) + "\n")
    paths["treatment_report"].write_text(json.dumps(result.treatment_report, indent=2) + "\n")
    result.paired.to_csv(paths["paired_csv"], index=False)
    paths["pairs_json"].write_text(json.dumps(result.pairs, indent=1) + "\n")
    runs = out / "runs"
    runs.mkdir(exist_ok=True)
    for side in SIDES:
        report = result.control_report if side == "control" else result.treatment_report
        for i, run in enumerate((report.get("local_run") or {}).get("repeats") or [], 1):
            (runs / f"{side}-p{i}.json").write_text(json.dumps(run, indent=2) + "\n")
    summary = {
        "control_sha": result.control_sha,
        "treatment_sha": result.treatment_sha,
        "settings": asdict(result.settings),
        "pairs": result.n_pairs,
        "stop_reason": result.stop_reason,
        "errors": result.errors,
        "order": "per pair, stage by stage back to back; the first side alternates; "
        f"fresh processes every {result.settings.pairs_per_process} pair(s)",
        "corpus": {"docs": spec.docs, "seed": spec.seed},
        "paired": json.loads(result.paired.to_json(orient="records")),
        "memory": result.memory,
        "seconds": result.seconds,
        "timings_seconds": result.timings,
        "sides": result.sides,
        "zephyr_sources": result.zephyr_sources,
        "dependency_changes": result.dependency_changes,
        "method": "per stage: Hodges-Lehmann ratio of paired "
        f"{result.settings.metric} time with a {100 * result.settings.confidence:g}% "
        "signed-rank interval; bands applied to the interval",
    }
    paths["ab_json"].write_text(json.dumps(summary, indent=2) + "\n")
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


def pairs_frame(result: ABResult, metric: str | None = None) -> pd.DataFrame:
    """One row per pair and stage: pair, stage, first (side), control_s, treatment_s,
    ratio (treatment / control) of ``metric`` (default: the decision metric), seconds."""
    key = abstats.METRICS[metric or result.settings.metric]
    rows = []
    for pair in result.pairs:
        for stage, c in pair["control"].items():
            t = pair["treatment"].get(stage)
            if t is None:
                continue
            rows.append(
                {
                    "pair": pair["pair"],
                    "stage": stage,
                    "first": pair["first"].get(stage),
                    "control_s": c[key],
                    "treatment_s": t[key],
                    "ratio": round(t[key] / c[key], 4) if c[key] else None,
                }
            )
    return pd.DataFrame(
        rows, columns=["pair", "stage", "first", "control_s", "treatment_s", "ratio"]
    )


def pairs_chart(result: ABResult) -> Any:
    """A matplotlib figure: each pair's ratio per stage, with the interval as a bar."""
    from matplotlib.figure import Figure

    frame = pairs_frame(result)
    table = result.paired[result.paired["stage"] != TOTAL]
    stages = list(table["stage"])
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    for x, stage in enumerate(stages):
        values = frame[frame["stage"] == stage]["ratio"].dropna()
        ax.scatter([x] * len(values), values, s=14, color="tab:gray", alpha=0.7)
        row = table[table["stage"] == stage].iloc[0]
        high = float(row["high"]) if float(row["high"]) != float("inf") else max(values, default=1)
        ax.plot([x, x], [float(row["low"]), high], color="tab:red", linewidth=3)
        ax.scatter([x], [float(row["ratio"])], color="tab:red", s=30, zorder=3)
    for level, style in ((1.0, "-"), (1.05, ":"), (1.10, "--")):
        ax.axhline(level, color="black", linewidth=0.8, linestyle=style)
    ax.set_xticks(range(len(stages)), stages)
    label = abstats.METRIC_LABELS.get(result.settings.metric, result.settings.metric)
    ax.set_ylabel(f"{label} ratio (treatment / control)")
    ax.set_title(f"Paired ratios ({result.n_pairs} pairs) and their interval")
    fig.tight_layout()
    return fig


def show_pairs_chart(result: ABResult) -> str:
    """Save the pairs chart as ``pairs_chart.png`` in ``out_dir``, display it in a
    notebook, and return the path."""
    path = Path(result.out_dir) / "pairs_chart.png"
    pairs_chart(result).savefig(path, dpi=110)
    try:
        from IPython.display import Image, display

        display(Image(filename=str(path)))
    except ImportError:  # pragma: no cover - outside notebooks
        pass
    return str(path)


def verdict_frame(verdict: Verdict, result: ABResult) -> pd.DataFrame:
    """Stages then whole-run time/memory rows of a verdict, with the interval beside each.

    Columns: name, baseline, treatment, delta_pct, verdict, interval, note.
    """
    context = result.stage_context()
    rows = [
        (r.stage, r.baseline_s, r.treatment_s, r.delta_pct, r.verdict, r.note)
        for r in verdict.stages
    ]
    rows += [
        (r.signal, r.baseline, r.treatment, r.delta_pct, r.verdict, r.note)
        for r in verdict.signals
        if r.signal in (TOTAL, MEMORY)
    ]
    return pd.DataFrame(
        [
            {
                "name": name,
                "baseline": b,
                "treatment": t,
                "delta_pct": delta,
                "verdict": verdict_,
                "interval": context.get(name, ""),
                "note": note,
            }
            for name, b, t, delta, verdict_, note in rows
        ]
    )


# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------


def local_verdict(result: ABResult, thresholds: str | None = None) -> Verdict:
    """The verdict engine on the two median reports with the paired intervals
    (``GateContext.intervals``) and memory's noise note."""
    from perfgate_lib.verdict.compare import compare_reports
    from perfgate_lib.verdict.report import parse_report

    context = result.compare_context()
    context.pop("comment", None)
    return compare_reports(
        parse_report(result.control_report, "control-report.json"),
        parse_report(result.treatment_report, "treatment-report.json"),
        gate=1,
        thresholds=thresholds,
        context=context,
    )
