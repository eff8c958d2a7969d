"""perfgate_lib.io.github and ``perfgate post``: real PyGithub against the fake GitHub server."""

from __future__ import annotations

import re
import threading

import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.errors import GitHubError, UsageError
from perfgate_lib.io import storage
from perfgate_lib.io.github import (
    CommentTooLong,
    GitHubClient,
    GitHubSettings,
    MissingToken,
    check_body,
    upsert_comment,
)
from tests.cli_helpers import perfgate_here
from tests.fakes.github_kit import fast_settings
from tests.fakes.github_server import DEFAULT_REPO, make_zip

pytest_plugins = ("tests.fakes.github_fixtures",)

PR = 4242


def sentinel_bodies(fake, pr=PR):
    return [c["body"] for c in fake.comments_on(DEFAULT_REPO, pr) if c["body"].startswith(SENTINEL)]


def writes(fake):
    return [r for r in fake.requests if r.method in ("POST", "PATCH", "DELETE")]


# ---------------------------------------------------------------------- settings
def test_settings_from_env_prefers_github_token_and_hides_it():
    env = {"GITHUB_TOKEN": "tok-a", "GH_TOKEN": "tok-b", "GITHUB_API_URL": "http://h:1/api/v3/"}
    s = GitHubSettings.from_env(env=env)
    assert (s.token, s.token_var, s.api_url, s.repo) == (
        "tok-a",
        "GITHUB_TOKEN",
        "http://h:1/api/v3",
        "marin-community/marin",
    )
    assert "tok-a" not in repr(s)
    s = GitHubSettings.from_env(repo="me/fork", env={"GH_TOKEN": "tok-b"})
    assert (s.token_var, s.api_url, s.repo) == ("GH_TOKEN", "https://api.github.com", "me/fork")
    assert GitHubSettings.from_env(env={}).token is None
    with pytest.raises(UsageError, match="OWNER/NAME"):
        GitHubSettings.from_env(repo="not-a-repo", env={})


# ---------------------------------------------------------------------- upsert
def test_upsert_creates_then_updates_in_place(fake_github, kit_client):
    fake_github.add_pull(DEFAULT_REPO, PR)
    first = upsert_comment(kit_client, PR, f"{SENTINEL}\n🤖 gate 1")
    again = upsert_comment(kit_client, PR, f"{SENTINEL}\n🤖 gate 1")
    second = upsert_comment(kit_client, PR, f"{SENTINEL}\n🤖 gate 2")
    assert (first.action, again.action, second.action) == ("created", "unchanged", "updated")
    assert first.comment_id == second.comment_id
    assert sentinel_bodies(fake_github) == [f"{SENTINEL}\n🤖 gate 2"]
    assert first.url.endswith(f"#issuecomment-{first.comment_id}")


def test_sentinel_comment_on_page_3_is_patched(fake_github, kit_client):
    fake_github.add_pull(DEFAULT_REPO, PR)
    for i in range(215):
        fake_github.add_comment(DEFAULT_REPO, PR, f"review chatter {i}")
    old = fake_github.add_comment(
        DEFAULT_REPO, PR, f"{SENTINEL}\nold verdict", login="perfgate-bot"
    )
    for i in range(10):
        fake_github.add_comment(DEFAULT_REPO, PR, f"more chatter {i}")

    result = upsert_comment(kit_client, PR, f"{SENTINEL}\nnew verdict")

    assert (result.action, result.comment_id) == ("updated", old["id"])
    lists = fake_github.requests_matching("GET", f"/repos/*/issues/{PR}/comments")
    assert {r.query.get("page") for r in lists} == {None, "2", "3"}
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in writes(fake_github)] == [
        ("PATCH", str(old["id"]))
    ]
    assert sentinel_bodies(fake_github) == [f"{SENTINEL}\nnew verdict"]


