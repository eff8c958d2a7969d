"""pytest fixtures around the fake GitHub server.

In a test file::

    from tests.fakes.github_server import DEFAULT_REPO, make_zip  # not from this module

    pytest_plugins = ("tests.fakes.github_fixtures",)

    def test_something(fake_github, github_env):
        fake_github.add_pull("marin-community/marin", 7, files=[...])
        ...  # code reading GITHUB_TOKEN / GITHUB_API_URL now talks to the fake

``fake_github`` is a started :class:`FakeGitHub` (fresh per test) with the repository
``marin-community/marin`` created. ``github_env`` points ``GITHUB_API_URL`` at it and
sets ``GITHUB_TOKEN`` to the fake's token (``GH_TOKEN``, ``PERFGATE_GITHUB_LOGIN`` and
``GITHUB_ACTIONS`` removed: the kit's account is the token's, ``perfgate-bot``). ``github_client`` is a
real PyGithub client with no throttling and bounded retry. ``kit_client`` is
``perfgate_lib.io.github.GitHubClient`` against the fake (see ``tests.fakes.github_kit.fast_settings``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.github_server import DEFAULT_REPO, FakeGitHub, make_client


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(DEFAULT_REPO)
        yield fake


@pytest.fixture
def github_env(fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.setenv("GITHUB_TOKEN", fake_github.token)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    # the kit's account comes from GET /user (the fake token's perfgate-bot), also when
    # the suite itself runs under GitHub Actions
    monkeypatch.delenv("PERFGATE_GITHUB_LOGIN", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return fake_github


@pytest.fixture
def github_client(fake_github: FakeGitHub):
    return make_client(fake_github)


@pytest.fixture
def kit_client(fake_github: FakeGitHub):
    """perfgate_lib's GitHubClient against the fake (fast settings)."""
    from perfgate_lib.io.github import GitHubClient
    from tests.fakes.github_kit import fast_settings

    return GitHubClient(fast_settings(fake_github))
