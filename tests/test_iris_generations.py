"""The kit talks to each Iris generation the way the checkout under test does (issue 28,
problems 3 and 6), on the fake marin world: its ``iris`` CLI speaks the generation the
scenario's ``iris_cli`` names (0.2.20: JSON ``job list``, ``job stop``; 0.2.227: a table
``job list`` that refuses ``--json`` with exit 2, ``job cancel``), and a checkout may carry
a stand-in of marin's ``scripts/ci/iris_monitor.py``. The same paths against a real local
controller of both versions are in ``test_iris_local_cluster.py``."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess

import pytest
from rich.console import Console

from perfgate_lib.gate.babysit import BabysitPolicy, ProgressPrinter, Watch, babysit
from perfgate_lib.gate.flow import run
from perfgate_lib.runners.base import JobState
from perfgate_lib.runners.iris import IrisRunner, PriorityRefused
from tests.fakes.marin_world import PASS_PR, SCRIPTS, MarinWorld, build_template
from tests.gate_checks import sentinel_comments, state_of
from tests.test_ladder_scenarios import PASS, options

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

TODAY = "0.2.227"


def runner_for(world: MarinWorld, tmp_path) -> IrisRunner:
    return IrisRunner(
        checkout=str(world.checkout),
        scratch_dir=str(tmp_path / "scratch"),
        status_root=str(world.status_root),
        timeout_seconds=60,
    )


def cluster_job(world: MarinWorld, name: str, gate: int = 1) -> str:
    """A job on the fake cluster, submitted with its ``iris job run``; its id."""
    env = {**os.environ, "FAKE_SUBMIT": json.dumps({"gate": gate, "attempt": 1, "pr": 1})}
    argv = [str(world.bin / "iris"), "job", "run", "--no-wait", "--job-name", name, "--", "x"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture
def fake_cluster(marin_world, monkeypatch):
    for key, value in marin_world.env().items():
        monkeypatch.setenv(key, value)
    return marin_world


def test_todays_cli_is_polled_without_json_and_stopped_with_cancel(fake_cluster, tmp_path):
    world = fake_cluster
    world.scenario({"iris_cli": TODAY, "default": {"states": ["JOB_STATE_PENDING", "running"]}})
    job_id = cluster_job(world, "zephyr-perf-pr1-g1-treatment-20261206T120000Z")
    runner = runner_for(world, tmp_path)
    first, second = runner.poll(job_id), runner.poll(job_id)
    assert (first.state, second.state) == ("pending", "running")
    assert first.pending_reason == "waiting for capacity" and first.submitted_at
    runner.stop(job_id)
    assert runner.poll(job_id).state == "killed"
    calls = [c["args"] for c in world.kit_iris_calls()]
    assert all("--json" not in a for a in calls), calls
    assert [a[:2] for a in calls if a[1] != "list"] == [["job", "cancel"]], "no `job stop` first"
    # the CLI's generation was asked once, from its help, for all of these calls
    helps = [c["args"] for c in world.ledger("iris_help_calls.jsonl")]
    assert helps == [["job", "--help"], ["job", "list", "--help"]]


def test_the_0_2_20_cli_is_still_polled_with_json_and_stopped_with_stop(fake_cluster, tmp_path):
    world = fake_cluster
    world.scenario({"default": {"states": ["running"]}})  # iris_cli defaults to 0.2.20
    job_id = cluster_job(world, "zephyr-perf-pr1-g1-treatment-20261206T120000Z")
    runner = runner_for(world, tmp_path)
    assert runner.poll(job_id).state == "running"
    runner.stop(job_id)
    calls = [c["args"] for c in world.kit_iris_calls()]
    assert calls[0][:3] == ["job", "list", "--json"] and calls[-1] == ["job", "stop", job_id]


def test_the_checkout_s_own_iris_comes_before_the_configured_one(fake_cluster, tmp_path):
    world = fake_cluster
    world.scenario({"iris_cli": TODAY, "default": {"states": ["running"]}})
    job_id = cluster_job(world, "zephyr-perf-pr1-g1-treatment-20261206T120000Z")
    own = world.checkout / ".venv" / "bin"
    own.mkdir(parents=True)
    (own / "iris").symlink_to(world.bin / "iris")
    runner = runner_for(world, tmp_path)
    runner.iris_command = "no-such-iris-on-path"
    assert runner.poll(job_id).state == "running"
    assert runner.cli.command == [str(own / "iris")]


def test_a_todays_marin_gate_runs_end_to_end(world_env, tmp_path, github_env):
    world = world_env
    world.scenario({"iris_cli": TODAY, "default": {"states": PASS, "report": "pass"}})
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    polls = [c["args"] for c in world.kit_iris_calls() if c["args"][:2] == ["job", "list"]]
    assert polls and all("--json" not in a for a in polls)
    job = state_of(out.run_dir)["attempts"]["gate1"]["job"]
    assert job["state"] == "succeeded" and job["queue_wait_source"] == "observed"


def test_a_refused_production_band_says_who_may_run_the_gate(world_env, tmp_path, github_env):
    world = world_env
    world.scenario({"iris_cli": TODAY, "refuse_priority": "production", "default": {}})
    with pytest.raises(PriorityRefused) as exc:
        run(options(world, tmp_path, max_gate="1"))
    assert exc.value.exit_code == 4 and world.submissions() == []
    message = str(exc.value)
    assert "perfgate-test may not submit production-priority jobs" in message
    assert "only an admin of the cluster" in message and "--max-gate 2" in message
    assert "Traceback" not in message, "the reason, not the stderr tail"
    assert world.leftover_worktrees() == []


# ---------------------------------------------------------------------- iris_monitor.py


@pytest.fixture(scope="module")
def monitor_template(tmp_path_factory):
    """marin with ``scripts/ci/iris_monitor.py`` (its newer checkouts)."""
    monitor = (SCRIPTS / "iris_monitor.py").read_text()
    return build_template(
        tmp_path_factory.mktemp("marin-monitor"), {"scripts/ci/iris_monitor.py": monitor}
    )


@pytest.fixture
def monitor_world(monitor_template, tmp_path, github_env, monkeypatch):
    from tests.fakes.marin_world import seed_baselines, seed_pull

    world = MarinWorld(monitor_template, tmp_path / "w")
    for key, value in world.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PERFGATE_RUNS_ROOT", str(world.root / "runs"))
    seed_baselines(github_env)
    seed_pull(github_env, world, PASS_PR)
    return world


def test_a_checkout_with_iris_monitor_is_waited_on_with_it(monitor_world, tmp_path, github_env):
    world = monitor_world
    world.scenario({"iris_cli": TODAY, "default": {"states": PASS, "report": "pass"}})
    out = run(options(world, tmp_path, max_gate="1"))
    assert (out.exit_code, out.verdict) == (0, "pass")
    calls = world.ledger("monitor_calls.jsonl")
    verbs = [c["verb"] for c in calls]
    assert verbs[0] == "status" and "wait" in verbs and verbs[-1] == "wait"
    (sub,) = world.submissions()
    for call in calls:
        args = call["args"]
        assert args[args.index("--job-id") + 1] == sub["job_id"]
        assert args[args.index("--iris-config") + 1].endswith("lib/iris/config/marin.yaml")
        if call["verb"] == "wait":
            i = args.index("--resource-exhaustion-policy")
            assert args[i + 1] == "shutdown", "as the tier workflows wait"
    # the CLI still lists the job tree once the job ended, never with --json
    lists = [c["args"] for c in world.kit_iris_calls() if c["args"][:2] == ["job", "list"]]
    assert lists and all("--json" not in a for a in lists)


def test_a_job_stuck_on_capacity_is_shut_down_as_the_workflows_do(
    monitor_world, tmp_path, github_env
):
    world = monitor_world
    stuck = {
        "states": ["JOB_STATE_PENDING"],
        "pending_reason": "Scheduler: slice could not schedule (resource_exhausted)",
        "report": "none",
    }
    world.scenario({"iris_cli": TODAY, "default": stuck})
    out = run(options(world, tmp_path, max_gate="1"))
    assert out.exit_code == 3 and out.verdict == "inconclusive"
    job = state_of(out.run_dir)["attempts"]["gate1"]["job"]
    assert job["state"] == "killed" and "lack of capacity" in job["error"]
    assert "resource_exhausted" in job["error"]
    # the ladder tries an inconclusive gate once more; the monitor shut down each ferry
    subs = [s["job_id"] for s in world.submissions()]
    assert len(subs) == 2 and [s["job_id"] for s in world.ledger("stops.jsonl")] == subs
    (body,) = [c["body"] for c in sentinel_comments(github_env, PASS_PR)]
    assert "inconclusive" in body


# ---------------------------------------------------------------------- progress


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class WaitingRunner:
    """A job that runs for two looks, then succeeds; ``wait`` advances the clock."""

    name = "waiting"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.states = ["running", "running", "succeeded"]
        self.waits: list[float] = []

    def poll(self, job_id: str) -> JobState:
        return JobState(job_id=job_id, state=self.states.pop(0))

    def wait(self, job_id: str, seconds: float) -> JobState:
        self.waits.append(seconds)
        self.clock.now += dt.timedelta(seconds=seconds)
        return self.poll(job_id)

    def stop(self, job_id: str) -> None:
        raise AssertionError("not stopped")


def test_babysitting_waits_through_the_runner_and_shows_a_live_line_on_a_terminal():
    clock = Clock()
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200)
    lines = io.StringIO()
    printer = ProgressPrinter(None, gate=1, stream=lines, console=console, clock=clock)
    watch = Watch(job_id="/u/ferry", submitted_at="2026-12-06T11:50:00Z")
    runner = WaitingRunner(clock)
    seen: list[str] = []

    def progress(w, now, nxt):
        printer(w, now, nxt)
        seen.append(printer.live_line(clock.now + dt.timedelta(seconds=30)))

    with printer:
        result = babysit(runner, watch, BabysitPolicy(600, 3600), progress=progress, clock=clock)
    assert result.job.succeeded and runner.waits == [600.0, 600.0]
    # between looks the live line names the job, its state, the elapsed time and the next look
    assert seen[0] == (
        "gate 1 · /u/ferry · running · elapsed 10m 30s (run 30s, queue 10m 00s)"
        " · next check in 9m 30s"
    )
    assert printer._live is None, "the live line ends with the wait"
    out = screen.getvalue()
    assert "] gate 1 · /u/ferry · succeeded · elapsed 30m 00s" in out
    assert out.count("] gate 1 · /u/ferry · running") == 2 and lines.getvalue() == ""


def test_babysitting_progress_is_plain_lines_when_stdout_is_not_a_terminal():
    clock = Clock()
    screen, lines = io.StringIO(), io.StringIO()
    console = Console(file=screen)  # a file, not a terminal
    printer = ProgressPrinter(None, gate=2, stream=lines, console=console, clock=clock)
    watch = Watch(job_id="/u/ferry", submitted_at="2026-12-06T11:50:00Z")
    babysit(WaitingRunner(clock), watch, BabysitPolicy(600, 3600), progress=printer, clock=clock)
    assert not printer.live_enabled and screen.getvalue() == ""
    printed = lines.getvalue().splitlines()
    assert len(printed) == 3 and all(line.count("/u/ferry") == 1 for line in printed)
    assert printed[-1].endswith(
        "gate 2 · /u/ferry · succeeded · elapsed 30m 00s (run 20m 00s, queue 10m 00s)"
    )


HOSTILE_LINE = "x\n::error::y \x1b]0;pwned\x07 \x1b[2J [link=https://evil.example]z[/link] [/nope]"


@pytest.mark.parametrize("terminal", [True, False])
def test_a_jobs_own_words_reach_the_terminal_as_text(terminal):
    """A job's id and error come from the cluster, its error from the PR's code: a newline,
    an escape sequence (window title, clear screen) or rich markup in them is shown as
    text, never obeyed."""
    clock = Clock()
    screen, lines = io.StringIO(), io.StringIO()
    console = Console(file=screen, force_terminal=terminal, width=400)
    printer = ProgressPrinter(None, gate=1, stream=lines, console=console, clock=clock)
    watch = Watch(job_id="/u/" + HOSTILE_LINE, submitted_at="2026-12-06T11:50:00Z")
    watch.error, watch.state, watch.terminal = HOSTILE_LINE, "failed", True
    with printer:
        printer(watch, clock.now, None)
    out = screen.getvalue() + lines.getvalue()
    assert "pwned" in out and "[link=https://evil.example]" in out and "[/nope]" in out
    assert "\x1b]0;" not in out and "\x1b[2J" not in out and "\n::" not in out
    assert len((lines.getvalue() or screen.getvalue()).strip().splitlines()) == 1


def test_the_progress_a_kernel_reports_reaches_the_terminal_as_text(tmp_path, monkeypatch):
    """``perfgate run`` echoes the gate kernel's progress line (rich's status on a
    terminal): markup in it used to be parsed, and ``[/nope]`` killed the progress thread."""
    import json
    import sys
    import threading

    from perfgate_lib.gate.flow import progress_watch

    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    failures: list = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    path = tmp_path / "progress.json"
    with progress_watch(str(path), interval=0.02):
        path.write_text(json.dumps({"line": HOSTILE_LINE}))
        for _ in range(100):
            if "pwned" in screen.getvalue():
                break
            threading.Event().wait(0.02)
    assert failures == []
    out = screen.getvalue()
    assert "[link=https://evil.example]" in out and "[/nope]" in out
    assert "\x1b]0;" not in out and "\x1b[2J" not in out and "\n::" not in out