def test_only_the_kits_own_comment_when_login_configured(fake_github):
    fake_github.add_pull(DEFAULT_REPO, PR)
    quoted = fake_github.add_comment(
        DEFAULT_REPO, PR, f"{SENTINEL}\nquoted by a human", login="bob"
    )
    ours = fake_github.add_comment(DEFAULT_REPO, PR, f"{SENTINEL}\nold", login="perfgate-bot")

    client = GitHubClient(fast_settings(fake_github, login="perfgate-bot"))
    result = upsert_comment(client, PR, f"{SENTINEL}\nnew")

    assert result.comment_id == ours["id"]
    bodies = {c["id"]: c["body"] for c in fake_github.comments_on(DEFAULT_REPO, PR)}
    assert bodies == {
        quoted["id"]: f"{SENTINEL}\nquoted by a human",
        ours["id"]: f"{SENTINEL}\nnew",
    }


def test_login_auto_asks_github_for_the_tokens_account(fake_github):
    fake_github.add_pull(DEFAULT_REPO, PR)
    fake_github.add_comment(DEFAULT_REPO, PR, f"{SENTINEL}\nby bob", login="bob")
    client = GitHubClient(fast_settings(fake_github, login="auto"))
    result = upsert_comment(client, PR, f"{SENTINEL}\nmine")
    assert result.action == "created"
    assert len(sentinel_bodies(fake_github)) == 2
    assert fake_github.requests_matching("GET", "/user")


def test_two_concurrent_upserts_leave_exactly_one_comment(fake_github):
    fake_github.add_pull(DEFAULT_REPO, PR)
    fake_github.add_comment(DEFAULT_REPO, PR, "a human comment")
    # The race the dedupe must resolve: both runs list the comments before either posts.
    # The fake computes both answers to the first two comment lists before sending either,
    # so neither run can post before both have read the list (no timing involved).
    race = fake_github.barrier("GET", f"/repos/*/issues/{PR}/comments", parties=2, timeout=60)
    clients = {name: GitHubClient(fast_settings(fake_github)) for name in ("run-a", "run-b")}
    results, errors = {}, []

    def run(name):
        try:
            results[name] = upsert_comment(clients[name], PR, f"{SENTINEL}\nverdict from {name}")
        except Exception as exc:  # noqa: BLE001 - a thread's error is re-raised by the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)

    assert not any(t.is_alive() for t in threads)
    assert not errors
    log = [(r.method, r.path) for r in fake_github.requests]
    assert (race.passed, race.broken) == (2, False), log
    # both saw no sentinel comment, so both posted: the race happened
    assert len(fake_github.requests_matching("POST", "/repos/*/issues/*/comments")) == 2, log
    final = [c for c in fake_github.comments_on(DEFAULT_REPO, PR) if c["body"].startswith(SENTINEL)]
    assert len(final) == 1, log
    assert final[0]["body"] in {
        f"{SENTINEL}\nverdict from run-a",
        f"{SENTINEL}\nverdict from run-b",
    }
    assert {r.comment_id for r in results.values()} == {final[0]["id"]}
    assert {r.action for r in results.values()} == {"created"}
    assert len(fake_github.comments_on(DEFAULT_REPO, PR)) == 2  # the human comment stays


def test_duplicates_left_by_an_earlier_race_are_cleaned_up(fake_github, kit_client):
    fake_github.add_pull(DEFAULT_REPO, PR)
    keep = fake_github.add_comment(DEFAULT_REPO, PR, f"{SENTINEL}\nfirst", login="perfgate-bot")
    extra = fake_github.add_comment(DEFAULT_REPO, PR, f"{SENTINEL}\nsecond", login="perfgate-bot")
    result = upsert_comment(kit_client, PR, f"{SENTINEL}\nthird")
    assert result.comment_id == keep["id"] and result.removed == (extra["id"],)
    assert sentinel_bodies(fake_github) == [f"{SENTINEL}\nthird"]


