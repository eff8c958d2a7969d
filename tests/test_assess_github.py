"""The GitHub diff source (real PyGithub against the fake GitHub server)."""

from __future__ import annotations

import json

import pytest

from perfgate_lib.assess.assessment import assess_source
from perfgate_lib.assess.confirm import apply_reply
from perfgate_lib.assess.diffsource import GitHubDiffSource, LocalGitDiffSource
from perfgate_lib.errors import GitHubError, UsageError
from tests.cli_helpers import perfgate_here
from tests.fakes.github_server import DEFAULT_REPO
from tests.marin_layout import ZSRC

pytest_plugins = ("tests.marin_fixtures", "tests.fakes.github_fixtures")

SHUFFLE = f"{ZSRC}/shuffle.py"
COUNTERS = f"{ZSRC}/counters.py"


def seed_pull(
    fake,
    repo,
    number: int,
    *,
    extra_docs: int = 0,
    head_repo: str | None = None,
    base: str = "main",
):
    """Serve the local ``base...feature`` diff as PR ``number``: files, contents at the merge
    base and head, and the base tip as the PR's ``base.sha``."""
    src = LocalGitDiffSource(repo.root, base, "feature")
    docs = [
        {
            "filename": f"docs/page{i:03d}.md",
            "status": "added",
            "additions": 1,
            "patch": "@@ -0,0 +1 @@\n+x",
        }
        for i in range(extra_docs)
    ]
    fake.add_pull_from(
        DEFAULT_REPO,
        number,
        src,
        base_sha=repo.git("rev-parse", base),
        head_repo=head_repo,
        extra_files=docs,
    )
    return src


def comparable(data: dict) -> dict:
    data = dict(data)
    data.pop("source")
    data["scope"] = {
        k: [p for p in v if not p.startswith("docs/")] for k, v in data["scope"].items()
    }
    data["scope"] = {k: v for k, v in data["scope"].items() if v}
    return data


def test_same_assessment_as_the_local_checkout_over_several_pages(repo, fake_github, kit_client):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.edit(COUNTERS, '"""One line for logs."""', '"""One line."""')
    repo.edit(f"{ZSRC}/readers.py", "import json\n", "import json  # stdlib\n")
    repo.write(f"{ZSRC}/spill.py", "SPILL_BYTES = 1 << 30\n")
    repo.delete(f"{ZSRC}/external_sort.py")
    repo.edit("lib/zephyr/tests/test_counters.py", 'increment("a")', 'increment("b")')
    repo.commit()
    local = seed_pull(fake_github, repo, 7, extra_docs=250)

    source = GitHubDiffSource(7, DEFAULT_REPO, client=kit_client)
    remote = assess_source(source)

    assert len(source.files()) == len(local.files()) + 250
    pages = fake_github.requests_matching("GET", "/repos/*/pulls/7/files")
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]
    here = assess_source(local)
    spill = f"{ZSRC}/spill.py"
    # The fake serves no head tarball: the remote source cannot search the head tree, so a
    # new constant's readers are unknown and it stays a memory yes; the checkout finds none.
    assert remote.per_file[spill].memory and not here.per_file[spill].memory
    assert "nothing in the head tree calls or reads" in "\n".join(
        here.per_file[spill].evidence["memory"]
    )
    without = [comparable(a.to_json()) for a in (remote, here)]
    for data in without:
        data["per_file"].pop(spill), data.pop("rationale")
    assert without[0] == without[1]
    assert remote.source == f"{DEFAULT_REPO}#7" and not remote.is_fork
    assert remote.max_gate == "3" and remote.per_file[f"{ZSRC}/readers.py"].trivial

    fetched = {
        r.path.split("/contents/", 1)[1]
        for r in fake_github.requests_matching("GET", "/repos/*/contents/*")
    }
    assert fetched == {
        SHUFFLE,
        COUNTERS,
        f"{ZSRC}/readers.py",
        f"{ZSRC}/spill.py",
        f"{ZSRC}/external_sort.py",
    }


def test_fork_pr_is_flagged_and_needs_explicit_confirmation(repo, fake_github, kit_client):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.commit()
    seed_pull(fake_github, repo, 8, head_repo="stranger/marin")
    a = assess_source(GitHubDiffSource(8, DEFAULT_REPO, client=kit_client))
    assert a.is_fork and a.fork_repo == "stranger/marin"
    assert "untrusted code on the cluster" in a.flags[0]
    with pytest.raises(UsageError, match="fork"):
        apply_reply(a, "go")
    assert apply_reply(a, "go fork").confirmation["fork_confirmed"] is True


