"""Gate 0's settings (``parameters/gate0.yaml``, each setting explained there) and its
paired, adaptive loop: pairs are added until every stage is decided (:func:`stop_rule`);
its progress goes to ``progress.log`` and, on a terminal only, is shown (:func:`follow`).
Seconds. The pair record: ``docs/gate0.md`` (The run folder).
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from perfgate_lib.errors import UsageError, require_valid
from perfgate_lib.io.paramfile import PARAMETERS_DIR
from perfgate_lib.local import ferry_pipeline
from perfgate_lib.local import stats as abstats
from perfgate_lib.local.sideenv import ENV_MODES
from perfgate_lib.local.sides import SIDES, LocalRunError

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

    Counting instructions, pair 1's servers measure every pair (:func:`measure_at_once`);
    time metrics take turns, back to back, the first side alternating, and the time
    ``servers_for(n)`` takes counts in pair ``n``'s seconds.
    """
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
    """The side whose next answer is ready first (select on their pipes; the first of
    ``sides`` for servers without a pipe, or when none answers within the stage timeout,
    whose read then times out)."""
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
