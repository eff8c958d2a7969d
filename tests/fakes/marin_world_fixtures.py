"""pytest fixtures around :mod:`tests.fakes.marin_world`.

``pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")``.
``marin_world``: a fresh world (repos copied from a per-session template);
``world_env``: its environment applied (fake bin first on PATH, fast polls) together
with the fake GitHub (``github_env``), PR 7 and 8 and the three baselines seeded.
"""

from __future__ import annotations

import pytest

from tests.fakes.marin_world import (
    FAILING_PR,
    PASS_PR,
    MarinWorld,
    build_template,
    seed_baselines,
    seed_pull,
)


@pytest.fixture(scope="session")
def marin_world_template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("marin-template"))


@pytest.fixture
def marin_world(marin_world_template, tmp_path) -> MarinWorld:
    return MarinWorld(marin_world_template, tmp_path / "w")


@pytest.fixture
def world_env(marin_world, github_env, monkeypatch):
    for key, value in marin_world.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PERFGATE_RUNS_ROOT", str(marin_world.root / "runs"))
    seed_baselines(github_env)
    seed_pull(github_env, marin_world, PASS_PR)
    seed_pull(github_env, marin_world, FAILING_PR)
    return marin_world
