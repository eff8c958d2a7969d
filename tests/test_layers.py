"""The layer rule (pyproject.toml, ``[tool.importlinter]``) holds, and catches an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_kit(tmp_path: Path) -> Path:
    root = tmp_path / "kit"
    shutil.copytree(
        REPO_ROOT / "perfgate_lib",
        root / "perfgate_lib",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_kit_keeps_its_layers(tmp_path):
    result = _lint(_copy_kit(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "chain"),
    [
        # a lazy import counts too: io (bottom) reaching up into the gate ladder
        ("io/storage.py", "perfgate_lib.gate.ladder", "perfgate_lib.io.storage"),
        # assess and verdict sit side by side and must not import each other
        ("verdict/render.py", "perfgate_lib.assess.render", "perfgate_lib.verdict.render"),
        ("assess/run.py", "perfgate_lib.verdict.rules", "perfgate_lib.assess.run"),
    ],
)
def test_an_import_against_the_layers_breaks_the_contract(tmp_path, module, planted, chain):
    root = _copy_kit(tmp_path)
    path = root / "perfgate_lib" / module
    package, _, name = planted.rpartition(".")
    path.write_text(
        path.read_text()
        + f"\n\ndef _planted():\n    from {package} import {name}\n\n    return {name}\n"
    )
    result = _lint(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"{chain} -> {planted}" in result.stdout
