"""Helpers building perfgate_lib's GitHub client against the fake server (for tests)."""

from __future__ import annotations

from tests.fakes.github_server import DEFAULT_REPO, FakeGitHub


def fast_settings(fake: FakeGitHub, **overrides):
    """perfgate_lib GitHubSettings against ``fake``: no pacing, 2 immediate retries."""
    from perfgate_lib.io.github import GitHubSettings

    values = {
        "repo": DEFAULT_REPO,
        "api_url": fake.url,
        "token": fake.token,
        "token_var": "GITHUB_TOKEN",
        "retries": 2,
        "backoff_factor": 0.0,
        "secondary_rate_wait": 0.0,
        "seconds_between_requests": 0.0,
        "seconds_between_writes": 0.0,
    }
    values.update(overrides)
    return GitHubSettings(**values)