def test_70000_character_body_is_refused_before_sending(fake_github, kit_client):
    fake_github.add_pull(DEFAULT_REPO, PR)
    with pytest.raises(CommentTooLong, match="70,000 characters.*65,536"):
        upsert_comment(kit_client, PR, SENTINEL + "\n" + "x" * (70_000 - len(SENTINEL) - 1))
    assert fake_github.requests == []
    assert check_body("x" * 10).startswith(SENTINEL + "\n")  # sentinel added when missing
    assert len(check_body("y" * (65_536 - len(SENTINEL) - 1))) == 65_536  # exactly at the cap


WAIVER = SENTINEL + "\n🤖 Zephyr perf gate waived by rev (max_gate=skip; docs only): no ferry.\n"


def test_halt_then_waiver_replace_the_same_comment(fake_github, kit_client):
    from perfgate_lib.verdict.render import render_halt

    fake_github.add_pull(DEFAULT_REPO, PR)
    halt = upsert_comment(kit_client, PR, render_halt("abc1234", "pytest", "E assert 1 == 2"))
    waiver = upsert_comment(kit_client, PR, WAIVER)
    assert (halt.action, waiver.action, halt.comment_id) == (
        "created",
        "updated",
        waiver.comment_id,
    )
    assert sentinel_bodies(fake_github) == [WAIVER]


# ---------------------------------------------------------------------- errors and retries
def test_500_then_success_and_secondary_rate_limit_are_retried(fake_github, kit_client):
    fake_github.add_pull(DEFAULT_REPO, PR)
    fake_github.inject("GET", f"/repos/*/issues/{PR}/comments", 502)
    fake_github.inject_secondary_rate_limit("POST", f"/repos/*/issues/{PR}/comments")
    result = upsert_comment(kit_client, PR, f"{SENTINEL}\nbody")
    assert result.action == "created"
    log = [(r.method, r.path) for r in fake_github.requests]
    assert len(fake_github.requests_matching("POST", "/repos/*/issues/*/comments")) == 2, log
    assert len(sentinel_bodies(fake_github)) == 1


def test_persistent_5xx_gives_a_bounded_clear_error(fake_github, kit_client):
    fake_github.add_pull(DEFAULT_REPO, PR)
    fake_github.inject("GET", f"/repos/*/issues/{PR}/comments", 500, times=10)
    with pytest.raises(GitHubError, match=f"marin-community/marin, PR #{PR}.*after 2 retries"):
        upsert_comment(kit_client, PR, f"{SENTINEL}\nbody")
    assert len(fake_github.requests_matching("GET", "/repos/*/issues/*/comments")) == 3


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "token in GITHUB_TOKEN was refused"),
        (403, "token in GITHUB_TOKEN lacks permission"),
        (404, "check the repository and PR number.*GITHUB_TOKEN"),
    ],
)
def test_401_403_404_name_repo_pr_and_token_variable(fake_github, kit_client, status, expected):
    fake_github.add_pull(DEFAULT_REPO, PR)
    fake_github.inject("GET", f"/repos/*/issues/{PR}/comments", status)
    with pytest.raises(GitHubError) as err:
        upsert_comment(kit_client, PR, f"{SENTINEL}\nbody")
    message = str(err.value)
    assert f"repository {DEFAULT_REPO}, PR #{PR}" in message
    assert re.search(expected, message)
    assert fake_github.token not in message
    assert err.value.exit_code == 4


def test_missing_pr_and_bad_token_against_the_real_routes(fake_github):
    bad = GitHubClient(
        fast_settings(fake_github, token="ghp_wrongwrongwrong", token_var="GH_TOKEN")
    )
    fake_github.add_pull(DEFAULT_REPO, PR)
    with pytest.raises(GitHubError, match="token in GH_TOKEN was refused") as err:
        upsert_comment(bad, PR, f"{SENTINEL}\nbody")
    assert "ghp_wrongwrongwrong" not in str(err.value)
    good = GitHubClient(fast_settings(fake_github))
    with pytest.raises(GitHubError, match="PR #999"):
        good.pull(999)
    before = len(fake_github.requests)
    with pytest.raises(MissingToken, match="set GITHUB_TOKEN or GH_TOKEN"):
        GitHubClient(fast_settings(fake_github, token=None, token_var=None))
    assert len(fake_github.requests) == before, "refused before any network call"


