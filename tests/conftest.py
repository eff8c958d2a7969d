"""Shared fixtures. Area-specific fakes live under tests/fakes/."""

from __future__ import annotations

import os
import pathlib

import pytest

# Tests never reach a real GitHub or GCS, and never inherit a real token.
for _var in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL"):
    os.environ.pop(_var, None)
os.environ.pop("MPLBACKEND", None)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def gcs():
    """A running in-process GCS emulator; yields its base URL."""
    from tests.fakes.gcs import gcs_emulator

    with gcs_emulator() as url:
        yield url


@pytest.fixture
def fixtures_dir() -> pathlib.Path:
    return FIXTURES