def test_removals_and_moves_without_a_searchable_head_tree_are_not_trivial(
    repo, fake_github, kit_client
):
    text = repo.read(COUNTERS)
    start = text.index("def _legacy_report(")
    end = text.index("def describe(")
    repo.write(COUNTERS, text[:start] + text[end:], dedent=False)
    repo.move(f"{ZSRC}/readers.py", f"{ZSRC}/jsonl.py")
    repo.commit()
    seed_pull(fake_github, repo, 9)
    a = assess_source(GitHubDiffSource(9, DEFAULT_REPO, client=kit_client))
    # The fake serves no tarball of the head: callers of removed or moved names cannot be
    # checked, so neither change is called trivial (a local checkout can: see test_assess).
    for path in (COUNTERS, f"{ZSRC}/jsonl.py"):
        f = a.per_file[path]
        assert not f.trivial
        assert "callers are unknown" in "\n".join(f.evidence["trivial"])
    assert a.per_file[f"{ZSRC}/jsonl.py"].summary == (
        f"moved from {ZSRC}/readers.py (no perf-relevant pattern)"
    )
    assert fake_github.requests_matching("GET", "/repos/*/tarball/*")


def moved_base(repo) -> tuple[str, str]:
    """A PR that only rewords a docstring in shuffle.py, branched before main raised the
    scatter buffer: (merge base, base tip)."""
    merge_base = repo.git("rev-parse", "main")
    repo.edit(SHUFFLE, '"""Stable hash routing of a key to a shard."""', '"""Route a key."""')
    repo.commit("reword")
    repo.git("checkout", "-q", "main")
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "32 * 1024 * 1024")
    tip = repo.commit("main moves on")
    repo.git("checkout", "-q", "feature")
    return merge_base, tip


def test_base_texts_are_read_at_the_merge_base_not_the_moved_base_tip(
    repo, fake_github, kit_client
):
    merge_base, tip = moved_base(repo)
    local = seed_pull(fake_github, repo, 12)
    # Were shuffle.py read at the tip, the buffer change on main would look like the PR's.
    fake_github.add_content(DEFAULT_REPO, tip, SHUFFLE, repo.git("show", f"{tip}:{SHUFFLE}"))
    source = GitHubDiffSource(12, DEFAULT_REPO, client=kit_client)
    a = assess_source(source)
    assert (source.base_sha, local.base_sha) == (merge_base, merge_base)
    assert source.notes == []
    assert fake_github.requests_matching("GET", f"/repos/*/compare/{tip}...{local.head_sha}")
    refs = {r.query["ref"] for r in fake_github.requests_matching("GET", "/repos/*/contents/*")}
    assert refs == {merge_base, local.head_sha}
    assert a.per_file[SHUFFLE].trivial and a.max_gate == "skip"
    assert comparable(a.to_json()) == comparable(assess_source(local).to_json())


def test_compare_failure_falls_back_to_the_base_tip_with_a_note(repo, github_env):
    from perfgate_lib.assess.run import run_assess

    merge_base, tip = moved_base(repo)
    seed_pull(github_env, repo, 13)
    github_env.add_content(DEFAULT_REPO, tip, SHUFFLE, repo.git("show", f"{tip}:{SHUFFLE}"))
    github_env.inject("GET", "/repos/*/compare/*", 404)
    result = run_assess(pr=13, repo=DEFAULT_REPO)
    a = result.assessment
    assert a.base_sha == tip != merge_base
    note = (
        f"GitHub's compare API failed (HTTP 404): base texts were read at the base tip {tip[:12]}"
    )
    assert a.flags[-1].startswith(note)
    assert note in result.block  # the reviewer sees it
    # ...because reading at the tip shows main's buffer change as the PR's.
    assert a.per_file[SHUFFLE].memory and a.max_gate == "3"


def test_fake_compare_answers_the_seeded_merge_base(fake_github, github_client):
    fake_github.set_merge_base(DEFAULT_REPO, "b" * 40, "h" * 40, "m" * 40)
    repo = github_client.get_repo(DEFAULT_REPO)
    seeded = repo.compare("b" * 40, "h" * 40)
    assert seeded.merge_base_commit.sha == "m" * 40
    assert (seeded.status, seeded.ahead_by, seeded.behind_by) == ("diverged", 1, 1)
    assert list(seeded.files) == [] and seeded.total_commits == 1
    default = repo.compare("b" * 40, "c" * 40)
    assert default.merge_base_commit.sha == "b" * 40
    assert (default.status, default.ahead_by, default.behind_by) == ("ahead", 1, 0)


def test_unknown_pr_is_a_github_error(fake_github, kit_client):
    with pytest.raises(GitHubError, match="PR #404"):
        GitHubDiffSource(404, DEFAULT_REPO, client=kit_client)


def test_cli_assesses_a_pr_from_the_environment(repo, github_env):
    repo.edit(SHUFFLE, '"""Stable hash routing of a key to a shard."""', '"""Route a key."""')
    repo.commit()
    seed_pull(github_env, repo, 11)
    code, out, _ = perfgate_here("assess", "--pr", "11", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["max_gate"] == "skip" and data["source"] == f"{DEFAULT_REPO}#11"
    assert github_env.token not in out