# ---------------------------------------------------------------------- PR data, download
def test_pull_files_contents_permission(fake_github, kit_client):
    files = [
        {"filename": f"lib/zephyr/src/zephyr/m{i}.py", "patch": "@@ -1 +1 @@"} for i in range(130)
    ]
    fake_github.add_pull(DEFAULT_REPO, PR, head_sha="f" * 40, head_repo="fork/marin", files=files)
    fake_github.add_content(DEFAULT_REPO, "f" * 40, "lib/zephyr/src/zephyr/m0.py", "x = 1\n")
    fake_github.set_permission(DEFAULT_REPO, "rev", "write")
    pull = kit_client.pull(PR)
    assert (pull.head.sha, pull.head.repo.full_name) == ("f" * 40, "fork/marin")
    assert len(kit_client.pull_files(PR)) == 130
    assert kit_client.file_content("lib/zephyr/src/zephyr/m0.py", "f" * 40) == b"x = 1\n"
    assert kit_client.file_content("missing.py", "f" * 40) is None
    assert kit_client.permission("rev") == "write"
    assert kit_client.authenticated_login() == "perfgate-bot"


def test_download_follows_redirect_without_forwarding_the_token(fake_github, kit_client):
    run = fake_github.add_run(DEFAULT_REPO, "w.yaml", artifacts={"a": make_zip({"f": "hi"})})
    (artifact,) = [a for a in fake_github.artifacts.values() if a["run_id"] == run["id"]]
    url = f"{fake_github.url}/repos/{DEFAULT_REPO}/actions/artifacts/{artifact['id']}/zip"
    assert kit_client.download(url) == artifact["data"]
    (api_request,) = fake_github.requests_matching("GET", "/repos/*/actions/artifacts/*/zip")
    assert api_request.headers["Authorization"] == f"Bearer {fake_github.token}"
    (storage_request,) = fake_github.storage_requests
    assert not any(fake_github.token in v for v in storage_request.headers.values())
    assert "Authorization" not in storage_request.headers


# ---------------------------------------------------------------------- CLI
def test_cli_post_upserts_and_never_prints_the_token(github_env, tmp_path, capsys):
    github_env.add_pull(DEFAULT_REPO, PR)
    body = tmp_path / "comment.md"
    body.write_text(f"{SENTINEL}\n🤖 ## Zephyr perf gate — Gate 1 (smoke)\n")
    code, out, err = perfgate_here("post", "--pr", str(PR), "--body-file", str(body))
    assert code == 0 and out.startswith("created comment")
    code, out, err2 = perfgate_here("post", "--pr", str(PR), "--body-file", str(body), "--json")
    assert code == 0 and '"action": "unchanged"' in out
    assert sentinel_bodies(github_env) == [body.read_text()]
    storage.write_text("memory://bodies/comment.md", f"{SENTINEL}\nfrom memory")
    code, out3, err3 = perfgate_here(
        *["post", "--pr", str(PR), "--body-file", "memory://bodies/comment.md"]
    )
    assert code == 0 and out3.startswith("updated comment")
    assert sentinel_bodies(github_env) == [f"{SENTINEL}\nfrom memory"]
    assert github_env.token not in out + err + err2 + out3 + err3


