"""The environment of every process that runs the PR's or marin's code (marin's scripts,
the PR's checks, gate 0's side processes): ours minus the GitHub tokens (docs/security.md)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

SECRET_ENV = ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT")


def child_env(extra: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> dict[str, str]:
    """``os.environ`` without :data:`SECRET_ENV` and ``drop``, then ``extra`` on top."""
    gone = {*SECRET_ENV, *drop}
    return {**{k: v for k, v in os.environ.items() if k not in gone}, **(extra or {})}
