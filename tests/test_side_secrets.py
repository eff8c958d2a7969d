"""Gate 0 runs the PR's code: each side's environment build (uv), its Zephyr API probe and
its ferry server import the PR's files. None of them gets the GitHub token that `perfgate
run` holds to post (docs/security.md, "Secrets"); marin's own credentials stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from perfgate_lib.local.pairs import LocalRunError, SideServer
from perfgate_lib.local.sideenv import SideEnv, SideEnvError, env_facts
from perfgate_lib.local.zephyr_api import probe_zephyr_api

TOKEN = "ghp_" + "x" * 36


@pytest.fixture
def spy(tmp_path, monkeypatch):
    """An interpreter that writes the environment it got to ``env.txt`` and fails."""
    for name, value in (("GITHUB_TOKEN", TOKEN), ("GH_TOKEN", TOKEN), ("GCP_SA_KEY", "sa")):
        monkeypatch.setenv(name, value)
    seen = tmp_path / "env.txt"
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\nenv > {seen}\nexit 3\n")
    script.chmod(0o755)
    return script, seen


def _names(seen: Path) -> set[str]:
    return {line.split("=", 1)[0] for line in seen.read_text().splitlines()}


def test_the_zephyr_api_probe_gets_no_github_token(spy):
    script, seen = spy
    assert not probe_zephyr_api(str(script)).ok
    assert {"GITHUB_TOKEN", "GH_TOKEN"}.isdisjoint(_names(seen)) and "GCP_SA_KEY" in _names(seen)


def test_the_side_environment_gets_no_github_token(spy, tmp_path):
    script, seen = spy
    with pytest.raises(SideEnvError):
        env_facts(str(script), tmp_path)
    assert {"GITHUB_TOKEN", "GH_TOKEN"}.isdisjoint(_names(seen)) and "GCP_SA_KEY" in _names(seen)


def test_the_ferry_server_gets_no_github_token(spy, tmp_path):
    script, seen = spy
    launch = SideEnv("kit", [str(script)], {"EXTRA": "1"}, None, None, "spy", 0.0)
    server = SideServer(
        "treatment", launch, corpus_dir=tmp_path, work_dir=tmp_path / "work",
        zephyr_src=None, log=tmp_path / "side.log", max_workers=1,
    )  # fmt: skip
    with pytest.raises(LocalRunError):
        server.wait_ready(60)
    names = _names(seen)
    assert {"GITHUB_TOKEN", "GH_TOKEN"}.isdisjoint(names) and {"GCP_SA_KEY", "EXTRA"} <= names
    assert os.environ["GITHUB_TOKEN"] == TOKEN  # the kit itself still holds it
