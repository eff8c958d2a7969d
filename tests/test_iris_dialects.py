"""Reading each generation of Iris tooling (issue 28, problem 3 and 6): the pure parsers of
:mod:`perfgate_lib.runners.iris_dialect` on outputs recorded from the real ``iris`` CLIs of
marin-iris 0.2.20 and 0.2.227 (``tests/fixtures/iris_dialects/``, recorded against a real
local controller of each version), and on marin's ``iris_monitor.py`` wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate_lib.runners.base import normalise_state
from perfgate_lib.runners.iris import job_state_from_entry, job_state_from_monitor
from perfgate_lib.runners.iris_dialect import (
    STOP_VERB,
    DialectError,
    detect_dialect,
    list_args,
    parse_listing,
    parse_monitor_status,
    parse_monitor_wait,
    priority_refusal,
)

RECORDED = Path(__file__).resolve().parent / "fixtures" / "iris_dialects"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


@pytest.mark.parametrize(("version", "dialect"), [("0.2.20", "json"), ("0.2.227", "table")])
def test_the_cli_generation_is_read_from_its_help(version, dialect):
    found = detect_dialect(
        recorded(f"{version}-job-help.txt"), recorded(f"{version}-job-list-help.txt")
    )
    assert found == dialect
    assert STOP_VERB[found] == {"json": "stop", "table": "cancel"}[found]


def test_an_unknown_cli_generation_is_named_not_guessed():
    with pytest.raises(DialectError, match="unknown iris CLI.*lists list, run"):
        detect_dialect("Commands:\n  list  List.\n  run   Run.\n", "Options:\n  --help\n")


def test_only_the_older_cli_is_asked_for_json():
    assert list_args("json", "/u/job") == ["job", "list", "--json", "--prefix", "/u/job"]
    table = list_args("table", "/u/job")
    assert "--json" not in table and table[:2] == ["job", "list"]
    assert table[table.index("--prefix") + 1] == "/u/job" and "--limit" in table


def test_the_0_2_227_job_table_is_read_with_states_times_and_reasons():
    entries = parse_listing("table", recorded("0.2.227-job-list.txt"))
    states = {e["job_id"]: e["state"] for e in entries}
    assert states == {
        "/perfgate/t5": "running",
        "/perfgate/t4": "killed",
        "/perfgate/t3": "failed",
        "/perfgate/t1": "succeeded",
    }
    t3 = job_state_from_entry("/perfgate/t3", entries[2])
    assert t3.state == "failed" and t3.terminal
    assert t3.error.startswith("Cumulative failed task attempts exceeded max_task_failures")
    assert t3.submitted_at == "2026-12-06T18:36:53.474Z"
    assert job_state_from_entry("/perfgate/t4", entries[1]).error == "Terminated by user"
    assert parse_listing("table", "I20261206 iris.cli.connect tunnel...\nNo jobs found.\n") == []


def test_a_waiting_job_s_reason_in_the_table_is_its_pending_reason():
    text = (
        "JOB ID         STATE    SUBMITTED                         REASON\n"
        "/alice/ferry   pending  2026-12-06T18:40:37.260000+00:00  Insufficient capacity: "
        "resource_exhausted\n"
        "\nShowing the 50 most recent jobs.\n"
    )
    (entry,) = parse_listing("table", text)
    job = job_state_from_entry("/alice/ferry", entry)
    assert job.waiting and job.pending_reason.endswith("resource_exhausted") and not job.error


def test_a_table_that_is_not_one_is_an_error_naming_it():
    with pytest.raises(DialectError, match="no job table"):
        parse_listing("table", '[{"job_id": "/a", "state": "JOB_STATE_RUNNING"}]')
    with pytest.raises(DialectError, match="no JSON"):
        parse_listing("json", recorded("0.2.227-job-list.txt"))


def test_the_0_2_20_json_listing_is_read_as_before():
    entries = parse_listing("json", recorded("0.2.20-job-list.json"))
    t3 = job_state_from_entry("/perfgate/t3", entries[0])
    assert (t3.state, t3.error) == ("failed", "Exit code: 1")
    assert t3.queue_seconds == pytest.approx(0.048)
    assert normalise_state(entries[1]["state"]) == "running"


def test_iris_monitor_status_and_wait_answers():
    status = parse_monitor_status("job_id: /u/j\nstate:  JOB_STATE_FAILED\nerror:  Exit code: 1\n")
    assert (status.state, status.error) == ("JOB_STATE_FAILED", "Exit code: 1")
    failed = job_state_from_monitor("/u/j", status)
    assert failed.state == "failed" and failed.error == "Exit code: 1"
    done = parse_monitor_wait(
        "Waiting for '/u/j' every 30.0s ...\nJob '/u/j' finished with state: JOB_STATE_SUCCEEDED\n"
    )
    assert job_state_from_monitor("/u/j", done).succeeded
    timeout = "Traceback (most recent call last):\n  ...\nTimeoutError: Timed out waiting for job"
    assert parse_monitor_wait(timeout).timed_out
    lookup = "Traceback ...\nLookupError: Job not found in Iris job list: '/u/j'"
    assert parse_monitor_wait(lookup).not_found and parse_monitor_status("", lookup).not_found
    with pytest.raises(DialectError, match="without a state"):
        parse_monitor_wait("Traceback ...\nRuntimeError: boom")


def test_a_capacity_shutdown_by_the_monitor_is_a_killed_job_saying_why():
    answer = parse_monitor_wait(
        "::warning title=Canary resource exhaustion::/u/j: tier_blocked: 100%25 used\n"
        "Job '/u/j' finished with state: RESOURCE_EXHAUSTED\n"
    )
    assert answer.resource_exhausted and answer.exhausted_reason == "/u/j: tier_blocked: 100% used"
    job = job_state_from_monitor("/u/j", answer)
    assert job.state == "killed" and "lack of capacity" in job.error and "100% used" in job.error


@pytest.mark.parametrize("version", ["0.2.20", "0.2.227"])
def test_a_refused_production_band_says_who_may_run_the_gate(version):
    refusal = priority_refusal(recorded(f"{version}-submit-refused.txt"))
    assert refusal is not None
    assert (refusal.who, refusal.band, refusal.max_band) == ("someone", "PRODUCTION", "INTERACTIVE")
    assert refusal.resubmit_with == "--priority interactive"
    text = refusal.explain(3)
    assert "only an admin of the cluster" in text and "gate 3" in text
    assert "--max-gate 2" in text


def test_other_submit_failures_are_not_read_as_a_refusal():
    assert priority_refusal("ConnectError: controller unreachable") is None
    assert priority_refusal("PERMISSION_DENIED: bucket gs://x") is None
    bare = priority_refusal("PERMISSION_DENIED ... Resubmit with --priority batch")
    assert bare is not None and bare.resubmit_with == "--priority batch"


@pytest.mark.parametrize(
    ("listed", "asked", "same"),
    [
        ("/alice/ferry-1", "alice/ferry-1", True),  # the two id shapes
        ("/alice/ferry-1/", "/alice/ferry-1", True),  # a trailing slash
        (" /alice/ferry-1 ", "alice/ferry-1/", True),
        ("/alice/ferry-1/step-0", "/alice/ferry-1", False),  # a child is not the job
        ("/alice/ferry-10", "/alice/ferry-1", False),
    ],
)
def test_one_job_id_is_the_same_job_in_every_shape_that_in_tree_accepts(listed, asked, same):
    from perfgate_lib.runners.iris import _same_job, in_tree

    assert _same_job(listed, asked) is same
    assert in_tree(listed, asked) is (
        same or listed.strip().strip("/").startswith("alice/ferry-1/")
    )
