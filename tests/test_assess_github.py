"""The GitHub diff source (real PyGithub against the fake GitHub server)."""

from __future__ import annotations

import json

import pytest

from perfgate_lib.assess import assess_source
from perfgate_lib.cli import main
from perfgate_lib.confirm import apply_reply
from perfgate_lib.diffsource import GitHubDiffSource, LocalGitDiffSource
from perfgate_lib.errors import GitHubError, UsageError
from tests.fakes.github_server import DEFAULT_REPO
from tests.marin_layout import ZSRC

pytest_plugins = ("tests.marin_fixtures", "tests.fakes.github_fixtures")

SHUFFLE = f"{ZSRC}/shuffle.py"
COUNTERS = f"{ZSRC}/counters.py"
_GH_STATUS = {"deleted": "removed"}


def seed_pull(fake, repo, number: int, *, extra_docs: int = 0, head_repo: str | None = None):
    """Serve the local ``main...feature`` diff as PR ``number``: files and contents."""
    src = LocalGitDiffSource(repo.root, "main", "feature")
    files = []
    for f in src.files():
        item = {
            "filename": f.path,
            "status": _GH_STATUS.get(f.status, f.status),
            "additions": f.additions,
            "deletions": f.deletions,
        }
        if f.patch is not None:
            item["patch"] = f.patch
        if f.old_path:
            item["previous_filename"] = f.old_path
        files.append(item)
        for path, side, sha in (
            (f.base_path, "base", src.base_sha),
            (f.head_path, "head", src.head_sha),
        ):
            text = src.read_text(path, side) if path else None
            if text is not None:
                fake.add_content(DEFAULT_REPO, sha, path, text)
    files += [
        {
            "filename": f"docs/page{i:03d}.md",
            "status": "added",
            "additions": 1,
            "patch": "@@ -0,0 +1 @@\n+x",
        }
        for i in range(extra_docs)
    ]
    fake.add_pull(
        DEFAULT_REPO,
        number,
        head_sha=src.head_sha,
        base_sha=src.base_sha,
        head_repo=head_repo,
        files=files,
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
    assert comparable(remote.to_json()) == comparable(assess_source(local).to_json())
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


def test_unknown_pr_is_a_github_error(fake_github, kit_client):
    with pytest.raises(GitHubError, match="PR #404"):
        GitHubDiffSource(404, DEFAULT_REPO, client=kit_client)


def test_cli_assesses_a_pr_from_the_environment(repo, github_env, capsys):
    repo.edit(SHUFFLE, '"""Stable hash routing of a key to a shard."""', '"""Route a key."""')
    repo.commit()
    seed_pull(github_env, repo, 11)
    with pytest.raises(SystemExit) as exit_info:
        main(["assess", "--pr", "11", "--json"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    data = json.loads(out)
    assert data["max_gate"] == "skip" and data["source"] == f"{DEFAULT_REPO}#11"
    assert github_env.token not in out