def test_cli_post_refuses_a_long_body_and_reports_bad_token(
    github_env, tmp_path, capsys, monkeypatch
):
    github_env.add_pull(DEFAULT_REPO, PR)
    body = tmp_path / "big.md"
    body.write_text(SENTINEL + "\n" + "z" * 70_000)
    code, out, err = perfgate_here("post", "--pr", str(PR), "--body-file", str(body))
    assert code == 4 and "65,536" in err and str(body) in err
    assert github_env.requests == []

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_thisTokenIsNotKnown1234567890")
    body.write_text(f"{SENTINEL}\nsmall")
    code, out, err = perfgate_here("post", "--pr", str(PR), "--body-file", str(body))
    assert code == 4 and "GITHUB_TOKEN" in err and f"PR #{PR}" in err
    assert "ghp_thisTokenIsNotKnown1234567890" not in out + err

    code, out, err = perfgate_here(
        *["post", "--pr", str(PR), "--body-file", str(tmp_path / "no.md")]
    )
    assert code == 2 and "no.md" in err


# ---------------------------------------------------------------------- the kit's account
ACTIONS_TOKEN = "ghs_installationTOKENforTheWorkflow0123456789"
BOT = "github-actions[bot]"


def env_settings(fake, **env):
    """Settings as the commands build them (from an environment), without pacing."""
    values = {"GITHUB_API_URL": fake.url, **env}
    return GitHubSettings.from_env(
        env=values, backoff_factor=0.0, seconds_between_writes=0.0, secondary_rate_wait=0.0
    )


def test_under_actions_the_kit_is_github_actions_bot_without_asking(fake_github):
    """GET /user answers 403 for a workflow's installation token: the kit does not ask."""
    fake_github.add_token(ACTIONS_TOKEN, BOT, installation=True)
    fake_github.set_permission(DEFAULT_REPO, BOT, "write")
    fake_github.add_pull(DEFAULT_REPO, PR)
    theirs = fake_github.add_comment(DEFAULT_REPO, PR, f"{SENTINEL}\nby bob", login="bob")
    client = GitHubClient(
        env_settings(fake_github, GITHUB_TOKEN=ACTIONS_TOKEN, GITHUB_ACTIONS="true")
    )
    assert client.configured_login() == BOT
    result = upsert_comment(client, PR, f"{SENTINEL}\nmine")
    assert result.action == "created" and result.comment_id != theirs["id"]
    assert fake_github.requests_matching("GET", "/user") == []
    assert [c["login"] for c in fake_github.comments_on(DEFAULT_REPO, PR)] == ["bob", BOT]


def test_an_installation_token_outside_actions_names_the_variable_to_set(fake_github):
    fake_github.add_token(ACTIONS_TOKEN, BOT, installation=True)
    fake_github.add_pull(DEFAULT_REPO, PR)
    client = GitHubClient(env_settings(fake_github, GITHUB_TOKEN=ACTIONS_TOKEN))
    assert client.configured_login() is None
    with pytest.raises(GitHubError, match="403.*Set PERFGATE_GITHUB_LOGIN"):
        upsert_comment(client, PR, f"{SENTINEL}\nbody")
    assert writes(fake_github) == []


def test_a_token_posting_as_another_account_than_the_kits_is_an_error(fake_github):
    """Under Actions with a personal token but no PERFGATE_GITHUB_LOGIN: the comment comes
    back authored by the token's account, and the kit says which login to configure."""
    fake_github.add_pull(DEFAULT_REPO, PR)
    client = GitHubClient(
        env_settings(fake_github, GITHUB_TOKEN=fake_github.token, GITHUB_ACTIONS="true")
    )
    with pytest.raises(GitHubError, match=r"posted as 'perfgate-bot'.*PERFGATE_GITHUB_LOGIN"):
        upsert_comment(client, PR, f"{SENTINEL}\nbody")


# ---------------------------------------------------------------------- unreachable, no token
UNUSED_TOKEN = "ghp_neverSentAnywhereUseful0123456789"


