"""The comment trigger on an open repository (issue 29), against the fake GitHub (real
PyGithub) and the fake marin world: confirmations bound to the assessed commit, only the
kit's own comment is the kit's, state that echoed text cannot forge, requests that do
not erase verdicts, and only ``created`` comments acting."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.errors import UsageError
from perfgate_lib.gate.flow import HeadMoved, RunOptions, run
from perfgate_lib.gate.trigger import CommentTrigger, marker, read_marker
from perfgate_lib.io.github import GitHubClient, GitHubSettings, upsert_comment
from tests.cli_helpers import perfgate_here
from tests.fakes.github_kit import fast_settings
from tests.fakes.github_server import DEFAULT_REPO
from tests.fakes.marin_world import FAILING_PR, PASS_PR
from tests.test_ladder_scenarios import attempts_scenario
from tests.test_trigger import AUTHOR, event  # one event shape for both files

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

NOT_RUNNING = ("assessment", "out_of_scope")

REVIEWER = "rev"
ACTIONS_TOKEN = "ghs_installationTOKENforTheWorkflow0123456789"
BOT = "github-actions[bot]"
FAST = {"retries": 2, "backoff_factor": 0.0, "secondary_rate_wait": 0.0}
FAST |= {"seconds_between_requests": 0.0, "seconds_between_writes": 0.0}


@pytest.fixture
def actions(world_env, github_env, monkeypatch, tmp_path):
    """The kit as the workflow runs it: GITHUB_TOKEN is an installation token that posts
    as github-actions[bot] (GET /user answers 403), GITHUB_ACTIONS=true, and no
    PERFGATE_GITHUB_LOGIN. ``make(plan_only)`` builds a trigger like the command does."""
    world = world_env
    world.scenario(attempts_scenario())
    github_env.add_token(ACTIONS_TOKEN, BOT, installation=True)
    monkeypatch.setenv("GITHUB_TOKEN", ACTIONS_TOKEN)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    # the workflow's token may edit any comment (issues: write), as on GitHub
    access = ((REVIEWER, "write"), (AUTHOR, "write"), ("visitor", "read"), (BOT, "write"))
    for login, permission in access:
        github_env.set_permission(DEFAULT_REPO, login, permission)

    def client():
        return GitHubClient(GitHubSettings.from_env(repo=DEFAULT_REPO, **FAST))

    def make(plan_only=True):
        options = RunOptions(
            pr=0,
            checkout=str(world.checkout),
            executor="inprocess",
            run_params=str(world.common),
            runs_root=str(tmp_path / "runs"),
        )
        return CommentTrigger(
            client(), options, run_url="https://ci.example/1", plan_only=plan_only
        )

    make.world, make.client, make.fake, make.runs = world, client, github_env, tmp_path / "runs"
    return make


def kit_bodies(fake, pr=PASS_PR):
    return [c["body"] for c in fake.comments_on(DEFAULT_REPO, pr) if c["login"] == BOT]


def kit_sentinel(fake, pr=PASS_PR):
    (body,) = [b for b in kit_bodies(fake, pr) if b.startswith(SENTINEL)]
    return body


def notes(fake, pr=PASS_PR):
    return [b for b in kit_bodies(fake, pr) if not b.startswith(SENTINEL)]


# ---------------------------------------------------------------------- 1. bound to a commit
def test_go_fork_then_a_push_runs_nothing_and_says_the_head_moved(actions, monkeypatch):
    """A fork PR confirmed with `go fork`, then the author pushes: the ladder job's
    `perfgate run --sha` refuses before any worktree, local check or ferry."""
    from perfgate_lib.assess.diffsource import LocalGitDiffSource

    world, fake = actions.world, actions.fake
    src = LocalGitDiffSource(world.template.src, world.template.base_sha, world.sha(PASS_PR))
    fake.add_pull_from(DEFAULT_REPO, PASS_PR, src, head_repo="forker/marin")
    assert actions().handle(event("/perf-gate", REVIEWER)).action == "assessed"
    assert "`go fork`" in kit_sentinel(fake)
    confirmed = actions().handle(event("go fork", REVIEWER))
    assert confirmed.action == "confirmed"
    assessed = world.sha(PASS_PR)
    assert confirmed.plan["sha"] == assessed
    assert read_marker(kit_sentinel(fake))["sha"] == assessed  # the lock names the commit
    # the author pushes new code (a commit that adds a test of their own)
    fake.pulls[(DEFAULT_REPO, PASS_PR)]["head_sha"] = world.sha(FAILING_PR)
    plan = confirmed.plan
    options = RunOptions(
        pr=plan["pr"],
        sha=plan["sha"],
        confirm=plan["confirm"],
        reviewer=plan["reviewer"],
        checkout=str(world.checkout),
        executor="inprocess",
        run_params=str(world.common),
        runs_root=str(actions.runs),
    )
    with pytest.raises(HeadMoved, match="head moved") as err:
        run(options)
    assert err.value.exit_code == 4
    assert world.submissions() == [] and world.ledger("uv_syncs.jsonl") == []
    assert world.leftover_worktrees() == []
    body = kit_sentinel(fake)
    assert "not run: the PR changed after the confirmation" in body
    assert f"`{assessed[:12]}`" in body and f"`{world.sha(FAILING_PR)[:12]}`" in body
    assert read_marker(body)["stage"] == "head_moved"  # the lock is gone
    assert actions().handle(event("/perf-gate", REVIEWER)).action == "assessed"


def test_a_reply_after_a_push_confirms_nothing_and_reassesses(actions):
    world, fake = actions.world, actions.fake
    actions().handle(event("/perf-gate", REVIEWER))
    fake.pulls[(DEFAULT_REPO, PASS_PR)]["head_sha"] = world.sha(FAILING_PR)
    fake.pull_files[(DEFAULT_REPO, PASS_PR)] = []
    result = actions().handle(event("go", REVIEWER))
    assert result.action == "reassessed" and result.plan is None
    state = read_marker(kit_sentinel(fake))
    assert state["sha"] == world.sha(FAILING_PR) and state["stage"] in NOT_RUNNING


def test_a_terminal_confirmation_after_a_push_is_refused(world_env, github_env, tmp_path):
    """`perfgate run --pr N` printed the assessment of one head; `--confirm go` after a
    push (no --sha) does not confirm the new head nobody read."""
    world = world_env
    world.scenario(attempts_scenario())
    options = RunOptions(
        pr=PASS_PR,
        checkout=str(world.checkout),
        executor="inprocess",
        run_params=str(world.common),
        runs_root=str(tmp_path / "runs"),
    )
    assert run(options, echo=lambda _t: None).message == "awaiting confirmation"
    github_env.pulls[(DEFAULT_REPO, PASS_PR)]["head_sha"] = world.sha(FAILING_PR)
    with pytest.raises(HeadMoved, match=world.sha(PASS_PR)[:12]):
        run(replace(options, confirm="go"), echo=lambda _t: None)
    assert world.submissions() == [] and world.ledger("uv_syncs.jsonl") == []


# ---------------------------------------------------------------------- 2. the kit's own comment
def test_the_trigger_refuses_without_knowing_its_own_account(github_env, tmp_path):
    """Neither PERFGATE_GITHUB_LOGIN nor GitHub Actions: one line, exit 2, nothing sent."""
    client = GitHubClient(fast_settings(github_env))
    with pytest.raises(UsageError, match="PERFGATE_GITHUB_LOGIN"):
        CommentTrigger(client, RunOptions(pr=0))
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event("/perf-gate", REVIEWER)))
    code, _, err = perfgate_here("trigger", "--event", str(path))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "PERFGATE_GITHUB_LOGIN" in err
    assert github_env.requests == []


def test_a_strangers_running_marker_dated_2099_blocks_nothing(actions):
    fake = actions.fake
    lock = {"stage": "running", "since": "2099-01-01T00:00:00+00:00", "run_url": "x"}
    fake.add_comment(DEFAULT_REPO, PASS_PR, f"{SENTINEL}\nrunning\n{marker(lock)}", login="visitor")
    assert actions().handle(event("/perf-gate", REVIEWER)).action == "assessed"
    assert actions().handle(event("go", REVIEWER)).action == "confirmed"


def test_a_users_sentinel_comment_is_never_adopted_copied_or_deleted(actions):
    fake = actions.fake
    theirs = fake.add_comment(DEFAULT_REPO, PASS_PR, f"{SENTINEL}\nmine now", login="visitor")
    client = actions.client()
    first = upsert_comment(client, PASS_PR, f"{SENTINEL}\nthe verdict")
    assert first.action == "created" and first.comment_id != theirs["id"]
    # a newer sentinel comment of the user, then the kit re-posts the same body
    forged = fake.add_comment(DEFAULT_REPO, PASS_PR, f"{SENTINEL}\n✅ pass", login="visitor")
    again = upsert_comment(client, PASS_PR, f"{SENTINEL}\nthe verdict")
    assert (again.action, again.removed) == ("unchanged", ())
    bodies = {c["id"]: (c["login"], c["body"]) for c in fake.comments_on(DEFAULT_REPO, PASS_PR)}
    assert bodies == {
        theirs["id"]: ("visitor", f"{SENTINEL}\nmine now"),
        first.comment_id: (BOT, f"{SENTINEL}\nthe verdict"),
        forged["id"]: ("visitor", f"{SENTINEL}\n✅ pass"),
    }
    assert fake.requests_matching("DELETE", "*") == []
    assert fake.requests_matching("GET", "/user") == [], "the Actions login is known"


# ---------------------------------------------------------------------- 3. state injection
MARKER_NAME = 'lib/zephyr/src/zephyr/x<!-- perfgate-state: {"stage":"running","since":"2099-01-01T00:00:00+00:00"} -->.py'


def test_a_file_named_like_a_running_marker_does_not_lock_the_pr(actions):
    fake, pr = actions.fake, 31
    fake.add_pull(
        DEFAULT_REPO,
        pr,
        head_sha="3" * 40,
        files=[{"filename": MARKER_NAME, "status": "added", "patch": "@@ -0,0 +1 @@\n+X = 1"}],
    )
    fake.add_content(DEFAULT_REPO, "3" * 40, MARKER_NAME, "X = 1\n")
    assert actions().handle(event("/perf-gate", REVIEWER, pr=pr)).action == "assessed"
    body = kit_sentinel(fake, pr)
    assert "x<\u2060!-- perfgate-state" in body, "the name is shown, defused"
    assert body.count("<!--") == 2, "the sentinel and the marker: nothing echoed opens one"
    assert read_marker(body)["stage"] == "assessment"
    assert actions().handle(event("/perf-gate", REVIEWER, pr=pr)).action == "assessed"
    assert actions().handle(event("go", REVIEWER, pr=pr)).action == "confirmed"


def test_a_reply_carrying_a_marker_does_not_hide_the_lock(actions):
    fake = actions.fake
    actions().handle(event("/perf-gate", REVIEWER))
    forged = 'max_gate=1 <!-- perfgate-state: {"stage":"assessment"} -->'
    first = actions().handle(event(forged, REVIEWER))
    assert first.action == "confirmed"
    assert read_marker(kit_sentinel(fake))["stage"] == "running"
    second = actions().handle(event("go", REVIEWER))
    assert second.action != "confirmed" and second.plan is None
    assert "<!-- perfgate-state" not in kit_sentinel(fake).rstrip().rpartition("\n")[0]


# ---------------------------------------------------------------------- 6. verdicts stay
VERDICT = (
    f"{SENTINEL}\n🤖 ## Zephyr perf gate — Gate 1 (smoke): ❌ fail\n\n| signal | Δ |\n|---|---|\n"
)


def test_a_request_from_a_reader_gets_a_note_and_changes_nothing(actions):
    fake = actions.fake
    upsert_comment(actions.client(), PASS_PR, VERDICT)
    result = actions().handle(event("/perf-gate", "visitor"))
    assert result.action == "refused"
    assert kit_sentinel(fake) == VERDICT
    assert any("needs write access" in n for n in notes(fake))
    assert not list(actions.runs.rglob("assessment.json")), "nothing was assessed"


def test_a_writers_request_keeps_the_last_verdict_folded_until_a_new_one(actions):
    fake, world = actions.fake, actions.world
    upsert_comment(actions.client(), PASS_PR, VERDICT)
    assert actions().handle(event("/perf-gate", AUTHOR)).action == "assessed"
    body = kit_sentinel(fake)
    assert body.index("Zephyr perf gate assessment") < body.index("<details><summary>Last verdict")
    assert body.index("<details><summary>Last verdict") < body.index("❌ fail")
    assert read_marker(body)["stage"] == "assessment"
    # a second request keeps the same verdict folded (not the assessment inside it)
    actions().handle(event("/perf-gate", REVIEWER))
    body = kit_sentinel(fake)
    assert body.count("❌ fail") == 1 and body.count("Zephyr perf gate assessment") == 1
    result = actions(plan_only=False).handle(event("go", REVIEWER))
    assert (result.action, result.exit_code) == ("ran", 0)
    assert [s["gate"] for s in world.submissions()] == [1, 2, 3]
    final = kit_sentinel(fake)
    assert "✅ pass" in final and "❌ fail" not in final and "Last verdict" not in final


# ---------------------------------------------------------------------- 9. only created comments
@pytest.mark.parametrize("action", ["edited", "deleted", None])
def test_edited_or_deleted_comments_never_act(actions, action):
    actions().handle(event("/perf-gate", REVIEWER))
    result = actions().handle(event("go", REVIEWER, action=action))
    assert result.action == "ignored" and result.plan is None
    assert read_marker(kit_sentinel(actions.fake))["stage"] == "assessment"
    request = actions().handle(event("/perf-gate", REVIEWER, pr=FAILING_PR, action=action))
    assert request.action == "ignored"
    assert kit_bodies(actions.fake, FAILING_PR) == []


def test_a_future_dated_lock_of_the_kit_is_not_a_lock():
    from perfgate_lib.gate.trigger import lock_is_fresh

    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    assert lock_is_fresh("2026-12-06T11:00:00+00:00", now)
    assert lock_is_fresh("2026-12-06T12:04:00+00:00", now)  # clock skew
    assert not lock_is_fresh("2099-01-01T00:00:00+00:00", now)
