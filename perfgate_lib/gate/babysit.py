"""Babysitting a treatment ferry until terminal, no more often than the gate's poll interval;
an early stop needs ``--yes-stop-early``, an overrun is stopped. Seconds; ISO-8601 UTC
timestamps. How it looks and measures queue wait: ``docs/running-a-gate.md``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from perfgate_lib.io import storage
from perfgate_lib.mdtext import fmt_duration, plain
from perfgate_lib.runners.base import JobState, Runner, RunnerError
from perfgate_lib.timeutil import iso, parse_time, utc_now

POLL_ENV = "PERFGATE_POLL_SECONDS"
MAX_POLL_SECONDS = 86_400.0  # a day: a longer interval than this is cut to it
PROGRESS_FILE = "progress.json"


@dataclass(frozen=True)
class BabysitPolicy:
    """How to watch one gate's ferry. Seconds."""

    interval_seconds: float
    wall_time_seconds: float
    overrun_factor: float = 3.0
    error_limit: int = 5
    stop_early_confirmed: bool = False

    @classmethod
    def for_gate(
        cls,
        poll_interval_minutes: float,
        wall_time_minutes: float,
        *,
        overrun_factor: float = 3.0,
        error_limit: int = 5,
        stop_early_confirmed: bool = False,
        interval_override: float | None = None,
    ) -> BabysitPolicy:
        """The gate's policy; ``interval_override`` or ``$PERFGATE_POLL_SECONDS`` wins (seconds;
        not a finite number: ignored). The interval is at most :data:`MAX_POLL_SECONDS`."""
        interval = poll_interval_minutes * 60
        env = os.environ.get(POLL_ENV, "").strip()
        if interval_override is not None and 0 < interval_override < math.inf:
            interval = interval_override
        elif env:
            with contextlib.suppress(ValueError):
                interval = _finite(float(env), interval)
        interval = min(max(0.0, interval), MAX_POLL_SECONDS)
        wall_time = wall_time_minutes * 60
        return cls(interval, wall_time, overrun_factor, error_limit, stop_early_confirmed)


def _finite(value: float, otherwise: float) -> float:
    """``value`` when it is a finite number (not nan or inf), else ``otherwise``."""
    return value if math.isfinite(value) else otherwise


def may_stop(run_seconds: float | None, policy: BabysitPolicy) -> bool:
    """True when stopping is allowed: confirmed, or the ferry ran past its wall time."""
    return policy.stop_early_confirmed or (run_seconds or 0.0) >= policy.wall_time_seconds


@dataclass
class Watch:
    """What has been seen of one job; persisted in the attempt record as ``job``."""

    job_id: str
    submitted_at: str  # our record of the submission (ISO)
    state: str = "unknown"
    raw_state: str = ""
    error: str = ""
    pending_reason: str = ""
    polls: int = 0
    errors_in_row: int = 0
    last_poll_at: str | None = None
    running_since: str | None = None  # first observation (or cluster start) past the queue
    finished_at: str | None = None
    queue_wait_seconds: float | None = None
    queue_wait_source: str | None = None  # "cluster" | "observed"
    terminal: bool = False
    stopped: bool = False
    stop_reason: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "history": self.history[-50:]}

    def run_seconds(self, now: dt.datetime) -> float | None:
        """Seconds since the job left the queue (None while still queued)."""
        start = parse_time(self.running_since)
        if start is None:
            return None
        end = parse_time(self.finished_at) if self.terminal else None
        return max(0.0, ((end or now) - start).total_seconds())

    def observe(self, job: JobState, now: dt.datetime) -> None:
        """Fold one poll result in."""
        self.polls += 1
        self.last_poll_at = iso(now)
        self.state, self.raw_state = job.state, job.raw_state
        self.error = job.error or self.error
        self.pending_reason = job.pending_reason
        if job.queue_seconds is not None:
            self.queue_wait_seconds, self.queue_wait_source = job.queue_seconds, "cluster"
            self.running_since = job.started_at
        elif not job.waiting and job.state != "unknown" and self.running_since is None:
            self.running_since = job.started_at or iso(now)
            start = parse_time(self.submitted_at)
            seen = parse_time(self.running_since)
            if start and seen:
                self.queue_wait_seconds = max(0.0, (seen - start).total_seconds())
                self.queue_wait_source = "cluster" if job.started_at else "observed"
        if job.terminal:
            self.terminal = True
            self.finished_at = job.finished_at or iso(now)
        self.history.append({"at": self.last_poll_at, "state": job.state})


