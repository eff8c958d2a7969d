"""Runner parsing (both eras), the replay runner, babysitting and state.json."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from perfgate_lib.errors import UsageError
from perfgate_lib.gate.babysit import BabysitPolicy, Watch, babysit, may_stop
from perfgate_lib.gate.state import RunState, find_unfinished
from perfgate_lib.io.storage import write_atomic
from perfgate_lib.runners.base import JobState, RunnerError, normalise_state, parse_json_line
from perfgate_lib.runners.iris import IrisRunner, job_entries, job_state_from_entry, status_url
from perfgate_lib.runners.replay import ReplayRunner
from tests.conftest import REPO_ROOT
from tests.fakes.github_server import FAKE_TOKEN

EXAMPLES = REPO_ROOT / "parameters" / "examples"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("JOB_STATE_RUNNING", "running"),
        ("running", "running"),
        ("JOB_STATE_WORKER_FAILED", "worker_failed"),
        ("worker-failed", "worker_failed"),
        ("JOB_STATE_UNSCHEDULABLE", "unschedulable"),
        ("Succeeded", "succeeded"),
        ("JOB_STATE_UNSPECIFIED", "unknown"),
        (None, "unknown"),
    ],
)
def test_state_names_of_both_eras(raw, state):
    assert normalise_state(raw) == state


def test_submit_json_line_among_log_lines():
    out = (
        "INFO resolving config {not json}\n"
        '{"note": "no job id here"}\n'
        '{"job_id": "/alice/zephyr-perf-pr7-g1-treatment-20260506T071523Z", "gate": 1, '
        '"ferry_module": "experiments.ferries.datakit_ferry", "status_path": "gs://b/s.json", '
        '"run_id": "zephyr-perf-pr7-g1-treatment-20260506T071523Z", "cwd": "/wt"}\n'
        "INFO done\n"
    )
    sub = IrisRunner.submission_from_output(out, 1, 1)
    assert sub.job_id.startswith("/alice/") and sub.ferry_module.endswith("datakit_ferry")
    assert sub.status_path == "gs://b/s.json"
    assert parse_json_line("nothing\n") is None
    with pytest.raises(RunnerError, match="dry-run"):
        IrisRunner.submission_from_output('{"job_id": "DRY-RUN"}', 1, 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"job_id": {"id": "/alice/x"}}, "job_id"),
        ({"job_id": "/alice/x", "status_path": {"url": "gs://b"}}, "status_path"),
        ({"job_id": "/alice/x", "ferry_module": ["experiments.ferries.x"]}, "ferry_module"),
        ({"job_id": "/alice/x", "run_id": 7}, "run_id"),
        ({"job_id": "/alice/x", "cwd": ["/wt"]}, "cwd"),
    ],
)
def test_a_submit_line_with_a_field_that_is_not_text_is_named(fields, field):
    """The submit script is the PR's own (it runs in the worktree): a field that is not
    text is named, instead of reaching the collect command line (a TypeError there)."""
    with pytest.raises(RunnerError, match=f"submit output: field '{field}' must be text"):
        IrisRunner.submission_from_output("INFO\n" + json.dumps(fields), 1, 1)


def test_a_submit_output_nested_past_the_parsers_depth_has_no_job_line():
    """The submit script is the PR's own: output nested deeper than the JSON parser goes
    is no job line (the run then names the output), not a RecursionError."""
    assert parse_json_line("[" * 100_000) is None
    assert IrisRunner.submission_from_output("[" * 100_000, 1, 1) is None


def test_job_list_entries_and_times():
    text = "WARNING something\n" + json.dumps(
        [
            {
                "job_id": "/a/job/child",
                "state": "JOB_STATE_RUNNING",
            },
            {
                "job_id": "/a/job",
                "state": "JOB_STATE_FAILED",
                "error": "OOM in worker",
                "submitted_at": {"epoch_ms": "1760000000000"},
                "started_at": {"epoch_ms": "1760000600000"},
                "finished_at": {"epoch_ms": "1760001000000"},
            },
        ]
    )
    entries = job_entries(text)
    job = job_state_from_entry("/a/job", entries[1])
    assert job.state == "failed" and job.terminal and not job.succeeded
    assert job.error == "OOM in worker" and job.queue_seconds == 600.0
    assert job_entries("No jobs found.") == []
    assert (
        job_entries(json.dumps({"jobs": [{"job_id": "x", "state": "pending"}]}))[0]["state"]
        == "pending"
    )
    with pytest.raises(RunnerError, match="no JSON"):
        job_entries("error: controller unreachable")


def test_status_url_per_attempt():
    assert status_url("gs://b/tmp/ttl=7d/zephyr-perf", 7, 2, 1).endswith("/7/treatment-g2.json")
    assert status_url("gs://b/x/", 7, 2, 2) == "gs://b/x/7/treatment-g2-attempt2.json"


def test_replay_runner_folder_and_mapping(tmp_path):
    runner = ReplayRunner(str(EXAMPLES))
    sub = runner.submit(1, 4321, "", 1)
    assert runner.poll(sub.job_id).succeeded
    out = runner.collect(sub, str(tmp_path / "t.json"))
    assert json.loads(Path(out).read_text())["iris_job_id"] == sub.job_id
    with pytest.raises(UsageError, match="attempt 2"):
        runner.submit(1, 4321, "", 2)  # never silently the first attempt's report
    mapped = ReplayRunner({"1/2": str(EXAMPLES / "tier1_treatment.json")})
    assert mapped.submit(1, 4321, "", 2).attempt == 2
    with pytest.raises(UsageError, match="gate 2"):
        mapped.submit(2, 4321, "", 1)


class ScriptedRunner:
    """Returns the given JobStates poll after poll; records stops."""

    name = "scripted"

    def __init__(self, states):
        self.states = list(states)
        self.polls = 0
        self.stopped = []

    def poll(self, job_id):
        state = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        if isinstance(state, Exception):
            raise state
        return state

    def stop(self, job_id):
        self.stopped.append(job_id)


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 5, 6, 7, 0, tzinfo=dt.UTC)
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def js(state, **kw):
    return JobState(job_id="j", state=normalise_state(state), raw_state=state, **kw)


def test_babysit_polls_no_more_often_than_the_interval_and_splits_queue_wait():
    clock = Clock()
    runner = ScriptedRunner(
        [
            js("JOB_STATE_PENDING"),
            js("JOB_STATE_BUILDING"),
            js("running"),
            js("JOB_STATE_SUCCEEDED"),
        ]
    )
    watch = Watch(job_id="j", submitted_at="2026-05-06T07:00:00Z")
    policy = BabysitPolicy(interval_seconds=600, wall_time_seconds=3600)
    result = babysit(runner, watch, policy, sleep=clock.sleep, clock=clock)
    assert result.job.succeeded and runner.polls == 4
    assert clock.slept == [600, 600, 600]
    assert watch.queue_wait_seconds == 1200 and watch.queue_wait_source == "observed"
    assert watch.run_seconds(clock.now) == 600


@pytest.mark.parametrize(
    ("last_poll_at", "slept"),
    [
        # the previous process polled 2 minutes ago: the rest of the interval
        ("2026-05-06T06:58:00Z", 480.0),
        # a look recorded in the future (the run resumed on a host whose clock is behind,
        # or the clock stepped back) made the next look wait the skew on top: 12 h 10 min
        ("2026-05-06T19:00:00Z", 600.0),
        ("9999-12-31", 600.0),  # a look dated at the calendar's end: no OverflowError
    ],
    ids=["two-minutes-ago", "in-the-future", "calendar-end"],
)
def test_babysit_waits_out_at_most_one_interval_after_a_restart(last_poll_at, slept):
    clock = Clock()
    watch = Watch(job_id="j", submitted_at="2026-05-06T06:50:00Z", last_poll_at=last_poll_at)
    runner = ScriptedRunner([js("JOB_STATE_SUCCEEDED")])
    babysit(runner, watch, BabysitPolicy(600, 3600), sleep=clock.sleep, clock=clock)
    assert clock.slept == [slept]


def test_babysit_stops_only_an_overrunning_ferry():
    clock = Clock()
    runner = ScriptedRunner([js("running")])
    watch = Watch(job_id="j", submitted_at="2026-05-06T07:00:00Z")
    policy = BabysitPolicy(interval_seconds=600, wall_time_seconds=1800, overrun_factor=2.0)
    result = babysit(runner, watch, policy, sleep=clock.sleep, clock=clock)
    assert runner.stopped == ["j"] and result.job.state == "killed"
    assert watch.stopped and "past 2x the tier wall time" in watch.stop_reason
    assert watch.run_seconds(clock.now) > 3600


def test_babysit_gives_up_after_repeated_poll_errors():
    clock = Clock()
    runner = ScriptedRunner([RunnerError("controller unreachable")])
    watch = Watch(job_id="j", submitted_at="2026-05-06T07:00:00Z")
    with pytest.raises(RunnerError, match="3 failed polls"):
        babysit(
            runner, watch, BabysitPolicy(60, 3600, error_limit=3), sleep=clock.sleep, clock=clock
        )
    assert runner.polls == 3


def test_stop_policy():
    policy = BabysitPolicy(600, 3600)
    assert not may_stop(None, policy) and not may_stop(3599, policy)
    assert may_stop(3600, policy)
    assert may_stop(10, BabysitPolicy(600, 3600, stop_early_confirmed=True))


def test_poll_interval_override(monkeypatch):
    monkeypatch.setenv("PERFGATE_POLL_SECONDS", "0.5")
    assert BabysitPolicy.for_gate(10, 60).interval_seconds == 0.5
    assert BabysitPolicy.for_gate(10, 60, interval_override=2).interval_seconds == 2
    monkeypatch.delenv("PERFGATE_POLL_SECONDS")
    assert BabysitPolicy.for_gate(15, 150).interval_seconds == 900


@pytest.mark.parametrize("given", ["inf", "nan", "-inf", "1e300"])
def test_a_poll_interval_past_any_calendar_never_stops_the_babysitter(monkeypatch, given):
    """``PERFGATE_POLL_SECONDS`` (or the notebook's ``poll_seconds``) of inf or 1e300 made
    the next look's time an OverflowError after the first poll, and nan polled without a
    pause; an unusable one is ignored, and an interval is at most MAX_POLL_SECONDS."""
    from perfgate_lib.gate.babysit import MAX_POLL_SECONDS

    monkeypatch.setenv("PERFGATE_POLL_SECONDS", given)
    policies = [
        BabysitPolicy.for_gate(10, 60),
        BabysitPolicy.for_gate(10, 60, interval_override=float(given)),
    ]
    for policy in policies:
        assert 0 < policy.interval_seconds <= MAX_POLL_SECONDS
        clock = Clock()
        runner = ScriptedRunner([js("running"), js("JOB_STATE_SUCCEEDED")])
        watch = Watch(job_id="j", submitted_at="2026-05-06T07:00:00Z")
        assert babysit(runner, watch, policy, sleep=clock.sleep, clock=clock).job.succeeded
        assert clock.slept == [policy.interval_seconds]


def test_state_is_atomic_scrubbed_and_found_again(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", FAKE_TOKEN)
    run_dir = tmp_path / "runs" / "pr7" / "20260506T070000Z-abc1234"
    state = RunState.create(str(run_dir), pr=7, sha="abc1234" + "0" * 33, status="running")
    state.set(outcome={"message": f"oops {FAKE_TOKEN}"})
    text = (run_dir / "state.json").read_text()
    assert FAKE_TOKEN not in text and "[REDACTED env:GITHUB_TOKEN]" in text
    assert [p.name for p in run_dir.iterdir()] == ["state.json"], "no temp files left"
    found = find_unfinished(str(tmp_path / "runs"), 7, "abc1234" + "0" * 33)
    assert found is not None and found.run_dir == str(run_dir)
    assert find_unfinished(str(tmp_path / "runs"), 7, "f" * 40) is None
    state.set(status="finished")
    assert find_unfinished(str(tmp_path / "runs"), 7) is None


def test_state_on_an_fsspec_url():
    write_atomic("memory://perfgate-test/pr1/x/state.json", '{"kind": "perfgate-run"}')
    state = RunState.load("memory://perfgate-test/pr1/x")
    state.set(status="running")
    assert RunState.load("memory://perfgate-test/pr1/x").status == "running"


def test_the_gate_notebooks_parameters_are_typed_and_a_bad_one_is_named():
    """papermill's ``-r`` strings become the typed GateJob; a bad value names the parameter."""
    from perfgate_lib.gate.run import GateJob

    job = GateJob.from_parameters(
        gate="2", attempt="1", pr="7", max_gate="max_gate=3", use_actions="false", post="github"
    )
    assert (job.gate, job.attempt, job.pr, job.max_gate, job.use_actions) == (2, 1, 7, "3", False)
    for params, named in [
        ({"gate": 4}, "gate: gate: input should be less than or equal to 3, got 4"),
        ({"attempt": "0"}, "gate: attempt: input should be greater than or equal to 1"),
        ({"runner": "local"}, "gate: runner: value error, expected one of iris, replay"),
        ({"post": "slack"}, "gate: post: value error, expected one of github, file"),
        ({"max_gate": "4"}, "gate: max_gate: value error, expected skip, 1, 2 or 3"),
        ({"pr": "seven"}, "gate: pr: input should be a valid integer"),
        ({"gates": 1}, "gate: gates: unknown key"),
    ]:
        with pytest.raises(UsageError) as info:
            GateJob.from_parameters(**params)
        assert str(info.value).startswith(named), str(info.value)


def test_perfgate_run_options_are_the_run_options_fields():
    """The command hands its options over by name (``RunOptions(**options)``): each CLI
    option is a field, so an option is declared in two places at most, never four."""
    from dataclasses import fields

    from perfgate_lib.commands.run import command
    from perfgate_lib.gate.flow import RunOptions
    from perfgate_lib.local.pairs import Gate0Settings

    gate0 = {f.name for f in fields(Gate0Settings)}  # packed into one ``gate0`` mapping
    cli = {p.name for p in command.params} - gate0 | {"gate0"}
    declared = {f.name for f in fields(RunOptions)}
    assert cli == declared


@pytest.mark.parametrize("sha", ["/../../x", "../../x", "a/b", "abc", "ABCDEF0", "g" * 40])
def test_a_sha_that_is_not_a_commit_is_a_usage_error_naming_it(tmp_path, sha):
    """``--sha`` names the run folder (``<stamp>-<sha[:7]>``): taken as given offline, a
    path in it put state.json elsewhere, even at the runs root; it is refused first (exit 2)."""
    from tests.cli_helpers import perfgate_here

    runs = tmp_path / "runs"
    code, _, err = perfgate_here(
        "run", "--pr", "3", "--runner", "replay", "--replay-dir", str(tmp_path), "--dry-run",
        "--sha", sha, "--assessment", str(tmp_path / "a.json"), "--runs-root", str(runs),
    )  # fmt: skip
    assert code == 2 and "--sha" in err, err
    assert not runs.exists(), "nothing was written"


@pytest.mark.parametrize(
    ("job_id", "named"),
    [
        ("/u/datakit-tier1-pr7-g1-a1", None),
        ("/u/datakit-tier1-pr007-g1-a1", None),
        ("/u/datakit-tier1-pr8-g1-a1", "8"),
        ("/u/datakit-tier1-pr" + "9" * 5000 + "-g1", "9" * 5000),
        ("/u/datakit-tier1-pr\u0667-g1", None),  # not ASCII digits: no PR named
    ],
)
def test_a_job_id_naming_another_pr_is_refused_whatever_its_digits(job_id, named):
    """The job id is what the PR worktree's submit script printed: a PR number of 5,000
    digits was a ValueError crash (int's digit limit), not the refusal naming it."""
    from perfgate_lib.gate.run import check_job_pr

    if named is None:
        check_job_pr(job_id, 7)
        return
    with pytest.raises(UsageError, match=f"ran for PR #{named[:20]}"):
        check_job_pr(job_id, 7)


def test_a_runs_root_that_is_a_file_is_a_usage_error_naming_it(tmp_path):
    """``--runs-root`` naming a file was a NotADirectoryError crash (exit 4) when the PR's
    lock was taken; now a usage error naming the option, before anything is done."""
    from tests.cli_helpers import perfgate_here

    root = tmp_path / "runs.json"
    root.write_text("{}")
    code, _, err = perfgate_here(
        "run", "--pr", "3", "--runner", "replay", "--replay-dir", str(tmp_path), "--dry-run",
        "--sha", "abcdef0", "--assessment", str(tmp_path / "a.json"), "--runs-root", str(root),
    )  # fmt: skip
    assert code == 2 and err == f"perfgate: --runs-root {root}: a file, not a folder\n", err


def test_recovery_skips_a_job_whose_name_holds_an_impossible_time(tmp_path):
    """``find`` adopts the earliest job of this PR/gate submitted since the attempt began:
    a job named with a time no calendar has (month 99) cannot be shown to be that recent,
    so it is not adopted (before, it passed the time check and sorted first)."""
    name = "zephyr-perf-pr7-g1-treatment-"
    listed = [
        {"job_id": f"/bob/{name}00009999T999999Z", "state": "running"},
        {"job_id": f"/alice/{name}20261206T101500Z", "state": "running"},
    ]

    class Listing:
        def list_jobs(self, prefix):
            return listed

    runner = IrisRunner(checkout=str(tmp_path), scratch_dir=str(tmp_path), status_root="gs://b")
    runner.__dict__["cli"] = Listing()  # the cached CLI, standing in
    found = runner.find(1, 7, 1, since="2026-12-06T10:14:00Z")
    assert found is not None and found.job_id == f"/alice/{name}20261206T101500Z"


@pytest.mark.parametrize("tree", ["not json", "[1, 2]", '{"job_id": "/a"}', '[{"job_id": ["/a"]}]'])
def test_a_replayed_job_tree_that_is_no_list_of_jobs_is_named(tmp_path, tree):
    """A replay reads the job-tree.json recorded beside a run folder's treatment report:
    one that is not a list of job objects is a runner error naming it (the gate records
    the tree as unavailable and goes on), not a traceback."""
    report = tmp_path / "run" / "treatment-report.json"
    report.parent.mkdir()
    report.write_text("{}")
    (tmp_path / "run" / "job-tree.json").write_text(tree)
    runner = ReplayRunner(str(tmp_path / "run"))
    runner._paths["/alice/job"] = str(report)
    with pytest.raises(RunnerError, match="job-tree.json: "):
        runner.job_tree("/alice/job")


@pytest.mark.parametrize("recorded", ['{"ferry_module": ["x"]}', '["x"]', "not json"])
def test_a_replayed_submission_without_a_text_ferry_module_names_none(tmp_path, recorded):
    """The ferry module of a replayed run folder comes from its submission.json: one that
    is not text there is no ferry module (None), as a missing one is."""
    run = tmp_path / "gate1"
    run.mkdir()
    shutil.copy(EXAMPLES / "tier1_treatment.json", run / "treatment-report.json")
    (run / "submission.json").write_text(recorded)
    sub = ReplayRunner(str(tmp_path)).submit(1, 7, str(tmp_path), 1)
    assert sub.ferry_module is None
