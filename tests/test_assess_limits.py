"""The assessment's bounds (issue 29, problems 7, 8 and 9): a file too deep to parse is
"unsure: all yes" and the rest goes on; a huge diff stops at the file-count limit; a file
name with a line break is read like any other. Real git repositories."""

from __future__ import annotations

import subprocess
import time

import pytest

from perfgate_lib.assess.assessment import assess_source
from perfgate_lib.assess.diffsource import LocalGitDiffSource
from perfgate_lib.io.limits import LimitExceeded, load_limits
from tests.marin_layout import ZSRC

pytest_plugins = ("tests.marin_fixtures", "tests.fakes.github_fixtures")

SHUFFLE = f"{ZSRC}/shuffle.py"
DEEP = f"{ZSRC}/deep.py"


def comment_only(repo) -> None:
    repo.write(SHUFFLE, repo.read(SHUFFLE) + "# a note\n", dedent=False)


@pytest.mark.parametrize("terms", [2_000, 100_000], ids=["4KB-2000-terms", "100000-terms"])
@pytest.mark.parametrize("status", ["added", "modified"])
def test_a_file_too_deep_to_parse_is_unsure_and_the_rest_goes_on(repo, terms, status):
    deep = "X = " + "+".join(["1"] * terms) + "\n"
    if status == "modified":
        repo.write(DEEP, "X = 1\n", dedent=False)
        repo.commit("shallow")
    base = repo.git("rev-parse", "HEAD")
    repo.write(DEEP, deep, dedent=False)
    comment_only(repo)
    repo.commit("deep")
    result = assess_source(LocalGitDiffSource(repo.root, base, "feature"))
    f = result.per_file[DEEP]
    assert (f.trivial, f.shuffle, f.memory, f.cpu, f.design) == (False, True, True, True, True)
    assert f.summary.endswith("(unsure: all yes)")
    assert "too deep" in f.evidence["cpu"][0] or "parse_max_depth" in f.evidence["cpu"][0]
    assert result.per_file[SHUFFLE].trivial, "the other file is still assessed"
    assert result.max_gate != "skip"


def test_a_file_past_the_byte_budget_is_unsure(repo):
    budget = load_limits().parse_max_bytes
    base = repo.git("rev-parse", "HEAD")
    repo.write(DEEP, "X = 1\n" * (budget // 6 + 1), dedent=False)
    repo.commit("big")
    f = assess_source(LocalGitDiffSource(repo.root, base, "feature")).per_file[DEEP]
    assert f.summary.endswith("(unsure: all yes)") and "parse_max_bytes" in f.evidence["cpu"][0]


def test_a_file_name_with_a_line_break_is_assessed(repo):
    odd = f"{ZSRC}/odd\nname.py"
    repo.write(odd, "def f():\n    return 1\n", dedent=False)
    base = repo.commit("odd name")
    repo.write(odd, "def f():\n    # why\n    return 1\n", dedent=False)
    repo.commit("comment")
    f = assess_source(LocalGitDiffSource(repo.root, base, "feature")).per_file[odd]
    assert f.trivial and "unsure" not in f.summary and "cannot parse" not in f.summary


def test_a_20000_file_diff_stops_at_the_file_count_limit(repo):
    base = repo.git("rev-parse", "HEAD")
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo.root, input=b"x\n",
        capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    entries = "".join(f"100644 {blob}\tdata/many/f{i}.txt\n" for i in range(20_000))
    subprocess.run(
        ["git", "update-index", "--add", "--index-info"], cwd=repo.root,
        input=entries.encode(), check=True,
    )  # fmt: skip
    repo.git("commit", "-q", "-m", "20,000 files")
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        assess_source(LocalGitDiffSource(repo.root, base, "feature"))
    took = time.monotonic() - started
    assert "20000" in str(info.value) and "diff_max_files=3000" in str(info.value)
    assert info.value.exit_code == 4
    print(f"stopped after {took:.2f} s")


def test_a_20000_file_pr_stops_before_listing_its_files(fake_github, kit_client):
    """GitHub source: the PR's changed_files count is checked before any page of
    pulls/N/files is asked for."""
    from perfgate_lib.assess.diffsource import GitHubDiffSource
    from tests.fakes.github_server import DEFAULT_REPO

    files = [{"filename": f"data/f{i}.txt", "status": "added"} for i in range(20_000)]
    fake_github.add_pull(DEFAULT_REPO, 12, files=files)
    source = GitHubDiffSource(12, DEFAULT_REPO, client=kit_client)
    with pytest.raises(LimitExceeded, match="20000 is over the limit diff_max_files=3000"):
        assess_source(source)
    assert fake_github.requests_matching("GET", "/repos/*/pulls/12/files") == []


@pytest.mark.parametrize(
    "huge", ["1 << 10**10", "(10**127)**127", "((2**64)**64)**64 * 2", "0x" + "f" * 2000]
)
def test_a_constant_too_big_to_compute_is_not_computed(repo, huge):
    """A PR's constant is computed to compare it (``64 * 1024**2``), within 4,096 bits: a
    shift or power past that (1.25 GB for ``1 << 10**10``) is an unknown value, and the
    change is still read as a setting change."""
    repo.write(SHUFFLE, repo.read(SHUFFLE) + "BUFFER = 64\n", dedent=False)
    base = repo.commit("a buffer")
    repo.write(SHUFFLE, repo.read(SHUFFLE).replace("BUFFER = 64", f"BUFFER = {huge}"), dedent=False)
    repo.commit("a huge buffer")
    f = assess_source(LocalGitDiffSource(repo.root, base, "feature")).per_file[SHUFFLE]
    assert not f.trivial
    evidence = [line for lines in f.evidence.values() for line in lines]
    assert any("BUFFER: 64 → (not computed)" in line for line in evidence), evidence


def test_a_reference_search_for_200000_names_is_not_one_command_line(repo):
    """A PR can define (or remove) any number of names, and the head tree is searched for
    each: the names reach ``git grep`` on its input, not as arguments (200,000 of them
    are past the kernel's limit for one command line, E2BIG)."""
    repo.write(SHUFFLE, repo.read(SHUFFLE) + "\nunique_name_here = 1\n", dedent=False)
    repo.commit("a name")
    source = LocalGitDiffSource(repo.root, "HEAD~1", "HEAD")
    names = [f"name_{i:06d}_padding" for i in range(200_000)] + ["unique_name_here"]
    hits = source.find_references(names)
    assert list(hits) == ["unique_name_here"] and len(hits["unique_name_here"]) == 1