def describe(watch: Watch, now: dt.datetime, gate: int | None = None) -> str:
    """One progress line: state, elapsed, queue wait apart from run time."""
    submitted = parse_time(watch.submitted_at)
    elapsed = max(0.0, (now - submitted).total_seconds()) if submitted else 0.0
    timing = f"queued {fmt_duration(elapsed)}"
    if watch.running_since is not None:
        wait = watch.queue_wait_seconds
        queue = fmt_duration(wait) if wait is not None else "?"
        timing = f"run {fmt_duration(watch.run_seconds(now))}, queue {queue}"
    head = f"gate {gate} · " if gate is not None else ""
    waiting = watch.pending_reason and watch.state in ("pending", "building")
    extra = f" · {watch.pending_reason}" if waiting else ""
    err = f" · error: {watch.error}" if watch.error and watch.terminal else ""
    line = f"{head}{watch.job_id} · {watch.state} · elapsed {fmt_duration(elapsed)} ({timing})"
    return plain(line + extra + err)  # job id, state and error come from the cluster


class ProgressPrinter(contextlib.AbstractContextManager["ProgressPrinter"]):
    """One printed line per look (the notebook's audit trail), the latest in ``progress.json``,
    and on a terminal a live line (state, elapsed time, next look) until the context ends."""

    def __init__(
        self,
        out_dir: str | None,
        gate: int | None = None,
        stream: TextIO | None = None,
        console: Console | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ):
        self.out_dir = out_dir
        self.gate = gate
        self.stream = stream or sys.stdout
        self.console = console or Console()
        self.clock = clock
        self.watch: Watch | None = None
        self.next_poll_at: dt.datetime | None = None
        self._live: Live | None = None

    @property
    def live_enabled(self) -> bool:
        return self.console.is_terminal

    def live_line(self, now: dt.datetime) -> str:
        """The live line at ``now``: ``describe`` plus the time to the next look."""
        if self.watch is None:
            return ""
        line = describe(self.watch, now, self.gate)
        if self.next_poll_at is not None and not self.watch.terminal:
            left = max(0.0, (self.next_poll_at - now).total_seconds())
            line += f" · next check in {fmt_duration(left)}"
        return line

    def __rich__(self) -> Text:
        return Text("⏳ " + self.live_line(self.clock()), style="bold")

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the live line (nothing when there is none)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, watch: Watch, now: dt.datetime, next_poll_at: dt.datetime | None) -> None:
        self.watch, self.next_poll_at = watch, next_poll_at
        line = describe(watch, now, self.gate)
        if next_poll_at is not None and not watch.terminal:
            line += f" · next check {next_poll_at.strftime('%H:%M:%S')} UTC"
        stamped = f"[{now.strftime('%H:%M:%S')}] {line}"
        if self.live_enabled:  # above the live line, on the same terminal
            self.console.print(stamped, markup=False, highlight=False)
        else:
            print(stamped, file=self.stream, flush=True)
        if watch.terminal:
            self.close()
        elif self.live_enabled and self._live is None:
            self._live = Live(self, console=self.console, refresh_per_second=1, transient=True)
            self._live.start()
        if self.out_dir:
            payload = {
                "gate": self.gate,
                "at": iso(now),
                "line": line,
                "next_poll_at": iso(next_poll_at),
                "watch": watch.to_json(),
            }
            path = storage.join(self.out_dir, PROGRESS_FILE)
            storage.write_text(path, json.dumps(payload) + "\n")


@dataclass
class BabysitResult:
    job: JobState
    watch: Watch


