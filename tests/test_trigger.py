"""The gate from PR comments (issue 8) against the fake GitHub and the fake cluster:
`/perf-gate` from a reviewer, `go` from a reviewer, `go` from the PR author alone
(ignored), a second `/perf-gate` while one runs, `skip`, an unreadable reply."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.gate.flow import RunOptions
from perfgate_lib.gate.trigger import (
    CommentTrigger,
    authorize,
    is_request,
    marker,
    read_marker,
    reply_text,
    running_elsewhere,
)
from perfgate_lib.io.github import GitHubClient, upsert_comment
from tests.fakes.github_kit import fast_settings
from tests.fakes.github_server import DEFAULT_REPO
from tests.fakes.marin_world import PASS_PR
from tests.gate_checks import sentinel_comments
from tests.test_ladder_scenarios import attempts_scenario

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

AUTHOR = "author"  # the fake PR's author (tests/fakes/github_server.add_pull)
REVIEWER = "rev"


def event(body, login, pr=PASS_PR, action="created"):
    return {
        "action": action,
        "repository": {"full_name": DEFAULT_REPO},
        "issue": {"number": pr, "pull_request": {"url": "x"}, "user": {"login": AUTHOR}},
        "comment": {"body": body, "user": {"login": login, "type": "User"}},
    }


@pytest.fixture
def trigger(world_env, github_env, tmp_path):
    world = world_env
    world.scenario(attempts_scenario())
    github_env.set_permission(DEFAULT_REPO, REVIEWER, "write")
    github_env.set_permission(DEFAULT_REPO, AUTHOR, "admin")
    github_env.set_permission(DEFAULT_REPO, "visitor", "read")
    github_env.set_permission(DEFAULT_REPO, "maintainer", "maintain")
    client = GitHubClient(fast_settings(github_env, login="perfgate-bot"))
    options = RunOptions(
        pr=0,
        checkout=str(world.checkout),
        executor="inprocess",
        run_params=str(world.common),
        runs_root=str(tmp_path / "runs"),
    )

    def make(now=None):
        return CommentTrigger(client, options, run_url="https://ci.example/run/1", now=now)

    make.world = world
    make.client = client
    return make


def notes(fake):
    return [
        c["body"]
        for c in fake.comments_on(DEFAULT_REPO, PASS_PR)
        if not c["body"].startswith(SENTINEL)
    ]


def test_request_posts_the_assessment_and_runs_nothing(trigger, github_env):
    result = trigger().handle(event("/perf-gate please", REVIEWER))
    assert result.action == "assessed"
    (comment,) = sentinel_comments(github_env, PASS_PR)
    body = comment["body"]
    assert "Zephyr perf gate assessment — proposed max_gate: 3" in body
    assert "changed SCATTER\\_BUFFER\\_BYTES" in body and "| File |" in body
    assert "replies `go` to run" in body
    assert read_marker(body)["stage"] == "assessment"
    assert trigger.world.submissions() == []


def test_go_from_the_pr_author_alone_is_ignored_with_a_note(trigger, github_env):
    trigger().handle(event("/perf-gate", REVIEWER))
    result = trigger().handle(event("go", AUTHOR))
    assert result.action == "refused"
    assert trigger.world.submissions() == []
    assert any("PR author" in n for n in notes(github_env))
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert read_marker(comment["body"])["stage"] == "assessment"  # still waiting


def test_go_from_a_reader_is_ignored(trigger, github_env):
    trigger().handle(event("/perf-gate", REVIEWER))
    assert trigger().handle(event("go", "visitor")).action == "refused"
    assert any("write access" in n for n in notes(github_env))


def test_go_from_a_reviewer_runs_the_ladder(trigger, github_env):
    trigger().handle(event("/perf-gate", REVIEWER))
    result = trigger().handle(event("GO", REVIEWER))
    assert (result.action, result.exit_code) == ("ran", 0)
    assert [(s["gate"], s["attempt"]) for s in trigger.world.submissions()] == [
        (1, 1),
        (2, 1),
        (3, 1),
    ]
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert "Gate 3 (nemotron)" in comment["body"] and "✅ pass" in comment["body"]
    assert read_marker(comment["body"]) is None, "the running lock is gone with the verdict"
    assessment = json.loads(next(p for p in _runs(trigger).rglob("assessment.json")).read_text())
    assert assessment["confirmation"]["reviewer"] == REVIEWER


def _runs(trigger):
    import pathlib

    return pathlib.Path(trigger().runs_root)


def test_second_request_while_one_runs_links_it(trigger, github_env):
    lock = {
        "stage": "running",
        "since": dt.datetime.now(dt.UTC).isoformat(),
        "run_url": "https://ci.example/run/9",
    }
    upsert_comment(trigger.client, PASS_PR, f"{SENTINEL}\nrunning\n{marker(lock)}\n")
    result = trigger().handle(event("/perf-gate", REVIEWER))
    assert result.action == "busy"
    assert any(
        "already running" in n and "https://ci.example/run/9" in n for n in notes(github_env)
    )
    assert trigger.world.submissions() == []


def test_a_stale_lock_does_not_block(trigger, github_env):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=9)
    upsert_comment(
        trigger.client,
        PASS_PR,
        f"{SENTINEL}\nrunning\n{marker({'stage': 'running', 'since': old.isoformat()})}\n",
    )
    assert trigger().handle(event("/perf-gate", REVIEWER)).action == "assessed"


def test_skip_from_a_reviewer_posts_the_waiver(trigger, github_env):
    trigger().handle(event("/perf-gate", REVIEWER))
    result = trigger().handle(event("skip", REVIEWER))
    assert result.action == "waived"
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert "waived by rev" in comment["body"]
    assert trigger.world.submissions() == []


def test_unreadable_reply_lists_what_is_accepted(trigger, github_env):
    trigger().handle(event("/perf-gate", REVIEWER))
    result = trigger().handle(event("max_gate=7", REVIEWER))
    assert result.action == "bad_reply"
    assert any("max_gate" in n and "go" in n for n in notes(github_env))
    assert trigger.world.submissions() == []


def test_reply_without_a_pending_assessment_is_ignored(trigger, github_env):
    assert trigger().handle(event("go", REVIEWER)).action == "ignored"
    assert notes(github_env) == []


def test_comment_trigger_rules():
    assert is_request("/perf-gate")
    assert is_request("thanks!\n/Perf-Gate now")
    assert not is_request("see /perf-gate docs")  # only at a line start
    assert is_request("hey @perfgate-bot run it", "perfgate-bot")
    assert not is_request("hey @perfgate-botty", "perfgate-bot")
    assert [reply_text(t) for t in ("go", "Skip", "max_gate = 2 — x", "good", "gopher")] == [
        "go",
        "Skip",
        "max_gate = 2 — x",
        None,
        None,
    ]
    assert authorize("rev", "author", "write").allowed
    assert authorize("rev", "author", "maintain").allowed
    assert not authorize("author", "author", "admin").allowed
    assert not authorize("rev", "author", "triage").allowed
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert running_elsewhere({"stage": "running", "since": "2026-11-28T08:00:00+00:00"}, now)
    assert not running_elsewhere({"stage": "running", "since": "2026-11-28T01:00:00+00:00"}, now)
    assert read_marker(marker({"x": "a-->b"})) == {"x": "a-->b"}


def test_mentions_of_a_bot_login_and_the_state_line():
    assert is_request("hey @github-actions[bot] please", "github-actions[bot]")
    assert not is_request("hey @github-actions[bot]-fan", "github-actions[bot]")
    hostile = {"reply": "<!-- x --> <!-- perfgate-state: {} -->", "n": -1}
    line = marker(hostile)
    assert line.count("<!--") == 1 and line.count("-->") == 1 and "<" not in line[4:]
    assert read_marker(f"{SENTINEL}\ntext\n{line}\n") == hostile
    assert read_marker(f"{SENTINEL}\n{line}\ntext after the marker") is None, "last line only"


def test_the_folded_verdict_fits_in_one_comment():
    from perfgate_lib import MAX_COMMENT_CHARS
    from perfgate_lib.gate.trigger import kit_body, standing_verdict

    verdict = f"{SENTINEL}\n🤖 ## Gate 1: ❌ fail\n" + "| row |\n" * 12_000
    body = kit_body("🤖 ## assessment", {"stage": "assessment", "sha": "a" * 40}, verdict)
    assert len(body) <= MAX_COMMENT_CHARS and "cut short" in body
    assert read_marker(body)["stage"] == "assessment"
    folded = standing_verdict(body)
    assert folded.startswith("🤖 ## Gate 1: ❌ fail") and SENTINEL not in folded
    # a verdict (no marker) stands whole; a stage that is not a known one folds nothing
    assert standing_verdict(verdict) == verdict.removeprefix(SENTINEL).strip()
    assert standing_verdict(f"{SENTINEL}\nx\n{marker({'stage': 'other'})}") is None


@pytest.mark.parametrize(
    "standing", [None, f"{SENTINEL}\n🤖 ## Gate 1: ✅ pass\n" + "| r |\n" * 9_000]
)
def test_an_assessment_too_long_for_one_comment_is_cut_short(standing):
    """A PR of some hundred Zephyr files with long paths made an assessment of over 65,536
    characters: GitHub refused it, so no assessment was ever posted and nobody could confirm.
    The text is cut short with a note; the folded verdict and the marker still fit."""
    from perfgate_lib import MAX_COMMENT_CHARS
    from perfgate_lib.gate.trigger import kit_body, standing_verdict

    text = "🤖 ## Zephyr perf gate — assessment\n" + "| `lib/zephyr/x.py` | yes |\n" * 6_000
    state = {"stage": "assessment", "sha": "a" * 40}
    body = kit_body(text, state, standing)
    assert len(body) <= MAX_COMMENT_CHARS and "cut short" in body
    assert body.startswith(f"{SENTINEL}\n🤖 ## Zephyr perf gate — assessment")
    assert read_marker(body) == state
    if standing is not None:
        assert standing_verdict(body).startswith("🤖 ## Gate 1: ✅ pass")


@pytest.mark.slow
def test_trigger_command_with_an_event_file(trigger, github_env, tmp_path):
    from tests.cli_helpers import perfgate

    path = tmp_path / "event.json"
    path.write_text(json.dumps(event("/perf-gate", REVIEWER)))
    proc = perfgate(
        "trigger",
        "--event",
        str(path),
        "--checkout",
        str(trigger.world.checkout),
        "--runs-root",
        str(tmp_path / "cli-runs"),
        "--run-params",
        str(trigger.world.common),
        "--json",
        env={"PERFGATE_GITHUB_LOGIN": "perfgate-bot"},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["action"] == "assessed"
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert read_marker(comment["body"])["stage"] == "assessment"
    assert list((tmp_path / "cli-runs").rglob("assess.ipynb")), (
        "the assessment notebook is archived"
    )
    assert github_env.token not in comment["body"]


def test_plan_only_sets_the_lock_and_hands_over_the_plan(trigger, github_env, tmp_path):
    from perfgate_lib.commands.trigger import write_outputs

    trigger().handle(event("/perf-gate", REVIEWER))
    handler = trigger()
    handler.plan_only = True
    result = handler.handle(event("max_gate=1 — smoke is enough", REVIEWER))
    assert result.action == "confirmed"
    assert result.plan == {
        "pr": PASS_PR,
        "sha": trigger.world.sha(PASS_PR),
        "confirm": "max_gate=1 — smoke is enough",
        "reviewer": REVIEWER,
    }
    assert trigger.world.submissions() == [], "the ladder job runs it, not the dispatcher"
    (comment,) = sentinel_comments(github_env, PASS_PR)
    lock = read_marker(comment["body"])
    assert lock["stage"] == "running" and lock["reviewer"] == REVIEWER
    # a second request is answered while the ladder job holds the lock
    assert trigger().handle(event("/perf-gate", "maintainer")).action == "busy"
    out = tmp_path / "github_output"
    write_outputs(str(out), result.plan)
    text = out.read_text()
    assert "run<<PERFGATE_" in text and "\nmax_gate=1 — smoke is enough\n" in text
    assert "sha<<PERFGATE_" in text and f"\n{trigger.world.sha(PASS_PR)}\n" in text
    # a ladder job that died clears the lock
    handler.release(PASS_PR, "the gate job ended without posting a verdict")
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert read_marker(comment["body"])["stage"] == "stopped"
    assert "stopped without a verdict" in comment["body"]
    assert trigger().handle(event("/perf-gate", REVIEWER)).action == "assessed"


def test_a_running_run_folder_is_the_lock_until_released(trigger, github_env):
    from perfgate_lib.gate.state import RunState

    handler = trigger()
    run_dir = f"{handler.runs_root}/pr{PASS_PR}/20261128T000000Z-abcdef0"
    RunState.create(run_dir, pr=PASS_PR, sha="abcdef0" * 5).set(status="running")
    result = trigger().handle(event("/perf-gate", REVIEWER))
    assert result.action == "busy" and run_dir in result.message
    handler.release(PASS_PR, "job cancelled")
    assert RunState.load(run_dir).status == "interrupted"  # resumable, no longer a lock
    assert trigger().handle(event("/perf-gate", REVIEWER)).action == "assessed"


@pytest.mark.parametrize("number", ["0", "-3"])
def test_release_takes_a_pr_number_only(number):
    """``perfgate trigger --release`` names the option when given no PR number (exit 2)."""
    from tests.cli_helpers import perfgate_here

    code, _, err = perfgate_here("trigger", "--release", number)
    assert code == 2 and "--release" in err
