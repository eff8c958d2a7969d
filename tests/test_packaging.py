"""The kit as a built package: every package folder is shipped, the wheel runs from any
folder, and the workflow installs only a pinned perfgate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WORKFLOW = ROOT / ".github" / "workflows" / "perf-gate.yml"


def test_every_package_folder_is_listed_for_the_wheel():
    """A new subpackage that pyproject.toml does not list would be missing from the wheel."""
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "perfgate_lib").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert on_disk - listed == set()
    assert {"perfgate_lib.notebooks", "perfgate_lib.parameters"} <= listed


def test_py_typed_is_shipped():
    assert (ROOT / "perfgate_lib" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["perfgate_lib"]


def _install_scripts() -> list[str]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    scripts = [
        step["run"]
        for job in doc["jobs"].values()
        for step in job["steps"]
        if step.get("name", "").startswith("Install perfgate")
    ]
    assert len(scripts) == 2  # the dispatch job and the ladder job
    return scripts


def _run_install(script: str, spec: str, tmp_path: Path) -> tuple[int, str, str]:
    """Run the workflow's install step with a stand-in ``python`` that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "python-args"
    log.unlink(missing_ok=True)
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" > {log}\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PERFGATE_INSTALL": spec}
    done = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    called = log.read_text().strip() if log.exists() else ""
    return done.returncode, called, done.stdout + done.stderr


SHA = "0123456789abcdef0123456789abcdef01234567"
PINNED = [
    f"perfgate @ git+https://github.com/example/perfgate@{SHA}",
    "https://github.com/example/perfgate/releases/download/v0.1.0/"
    "perfgate-0.1.0-py3-none-any.whl#sha256=" + "ab" * 32,
]
UNPINNED = [
    "",
    "perfgate",
    "perfgate[local]",
    "perfgate==0.1.0",
    "perfgate @ git+https://github.com/example/perfgate@main",
    "perfgate @ git+https://github.com/example/perfgate@v0.1.0",
    "https://example.org/perfgate-0.1.0-py3-none-any.whl",
    f"perfgate @ git+https://github.com/example/perfgate@{SHA} ; echo pwned",
]


@pytest.mark.parametrize("spec", PINNED)
def test_the_workflow_installs_a_pinned_perfgate(spec, tmp_path):
    for script in _install_scripts():
        code, called, _ = _run_install(script, spec, tmp_path)
        assert code == 0
        assert called == f"-m pip install {spec}"


@pytest.mark.parametrize("spec", UNPINNED)
def test_the_workflow_refuses_an_unpinned_install(spec, tmp_path):
    for script in _install_scripts():
        code, called, out = _run_install(script, spec, tmp_path)
        assert code == 1
        assert called == ""  # pip never ran
        assert "vars.PERFGATE_INSTALL must pin perfgate" in out


def test_bundled_folders_resolve_in_a_checkout():
    from perfgate_lib import bundled
    from perfgate_lib.io.notebook import NOTEBOOKS_DIR
    from perfgate_lib.io.paramfile import PARAMETERS_DIR

    assert (bundled("notebooks") / "compare.ipynb").is_file()
    assert (bundled("parameters") / "thresholds.yaml").is_file()
    assert bundled("notebooks") == NOTEBOOKS_DIR
    assert bundled("parameters") == PARAMETERS_DIR


def test_an_operator_parameters_folder_overrides_the_bundled_one(tmp_path):
    own = tmp_path / "own-parameters"
    shutil.copytree(ROOT / "parameters", own)
    code = (
        "from perfgate_lib.io.paramfile import PARAMETERS_DIR; "
        "from perfgate_lib.verdict.thresholds import DEFAULT_THRESHOLDS; "
        "print(PARAMETERS_DIR); print(DEFAULT_THRESHOLDS)"
    )
    env = {**os.environ, "PERFGATE_PARAMETERS": str(own)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [str(own), str(own / "thresholds.yaml")]


@pytest.mark.slow
def test_the_built_wheel_runs_from_an_unrelated_folder(tmp_path):
    """Build the wheel and sdist, install the wheel into a fresh venv, then from an
    unrelated folder: ``perfgate --help``, ``perfgate compare`` on the bundled examples,
    and the compare notebook through papermill."""
    dist = tmp_path / "dist"
    src = tmp_path / "src"
    # a copy of the tracked tree, so the build leaves nothing in the checkout
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    wheels = sorted(dist.glob("perfgate-*.whl"))
    assert len(wheels) == 1 and len(sorted(dist.glob("perfgate-*.tar.gz"))) == 1
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", str(venv), "--python", sys.executable], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheels[0])],
        check=True,
        timeout=600,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERFGATE_", "PYTHONPATH"))}
    env["PERFGATE_RUNS_ROOT"] = str(elsewhere / "runs")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
        )

    helped = run(str(venv / "bin" / "perfgate"), "--help")
    assert helped.returncode == 0 and "compare" in helped.stdout
    located = run(
        str(venv / "bin" / "python"),
        "-c",
        "import perfgate_lib; print(perfgate_lib.bundled('parameters'));"
        "print(perfgate_lib.bundled('notebooks'))",
    )
    params, notebooks = (Path(line) for line in located.stdout.split())
    assert venv in params.parents and venv in notebooks.parents  # inside the installed package
    compared = run(
        str(venv / "bin" / "perfgate"),
        "compare",
        str(params / "examples" / "tier1_baseline.json"),
        str(params / "examples" / "tier1_treatment.json"),
        "--out",
        str(elsewhere / "compare"),
    )
    assert compared.returncode == 1, compared.stderr  # the bundled treatment fails minhash
    assert (elsewhere / "compare" / "verdict.json").is_file()
    comment = (elsewhere / "compare" / "comment.md").read_text()  # the wheel's templates
    assert comment.startswith("<!-- zephyr-perf-gate -->\n") and "### Infra" in comment
    executed = run(
        str(venv / "bin" / "python"),
        "-m",
        "papermill",
        str(notebooks / "compare.ipynb"),
        str(elsewhere / "compare-run.ipynb"),
        "-p",
        "out_dir",
        str(elsewhere / "nb-out"),
    )
    assert executed.returncode == 0, executed.stderr[-2000:]
    assert (elsewhere / "nb-out" / "verdict.json").is_file()