def look(
    runner: Runner, job_id: str, seconds: float | None, sleep: Callable[[float], None]
) -> JobState:
    """One look at the job: :meth:`Runner.poll` now (``seconds`` None), else
    :meth:`Runner.wait` for at most ``seconds`` (a runner without it: sleep, then poll)."""
    if seconds is None:
        return runner.poll(job_id)
    wait = getattr(runner, "wait", None)
    if wait is not None:
        return wait(job_id, max(0.0, seconds))
    if seconds > 0:
        sleep(seconds)
    return runner.poll(job_id)


def babysit(
    runner: Runner,
    watch: Watch,
    policy: BabysitPolicy,
    *,
    on_observation: Callable[[Watch], None] | None = None,
    progress: Callable[[Watch, dt.datetime, dt.datetime | None], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], dt.datetime] = utc_now,
) -> BabysitResult:
    """Wait on ``watch.job_id`` until terminal; ``on_observation`` persists each step,
    ``progress`` is told of each look (and closed at the end). RunnerError after
    ``policy.error_limit`` failed or empty looks in a row."""
    closing = progress if isinstance(progress, contextlib.AbstractContextManager) else None
    with closing or contextlib.nullcontext():
        while True:
            seconds = _seconds_to_next_look(watch, policy, clock)
            try:
                job = look(runner, watch.job_id, seconds, sleep)
                now = clock()
            except RunnerError as exc:
                watch.error = str(exc)
                if _failed_look(watch, clock(), policy, on_observation):
                    raise RunnerError(
                        f"gave up on job {watch.job_id} after {watch.errors_in_row} "
                        f"failed polls: {exc}"
                    ) from exc
                continue
            if not job.found:
                watch.polls += 1
                if _failed_look(watch, now, policy, on_observation):
                    raise RunnerError(
                        f"the cluster does not know job {watch.job_id} "
                        f"({watch.errors_in_row} polls in a row)"
                    )
                continue
            watch.errors_in_row = 0
            watch.observe(job, now)
            job = _stop_if_overrun(runner, watch, job, policy, now)
            nxt = None if watch.terminal else now + dt.timedelta(seconds=policy.interval_seconds)
            if on_observation:
                on_observation(watch)
            if progress:
                progress(watch, now, nxt)
            if watch.terminal:
                return BabysitResult(job, watch)


def _failed_look(
    watch: Watch,
    now: dt.datetime,
    policy: BabysitPolicy,
    on_observation: Callable[[Watch], None] | None,
) -> bool:
    """Record a failed or empty look; True once ``policy.error_limit`` came in a row."""
    watch.errors_in_row += 1
    watch.last_poll_at = iso(now)
    if on_observation:
        on_observation(watch)
    return watch.errors_in_row >= policy.error_limit


def _seconds_to_next_look(
    watch: Watch, policy: BabysitPolicy, clock: Callable[[], dt.datetime]
) -> float | None:
    """Seconds until the next look is due (negative when overdue, at most one interval when
    the last look is dated in the future: another host's clock); None when the job was
    never looked at, so the first look is a poll now."""
    last = parse_time(watch.last_poll_at)
    if last is None:
        return None
    due = (last - clock()).total_seconds() + policy.interval_seconds  # no date past 9999
    return min(due, policy.interval_seconds)


def _stop_if_overrun(
    runner: Runner, watch: Watch, job: JobState, policy: BabysitPolicy, now: dt.datetime
) -> JobState:
    """Stop a job running past ``policy.overrun_factor`` x the tier wall time (run time, not
    queue time) and return it killed; any other job as it is."""
    run = watch.run_seconds(now)
    overran = run is not None and run > policy.overrun_factor * policy.wall_time_seconds
    if job.terminal or not overran:
        return job
    watch.stop_reason = (
        f"still {job.state} after {fmt_duration(run)} of run time, past "
        f"{policy.overrun_factor:g}x the tier wall time ({fmt_duration(policy.wall_time_seconds)})"
    )
    runner.stop(watch.job_id)
    watch.stopped, watch.terminal = True, True
    watch.state, watch.finished_at = "killed", iso(now)
    watch.error = watch.stop_reason
    return JobState(watch.job_id, "killed", "stopped by perfgate", error=watch.stop_reason)
