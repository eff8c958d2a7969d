"""Real PyGithub against the fake GitHub server: the fake speaks the API faithfully."""

from __future__ import annotations

import github
import pytest
import requests

from tests.fakes.github_server import DEFAULT_REPO, make_client, make_zip

pytest_plugins = ("tests.fakes.github_fixtures",)


def test_pull_files_paginate_with_link_headers(fake_github, github_client):
    files = [{"filename": "lib/zephyr/src/zephyr/f0.py", "patch": "@@ -1 +1 @@\n-a\n+b0"}]
    files = [*files, *({"filename": f"docs/d{i}.md", "status": "added"} for i in range(40))]
    files.append({"filename": "new.py", "status": "renamed", "previous_filename": "old.py"})
    fake_github.add_pull(DEFAULT_REPO, 7, head_repo="forker/marin", head_ref="topic", files=files)

    pull = github_client.get_repo(DEFAULT_REPO).get_pull(7)
    got = list(pull.get_files())

    assert [f.filename for f in got] == [f["filename"] for f in files]
    assert got[0].patch.endswith("+b0") and got[-1].previous_filename == "old.py"
    assert got[1].patch is None and got[-1].status == "renamed"
    assert pull.head.repo.full_name == "forker/marin" and pull.head.ref == "topic"
    assert pull.base.sha == "b" * 40
    pages = fake_github.requests_matching("GET", "/repos/*/pulls/7/files")
    assert [r.query.get("page") for r in pages] == [None, "2"]


def test_contents_by_ref_and_missing_file(fake_github, github_client):
    fake_github.add_content(DEFAULT_REPO, "abc123", "lib/zephyr/AGENTS.md", "héllo\n" * 50)
    repo = github_client.get_repo(DEFAULT_REPO)
    assert (
        repo.get_contents("lib/zephyr/AGENTS.md", ref="abc123").decoded_content
        == ("héllo\n" * 50).encode()
    )
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("lib/zephyr/AGENTS.md", ref="other")


def test_comments_create_list_edit_delete(fake_github, github_client):
    fake_github.add_pull(DEFAULT_REPO, 9)
    for i in range(65):
        fake_github.add_comment(DEFAULT_REPO, 9, f"chatter {i}")
    pull = github_client.get_repo(DEFAULT_REPO).get_pull(9)

    mine = pull.create_issue_comment("<!-- s -->\nhello")
    assert mine.user.login == "perfgate-bot"
    listed = list(pull.get_issue_comments())
    assert len(listed) == 66 and listed[-1].id == mine.id
    assert len(fake_github.requests_matching("GET", "/repos/*/issues/9/comments")) == 3

    listed[-1].edit("<!-- s -->\nbye")
    assert fake_github.comments_on(DEFAULT_REPO, 9)[-1]["body"] == "<!-- s -->\nbye"
    listed[-1].delete()
    assert len(fake_github.comments_on(DEFAULT_REPO, 9)) == 65
    with pytest.raises(github.GithubException) as err:  # not the bot's comment, no write access
        listed[0].edit("x")
    assert err.value.status == 403


def test_user_permission_and_bad_token(fake_github, github_client):
    fake_github.set_permission(DEFAULT_REPO, "reviewer", "write")
    repo = github_client.get_repo(DEFAULT_REPO)
    assert github_client.get_user().login == "perfgate-bot"
    assert repo.get_collaborator_permission("reviewer") == "write"
    assert repo.get_collaborator_permission("passerby") == "read"
    with pytest.raises(github.BadCredentialsException):
        make_client(fake_github, token="nope").get_repo(DEFAULT_REPO)


def test_faults_500_then_success_and_secondary_rate_limit(fake_github, github_client):
    fake_github.inject("GET", "/repos/*/*", 500)
    fake_github.inject_secondary_rate_limit("GET", "/repos/*/*")
    assert github_client.get_repo(DEFAULT_REPO).full_name == DEFAULT_REPO
    assert len(fake_github.requests_matching("GET", "/repos/*/*")) == 3

    fake_github.inject("GET", "/repos/*/*", 404, times=1)
    with pytest.raises(github.UnknownObjectException):
        github_client.get_repo(DEFAULT_REPO)


def test_workflow_runs_filters_and_artifact_redirect(fake_github, github_client):
    wf = "marin-canary-datakit-tier1.yaml"
    zipped = make_zip({"perf-report.json": '{"wall_seconds_total": 1.0}'})
    old = fake_github.add_run(DEFAULT_REPO, wf, artifacts={"datakit-tier1-perf-report": zipped})
    fake_github.add_run(DEFAULT_REPO, wf, event="workflow_dispatch")
    fake_github.add_run(DEFAULT_REPO, wf, branch="dev")
    fake_github.add_run(DEFAULT_REPO, wf, conclusion="failure")
    new = fake_github.add_run(DEFAULT_REPO, wf)

    workflow = github_client.get_repo(DEFAULT_REPO).get_workflow(wf)
    runs = list(workflow.get_runs(branch="main", event="schedule", status="success"))
    assert [r.id for r in runs] == [new["id"], old["id"]]
    assert list(runs[0].get_artifacts()) == []
    (artifact,) = runs[1].get_artifacts()
    assert artifact.name == "datakit-tier1-perf-report" and not artifact.expired

    headers = {"Authorization": f"token {fake_github.token}"}
    first = requests.get(artifact.archive_download_url, headers=headers, allow_redirects=False)
    assert first.status_code == 302
    assert first.headers["Location"].startswith(fake_github.storage_url)
    # requests drops Authorization when the redirect changes host:port
    assert requests.get(artifact.archive_download_url, headers=headers).content == zipped
    assert fake_github.storage_requests[-1].headers.get("Authorization") is None
    leaked = requests.get(first.headers["Location"], headers=headers)
    assert leaked.status_code == 400  # storage refuses a forwarded token, like blob storage


def test_enterprise_prefix():
    from tests.fakes.github_server import FakeGitHub

    with FakeGitHub(prefix="/api/v3") as fake:
        fake.add_repo("o/r")
        assert make_client(fake).get_repo("o/r").url == fake.url + "/repos/o/r"


def test_an_installation_token_posts_as_its_bot_but_cannot_read_user(fake_github):
    """Like a workflow's GITHUB_TOKEN: comments come back as github-actions[bot] (type Bot),
    GET /user answers 403 "Resource not accessible by integration"."""
    fake_github.add_token("ghs_install", "github-actions[bot]", installation=True)
    fake_github.add_pull(DEFAULT_REPO, 9)
    client = make_client(fake_github, token="ghs_install", retries=0)
    comment = client.get_repo(DEFAULT_REPO).get_issue(9).create_comment("hello")
    assert (comment.user.login, comment.user.type) == ("github-actions[bot]", "Bot")
    with pytest.raises(github.GithubException) as err:
        _ = client.get_user().login
    assert err.value.status == 403 and "integration" in err.value.data["message"]
    assert make_client(fake_github).get_user().login == "perfgate-bot"  # others unchanged
