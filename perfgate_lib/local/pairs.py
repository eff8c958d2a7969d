"""Gate 0's settings (``parameters/gate0.yaml``), its two sides (``ferry_pipeline.py serve``
processes, native or under callgrind) and its paired loop, adding pairs until every stage is
decided (:func:`stop_rule`), with ``progress.log``. Seconds. The protocol: ``docs/gate0.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pandas as pd
import pydantic
from rich.console import Console

from perfgate_lib.errors import PerfgateError, UsageError, require_valid
from perfgate_lib.io.childenv import child_env
from perfgate_lib.io.paramfile import PARAMETERS_DIR
from perfgate_lib.local import callgrind_client, ferry_pipeline
from perfgate_lib.local import stats as abstats
from perfgate_lib.local.sideenv import ENV_MODES, SideEnv
from perfgate_lib.typed import Number, Text, Whole, read_model

SETTINGS_FILE = PARAMETERS_DIR / "gate0.yaml"


@dataclass(frozen=True)
class Gate0Settings:
    """How gate 0 measures; the defaults are ``parameters/gate0.yaml``'s. Seconds for times;
    ``confidence`` two-sided, in (0, 1); ``large_docs`` of 400 KB each; ``env``: see
    :mod:`perfgate_lib.local.sideenv`."""

    docs: int = 40
    large_docs: int = 0
    shards: int = 4  # corpus files: each map stage's tasks (fuzzy_dups: three times as many)
    min_pairs: int = 6
    max_pairs: int = 12
    budget_s: float = 100.0
    confidence: float = 0.95
    metric: str = "instructions"
    max_workers: int = 2
    stage_timeout_s: float = 300.0
    env: str = "auto"
    pairs_per_process: int = 100
    profile: str = "flagged"  # stages whose callgrind dumps are kept: flagged | all
    profile_budget_mb: float = 8.0  # the kept dumps' size at most, gzip-compressed (MB)

    def __post_init__(self) -> None:
        require_valid(self, self._typed(), "gate 0 settings")  # before comparing values
        checks = {
            "docs": self.docs >= 10,
            "large_docs": 0 <= self.large_docs <= self.docs,
            "shards": 1 <= self.shards <= self.docs,
            "min_pairs": self.min_pairs >= 1,
            "max_pairs": self.max_pairs >= self.min_pairs,
            "budget_s": self.budget_s > 0,
            "confidence": 0 < self.confidence < 1,
            "metric": self.metric in abstats.METRICS,
            "max_workers": self.max_workers >= 1,
            "stage_timeout_s": self.stage_timeout_s > 0,
            "env": self.env in ENV_MODES,
            "pairs_per_process": self.pairs_per_process >= 1,
            "profile": self.profile in ("flagged", "all"),
            "profile_budget_mb": self.profile_budget_mb >= 0,
        }
        require_valid(self, checks, "gate 0 settings")

    def _typed(self) -> dict[str, bool]:
        """Field -> whether its value has the default's type (a count whole, seconds and MB
        a number, a name text; never a bool)."""
        checks = {}
        for name, spec in self.__dataclass_fields__.items():
            value = getattr(self, name)
            kinds = (int, float) if isinstance(spec.default, float) else (type(spec.default),)
            checks[name] = isinstance(value, kinds) and not isinstance(value, bool)
        return checks

    @property
    def counts_instructions(self) -> bool:
        """True when the sides run under callgrind (both at once: counts ignore load)."""
        return self.metric == "instructions"

    @property
    def order(self) -> str:
        """How a pair is run, in words (``ab.json``'s ``order``)."""
        if self.counts_instructions:
            return (
                "both sides at once, each running its queued stages back to back; "
                f"one process per side for up to {self.pairs_per_process} pair(s)"
            )
        return (
            "per pair, stage by stage back to back; the first side alternates; "
            f"fresh processes every {self.pairs_per_process} pair(s)"
        )

    @classmethod
    def load(cls, path: str | Path = SETTINGS_FILE, **overrides: Any) -> Gate0Settings:
        """Settings from ``parameters/gate0.yaml``, then ``overrides`` (None, 0 and "" mean
        not given); with a time metric (``cpu``, ``wall``) the file's ``time_metric``
        section replaces its values first (a larger corpus, fresh processes)."""
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


# instrumentation and collection start off; the side counts shard work (callgrind_client)
CALLGRIND = ("valgrind", *callgrind_client.VALGRIND_ARGS, "-q")
FERRY_SCRIPT = Path(ferry_pipeline.__file__).resolve()
SIDES = ("control", "treatment")


MAX_ANSWER_BYTES = 16_000_000  # one line of the side's protocol (real ones: a few KB)
MAX_FIGURE = 1e15  # a stage's seconds or MB at most (30 million years; an exabyte)
# A side's seconds or MB: finite, 0 to MAX_FIGURE (NaN or infinity, which JSON lines from
# Python can carry, and sums past float's range, stopped the medians with a traceback).
_Figure = Annotated[Number, pydantic.Field(ge=0, le=MAX_FIGURE, allow_inf_nan=False)]
_Count = Annotated[Whole, pydantic.Field(ge=0, le=callgrind_client.MAX_COUNT)]  # instructions
_Path = Annotated[Text, pydantic.StringConstraints(pattern=r"^[^\x00]*$")]  # no NUL: resolvable


class _Row(TypedDict, total=False):
    """One stage's row as a side reports it (seconds, MB, counts; ``docs/gate0.md``)."""

    wall_s: _Figure
    cpu_s: _Figure
    peak_mb: _Figure
    tasks: Whole
    records_out: Whole
    callgrind_dump: _Path
    # the driver adds these from the dump; a row that carries them is read as it says
    instructions: _Count
    instructions_allocator: _Count


class _Identity(TypedDict, total=False):
    """What a side says it runs (``ferry_pipeline.zephyr_identity``, the fields the driver
    reads; others pass as written)."""

    zephyr_source: _Path | None
    zephyr_file: _Path
    versions: dict[str, Text | None]
    python: Text
    executable: Text
    execution_paths: dict[str, Text | None]


class _Ready(TypedDict, total=False):
    ready: bool
    identity: _Identity
    memory_method: Text
    error: Text


class _StageAnswer(TypedDict, total=False):
    status: Text
    stages: dict[str, _Row]
    error: Text
    failure_bucket: Text


class LocalRunError(PerfgateError):
    """A side's ferry process did not start, timed out or crashed (git failures: GitError); exit 4."""


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
        cmd = [*launch.python, str(FERRY_SCRIPT), "serve", "--corpus", str(corpus_dir),
               "--work-dir", str(work_dir), "--max-workers", str(max_workers)]  # fmt: skip
        if zephyr_src:
            cmd += ["--zephyr-src", zephyr_src]
        if callgrind_out is not None:
            # imports and warm-up run uninstrumented; the server turns instrumentation on
            # before its first stage and dumps the counters around every stage (.<n>)
            callgrind_out.parent.mkdir(parents=True, exist_ok=True)
            out_file = f"--callgrind-out-file={callgrind_out}"
            cmd = [*CALLGRIND, out_file, *cmd, "--callgrind-out", str(callgrind_out)]
        # launch.env sets PYTHONPATH to the worktree's own sources only (not the kit's)
        env = child_env({**launch.env, "PYTHONHASHSEED": "0"})  # runs the PR's code
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
        self.pid = self.proc.pid  # pairs.json records which process measured a pair
        self._pending = bytearray()  # read from the pipe, not yet taken as answers
        self.identity: dict[str, Any] = {}
        self.memory_method = ""

    def _error(self, problem: str) -> LocalRunError:
        """``<side>: <problem> (<its log>)``."""
        return LocalRunError(f"{self.side}: {problem} ({self.log})")

    def _tail(self) -> str:
        self._log.flush()
        lines = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        return " | ".join(lines) or "no output"

    def has_answer(self) -> bool:
        """A whole answer line already read from the pipe and not yet taken."""
        return b"\n" in self._pending

    def _next_line(self, timeout_s: float) -> bytes | None:
        """The next answer line: read from the pipe in chunks (never past what select saw,
        so an answer that came with the one before is not hidden in a buffer); b"" once the
        process closed its end; None when nothing whole came within ``timeout_s``."""
        assert self.proc.stdout is not None
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + timeout_s
        while b"\n" not in self._pending and len(self._pending) <= MAX_ANSWER_BYTES:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            self._pending += chunk
        end = self._pending.find(b"\n")
        end = len(self._pending) if end < 0 else end + 1
        line = bytes(self._pending[:end])
        del self._pending[:end]
        return line

    def _read(self, timeout_s: float, what: str) -> dict[str, Any]:
        line = self._next_line(timeout_s)
        if line is None:
            self.close()
            raise self._error(f"{what} timed out after {timeout_s:g} s")
        if not line:
            self.proc.wait(timeout=10)
            raise LocalRunError(
                f"{self.side}: the ferry process exited ({self.proc.returncode}) during "
                f"{what} ({self.log}): {self._tail()}"
            )
        # the side runs the PR's code, which can write anything to this pipe
        if len(line) > MAX_ANSWER_BYTES:
            self.kill()
            raise self._error(f"{what}: an answer longer than {MAX_ANSWER_BYTES:,} bytes")
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
            answer = None
        if not isinstance(answer, dict):
            self.kill()
            raise self._error(f"{what}: the answer is not a JSON object: {line[:120]!r}")
        return answer

    def _checked(self, model: type, answer: dict[str, Any], what: str) -> dict[str, Any]:
        """``answer`` unchanged once its fields have the protocol's types (the PR's code
        answers); LocalRunError naming the field otherwise."""

        def fail(field: str | None, problem: str) -> LocalRunError:
            self.kill()
            return self._error(f"{what}: answer field {field}: {problem}")

        read_model(model, answer, fail)
        return answer

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Block until the server warmed up; its identity."""
        answer = self._checked(_Ready, self._read(timeout_s, "start-up and warm-up"), "start-up")
        if not answer.get("ready"):
            raise self._error(f"the mini ferry could not start: {answer.get('error')}")
        self.identity = dict(answer.get("identity") or {})
        self.memory_method = str(answer.get("memory_method") or "")
        return self.identity

    def send_stage(self, stage: str) -> None:
        """Ask the server to run one stage (its answer: :meth:`stage_answer`)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps({"cmd": "stage", "stage": stage}) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise self._error("the ferry process is gone") from exc

    def stage_answer(self, stage: str, timeout_s: float) -> dict[str, Any]:
        """The server's answer to :meth:`send_stage`, instruction counts read from the dumps."""
        answer = self._checked(_StageAnswer, self._read(timeout_s, f"stage {stage}"), stage)
        for row in (answer.get("stages") or {}).values():
            try:
                ferry_pipeline.add_instructions(row)
            except (OSError, RuntimeError) as exc:
                raise LocalRunError(f"{self.side}: stage {stage}'s callgrind dump: {exc}") from exc
        return answer

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
                self.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                pipe and pipe.close()
        self._log.close()


@dataclass
class SideProcesses:
    """Both sides' ferry processes, replaced by fresh ones every ``per_process`` pairs; a
    generation's two start (``start(side, generation)``) and warm up at once, untimed."""

    start: Callable[[str, int], SideServer]
    per_process: int
    timeout_s: float
    current: dict[str, SideServer] = field(default_factory=dict)
    generation: int = -1
    restart_seconds: float = 0.0

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


def compile_natively(start: Callable[[str, int | str], SideServer], timeout_s: float) -> None:
    """Start and stop one native process per side at once (generation ``compile``): they
    fill the shared bytecode cache, sparing callgrind about 9 s each. A failure here is
    left to recur, and be reported, when the side starts for real."""
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


def paired_intervals(
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


def first_side(pair: int, stage_index: int) -> str:
    """Control goes first in pair 1's first stage, then the order alternates."""
    return SIDES[(pair + stage_index + 1) % 2]


# pair number -> the ready side servers (``run_stage(stage, timeout_s)``) to measure it
ServersFor = Callable[[int], Mapping[str, Any]]


def measure_pairs(
    servers_for: ServersFor,
    settings: Gate0Settings,
    *,
    stages: tuple[str, ...] = ferry_pipeline.STAGES,
    bands: tuple[float, float] = (5.0, 10.0),
    progress: Callable[[str], None] = lambda _m: None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """(pairs, why the loop stopped, errors); a failed stage ends the loop after its pair.
    Instructions: :func:`measure_at_once`; time metrics take turns (``docs/gate0.md``), and
    the time ``servers_for(n)`` takes counts in pair ``n``'s seconds."""
    if settings.counts_instructions:
        return measure_at_once(servers_for(1), settings, stages, bands, progress, clock)
    pairs: list[dict[str, Any]] = []
    errors: list[str] = []
    started = clock()
    stop = ""
    for number in range(1, settings.max_pairs + 1):
        t0 = clock()
        try:
            servers = servers_for(number)
        except LocalRunError as exc:
            errors.append(str(exc))
            stop = f"a side did not start for pair {number}"
            break
        pair = _new_pair(number, servers, {})
        for index, stage in enumerate(stages):
            first = first_side(number, index)
            pair["first"][stage] = first
            for side in (first, SIDES[1 - SIDES.index(first)]):
                answer = servers[side].run_stage(stage, settings.stage_timeout_s)
                _record(pair, side, stage, answer, errors)
            if errors:
                break
        pairs.append(pair)
        elapsed, pair_s = clock() - started, clock() - t0
        if errors:
            stop = f"a stage failed in pair {number}"
            break
        # the budget is judged on when one more pair of this length would end
        open_, stop = stop_rule(pairs, settings, bands, elapsed + pair_s)
        progress(pair_message(number, settings.max_pairs, pair_s, open_, settings.metric))
        if stop:
            break
        if elapsed + pair_s > settings.budget_s:
            progress(f"over the {settings.budget_s:g} s budget, continuing to min_pairs")
    return pairs, stop, errors


def pair_message(
    number: int, max_pairs: int, seconds: float, undecided: list[str], metric: str = "instructions"
) -> str:
    """``pair 3 of at most 12 done in 4.1 s; undecided: fuzzy_dups, instructions_total``
    (seconds; the run's total named after its ``metric``)."""
    from perfgate_lib.verdict.measured import UNITS

    names = [UNITS[metric].total if name == abstats.TOTAL else name for name in undecided]
    state = f"undecided: {', '.join(names)}" if names else "every stage decided"
    return f"pair {number} of at most {max_pairs} done in {seconds:.1f} s; {state}"


def stop_rule(
    pairs: list[dict[str, Any]], settings: Gate0Settings, bands: tuple[float, float], elapsed: float
) -> tuple[list[str], str]:
    """(undecided stages, why to stop or "") after ``pairs``: every stage decided or the
    budget spent (``elapsed`` seconds), from ``min_pairs`` on, or ``max_pairs`` reached."""
    n = len(pairs)
    open_ = abstats.undecided_stages(paired_intervals(pairs, settings, bands))
    if n >= settings.min_pairs and not open_:
        return open_, f"every stage decided after {n} pairs"
    if n >= settings.min_pairs and elapsed > settings.budget_s:
        return open_, f"time budget ({settings.budget_s:g} s) spent after {n} pairs"
    if n >= settings.max_pairs:
        return open_, f"max_pairs ({settings.max_pairs}) reached"
    return open_, ""


def measure_at_once(
    servers: Mapping[str, Any],
    settings: Gate0Settings,
    stages: tuple[str, ...],
    bands: tuple[float, float],
    progress: Callable[[str], None],
    clock: Callable[[], float],
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Instruction counts: every pair's stage requests queued up front on both sides at
    once (why: ``docs/gate0.md``); pair ``n`` judged once both answered its stages. The
    caller stops the servers (they may still hold queued requests)."""
    started = last = clock()
    plan = [stage for _ in range(settings.max_pairs) for stage in stages]
    for side in SIDES:
        for stage in plan:
            servers[side].send_stage(stage)
    pairs = [
        _new_pair(n + 1, servers, dict.fromkeys(stages, "both at once"))
        for n in range(settings.max_pairs)
    ]
    answered = dict.fromkeys(SIDES, 0)
    judged, stop = 0, ""
    errors: list[str] = []
    while not stop:
        side = _next_answering(servers, [s for s in SIDES if answered[s] < len(plan)], settings)
        number, index = divmod(answered[side], len(stages))
        answer = servers[side].stage_answer(plan[answered[side]], settings.stage_timeout_s)
        answered[side] += 1
        if _record(pairs[number], side, stages[index], answer, errors):
            return pairs[: number + 1], f"a stage failed in pair {number + 1}", errors
        while not stop and judged < min(answered.values()) // len(stages):
            judged += 1
            now = clock()
            open_, stop = stop_rule(pairs[:judged], settings, bands, now - started)
            progress(pair_message(judged, settings.max_pairs, now - last, open_, settings.metric))
            last = now
    return pairs[:judged], stop, errors


def _new_pair(number: int, servers: Mapping[str, Any], first: dict[str, str]) -> dict[str, Any]:
    """An empty pair record (its measuring processes' ids in ``pids``)."""
    pids = {side: getattr(servers[side], "pid", None) for side in SIDES}
    return {"pair": number, "control": {}, "treatment": {}, "first": first, "pids": pids}


def _record(
    pair: dict[str, Any], side: str, stage: str, answer: dict[str, Any], errors: list[str]
) -> str:
    """Add ``answer``'s stages to ``pair``; a failed stage's error ("" if none) is noted."""
    pair[side].update(answer.get("stages") or {})
    if answer.get("status") == "succeeded":
        return ""
    error = f"{side} {stage}: {answer.get('error') or 'failed'}"
    pair.setdefault("failed", {})[side] = error
    errors.append(error)
    return error


def _next_answering(servers: Mapping[str, Any], sides: list[str], settings: Gate0Settings) -> str:
    """The side whose next answer is ready first (one already read, else select on their
    pipes; the first of ``sides`` for servers without a pipe, or when none answers within
    the stage timeout, whose read then times out)."""
    waiting = [s for s in sides if getattr(servers[s], "has_answer", lambda: False)()]
    if waiting:
        return waiting[0]
    pipes: dict[Any, str] = {
        getattr(getattr(servers[s], "proc", None), "stdout", None): s for s in sides
    }
    if None in pipes:
        return sides[0]
    ready, _, _ = select.select(list(pipes), [], [], settings.stage_timeout_s)
    return pipes[ready[0]] if ready else sides[0]


# --- progress.log ------------------------------------------------------------------------------

LOG_NAME = "progress.log"
POLL_S = 0.5


class ProgressLog:
    """A progress callback appending ``<elapsed seconds>\t<message>`` to ``path``, then
    calling ``also`` (e.g. ``print`` in a notebook)."""

    def __init__(self, path: str | Path, also: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self.also = also
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        line = " ".join(str(message).split())  # one line per message
        with self.path.open("a") as log:
            log.write(f"{time.monotonic() - self.started:.1f}\t{line}\n")
        if self.also is not None:
            self.also(message)


def last_message(path: str | Path) -> str:
    """The newest message in a progress log ("" when there is none yet)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return ""
    return next((line.split("\t", 1)[-1] for line in reversed(lines) if line.strip()), "")


@contextlib.contextmanager
def follow(
    path: str | Path, what: str, *, console: Console | None = None
) -> Iterator[Callable[[], str]]:
    """While the block runs, show ``what``, the log's newest message and the elapsed time on
    a terminal ``console`` (default: stdout), then the final line; yields the log reader."""
    console = console or Console()
    newest = lambda: last_message(path)  # noqa: E731 - the yielded reader
    if not console.is_terminal:
        yield newest
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(what)
        done = threading.Event()

        def refresh() -> None:
            while not done.wait(POLL_S):
                bar.update(task, description=_line(what, newest()))

        thread = threading.Thread(target=refresh, name="perfgate-progress", daemon=True)
        thread.start()
        try:
            yield newest
        finally:
            done.set()
            thread.join()
            bar.update(task, description=_line(what, newest()))


def _line(what: str, message: str) -> str:
    from rich.markup import escape

    return escape(f"{what}: {message}" if message else what)
