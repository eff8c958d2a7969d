"""pytest fixtures: a git repository with marin's layout (see :mod:`tests.marin_layout`).

In a test file: ``pytest_plugins = ("tests.marin_fixtures",)``.
"""

from __future__ import annotations

import shutil

import pytest

from tests.marin_layout import MarinRepo, make_marin_repo


@pytest.fixture(scope="session")
def marin_template(tmp_path_factory) -> MarinRepo:
    """The base repository, built once per session."""
    return make_marin_repo(tmp_path_factory.mktemp("template") / "marin")


def fresh_copy(template: MarinRepo, tmp_path) -> MarinRepo:
    """A copy of a session-wide repository that a test may change."""
    dest = tmp_path / "marin"
    shutil.copytree(template.root, dest, symlinks=True)
    return MarinRepo(dest)


@pytest.fixture
def repo(marin_template: MarinRepo, tmp_path) -> MarinRepo:
    """A fresh copy of the marin-shaped repository, on branch ``feature`` off ``main``."""
    r = fresh_copy(marin_template, tmp_path)
    r.branch("feature")
    return r