class ClosingServer:
    """A TCP server that accepts each connection and closes it at once (GitHub's host
    reachable but answering nothing), counting connections. Port chosen by the kernel."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1  # counted before the client can see the connection fail
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_unreachable_github_fails_after_one_retry_naming_the_url():
    """The default settings: one retry of a dropped connection (no backoff), 4 s per try:
    at most 8 s. Before: 5 retries with 0+4+8+16+32 s of backoff (63-66 s)."""
    server = ClosingServer()
    try:
        settings = GitHubSettings.from_env(
            env={"GITHUB_TOKEN": UNUSED_TOKEN, "GITHUB_API_URL": server.url}
        )
        with pytest.raises(GitHubError) as err:
            GitHubClient(settings).pull(PR)
    finally:
        server.close()
    assert f"cannot reach GitHub at {server.url} while reading PR #{PR}" in str(err.value)
    assert server.accepted == 2, "one try and one retry"
    assert settings.unreachable_budget == 8.0 <= 10


def test_a_refused_connection_names_the_url():
    import socket

    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        settings = GitHubSettings.from_env(
            env={"GITHUB_TOKEN": UNUSED_TOKEN, "GITHUB_API_URL": url}
        )
        with pytest.raises(GitHubError, match=f"cannot reach GitHub at {url}"):
            GitHubClient(settings).pull(PR)


def test_commands_name_a_missing_token_before_any_network_call(
    fake_github, tmp_path, capsys, monkeypatch
):
    from tests.conftest import REPO_ROOT

    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.setenv("PERFGATE_GITHUB_LOGIN", "perfgate-bot")
    for var in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    body = tmp_path / "body.md"
    body.write_text(f"{SENTINEL}\nbody")
    event = tmp_path / "event.json"
    event.write_text('{"action": "created"}')
    examples = str(REPO_ROOT / "parameters" / "examples")
    commands = {
        "run": ["run", "--pr", "7", "--runner", "replay", "--replay-dir", examples],
        "baseline": ["baseline", "--gate", "1"],
        "post": ["post", "--pr", "7", "--body-file", str(body)],
        "trigger": ["trigger", "--event", str(event)],
    }
    for name, argv in commands.items():
        code, out, err = perfgate_here(*argv)
        assert code == 4, (name, out, err)
        assert "no GitHub token: set GITHUB_TOKEN or GH_TOKEN" in err, (name, err)
        assert fake_github.url in err, name
    assert fake_github.requests == []


def test_cli_post_names_a_body_file_that_is_a_folder(tmp_path):
    """``--body-file`` naming a folder was an IsADirectoryError crash (exit 4)."""
    code, _, err = perfgate_here("post", "--pr", str(PR), "--body-file", str(tmp_path))
    assert code == 2 and err == f"perfgate: --body-file {tmp_path}: a folder, not a file\n", err


class OddAnswers:
    """An HTTP server answering ``/array`` with a 404 whose JSON body is an array, and
    ``/bad-port`` with a redirect to a port past 65535. Port chosen by the kernel."""

    def __init__(self) -> None:
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                if self.path == "/bad-port":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:99999/artifact.zip")
                    self.end_headers()
                    return
                body = b'["not", "an", "object"]'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("path", "said"), [("/array", "404"), ("/bad-port", "Port out of range")])
def test_an_odd_download_answer_is_a_github_error(path, said):
    server = OddAnswers()
    try:
        settings = GitHubSettings(api_url=server.url, token=UNUSED_TOKEN, retries=0)
        with pytest.raises(GitHubError, match=said) as err:
            GitHubClient(settings).download(server.url + path)
    finally:
        server.close()
    assert UNUSED_TOKEN not in str(err.value)


def test_an_artifact_url_with_no_port_is_a_github_error_and_gets_no_token():
    settings = GitHubSettings(api_url="http://127.0.0.1:1", token=UNUSED_TOKEN, retries=0)
    with pytest.raises(GitHubError, match="downloading an artifact") as err:
        GitHubClient(settings).download("http://127.0.0.1:99999/artifact.zip")
    assert UNUSED_TOKEN not in str(err.value)
