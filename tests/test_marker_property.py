"""Property tests (hypothesis): whatever strangers post and however files and replies are
named, :func:`read_marker` returns only the state the kit wrote, and echoed text never
opens an HTML comment in what the kit posts. One half is pure (the kit's renderers), the
other goes through the fake GitHub with real PyGithub."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfgate_lib import SENTINEL
from perfgate_lib.assess.render import render_assessment_table
from perfgate_lib.gate.trigger import (
    NOT_VERDICTS,
    VERDICT_END,
    VERDICT_START,
    kit_body,
    kit_state,
    marker,
    post_state,
    read_marker,
    standing_verdict,
)
from perfgate_lib.io.github import GitHubClient
from perfgate_lib.mdtext import md_code, md_escape, md_fence
from tests.fakes.github_kit import fast_settings
from tests.fakes.github_server import DEFAULT_REPO, FakeGitHub
from tests.fakes.marin_world import assessment_json

PIECES = [
    "<!--",
    "-->",
    "--!>",
    "<!-- perfgate-state: ",
    '{"stage":"running","since":"2099-01-01T00:00:00+00:00"}',
    '{"stage":"assessment"}',
    SENTINEL,
    VERDICT_START,
    VERDICT_END,
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\x85",
    "`",
    "``",
    "|",
    "<",
    "!",
    "-",
    ">",
    " ",
    "\\",
]
hostile = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=12).map("".join)
values = st.none() | st.booleans() | st.integers() | st.text(max_size=20) | hostile
states = st.dictionaries(st.text(max_size=8) | hostile, values, max_size=4)
FAST = settings(max_examples=150, deadline=None, derandomize=True)  # same cases every run


def kit_text(names: list[str], reply: str) -> str:
    """Markdown the way the trigger builds it: the real assessment table of files named
    ``names``, a reply echoed in a code span and as text, a fenced block."""
    data = assessment_json()
    template = next(iter(data["per_file"].values()))
    data["per_file"] = {name: dict(template, summary=f"changed `{name}`") for name in names}
    table = render_assessment_table(data)
    return (
        f"🤖 ## head\n\n{table}\n\nreply {md_code(reply)} / {md_escape(reply)}\n\n{md_fence(reply)}"
    )


@FAST
@given(names=st.lists(hostile, min_size=1, max_size=3, unique=True), reply=hostile, state=states)
def test_echoed_text_never_opens_an_html_comment_and_the_marker_reads_back(names, reply, state):
    body = kit_body(kit_text(names, reply), state)
    assert read_marker(body) == json.loads(json.dumps(state))
    # the only comment openers: the sentinel (first line) and the marker (last line)
    assert body.count("<!") == 2
    assert body.startswith(SENTINEL + "\n") and body.rstrip().endswith(marker(state))


kit_states = st.builds(
    lambda s, stage: {**s, "stage": stage}, states, st.sampled_from(NOT_VERDICTS)
)


@FAST
@given(text=hostile, state=kit_states, standing=hostile)
def test_the_folded_verdict_reads_back_and_never_carries_the_state(text, state, standing):
    body = kit_body(md_escape(text), state, standing)
    assert read_marker(body) == json.loads(json.dumps(state))
    folded = standing_verdict(body)
    assert (folded is None) == (not standing.strip().removeprefix(SENTINEL).strip())
    assert VERDICT_END not in (folded or "").splitlines()
    assert read_marker(folded) is None, "a folded verdict carries no state"


@FAST
@given(body=hostile | st.text())
def test_read_marker_of_any_text_is_a_mapping_or_none(body):
    state = read_marker(body)
    assert state is None or isinstance(state, dict)
    if state is not None:  # only ever from the last line
        assert read_marker(body.rstrip().rpartition("\n")[2]) == state


# ---------------------------------------------------------------------- through the fake GitHub
@pytest.fixture(scope="module")
def github():
    with FakeGitHub() as fake:
        fake.add_repo(DEFAULT_REPO)
        client = GitHubClient(fast_settings(fake, login="perfgate-bot"))
        yield fake, client, itertools.count(1)


strangers = st.lists(
    st.tuples(
        st.sampled_from(["mallory", "perfgate-bot-fan", "github-actions", "author"]),
        st.builds(lambda head, m, tail: head + m + tail, hostile, st.sampled_from(PIECES), hostile)
        | st.builds(lambda s, t: f"{SENTINEL}\n{t}\n{marker(s)}", states, hostile),
    ),
    max_size=4,
)


@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    before=strangers,
    after=strangers,
    names=st.lists(hostile, min_size=1, max_size=2, unique=True),
    reply=hostile,
    state=states,
    kit_posts=st.booleans(),
)
def test_through_github_only_the_kits_own_comment_gives_state(
    github, before, after, names, reply, state, kit_posts
):
    fake, client, numbers = github
    pr = next(numbers)
    fake.add_pull(DEFAULT_REPO, pr)
    for login, body in before:
        fake.add_comment(DEFAULT_REPO, pr, body, login=login)
    if kit_posts:
        post_state(client, pr, kit_text(names, reply), state)
    for login, body in after:
        fake.add_comment(DEFAULT_REPO, pr, body, login=login)
    comment, read = kit_state(client, pr)
    if kit_posts:
        assert read == json.loads(json.dumps(state))
        assert comment.user.login == "perfgate-bot"
    else:
        assert (comment, read) == (None, None)
    theirs = [c for c in fake.comments_on(DEFAULT_REPO, pr) if c["login"] != "perfgate-bot"]
    assert [(c["login"], c["body"]) for c in theirs] == [*before, *after], "never touched"
