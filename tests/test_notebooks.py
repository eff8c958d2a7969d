"""Every notebook: clean (no outputs), a parameters cell of plain literals with a comment
each, code cells that only call perfgate_lib; run by papermill itself from the repository
root or from notebooks/, a new run archived and indexed, an archived one never rewritten."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import papermill
import pytest

from perfgate_lib.audit.runindex import list_runs
from perfgate_lib.io.notebook import NOTEBOOKS_DIR
from tests.conftest import REPO_ROOT

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_the_design_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert {"assess", "gate", "compare", "explore"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_parameterised(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in code)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    lines = [line for line in "".join(params[0]["source"]).splitlines() if line.strip()]
    for line in lines:
        name, _, rest = line.partition("=")
        assert name.strip().isidentifier() and name.strip() == name.strip().lower(), line
        value, sep, comment = rest.partition("  #")
        assert sep and comment.strip(), f"{path.name}: no comment for {line!r}"
        ast.literal_eval(value.strip())  # a literal default, one per line
    inspected = papermill.inspect_notebook(str(path))
    assert set(inspected) == {line.partition("=")[0].strip() for line in lines}
    for cell in code:
        if cell is params[0]:
            continue
        tree = ast.parse("".join(cell["source"]))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.For | ast.While), (
                f"{path.name}: logic belongs in perfgate_lib"
            )


def test_the_gate_notebook_declares_exactly_the_gate_jobs_fields():
    """The gate's options are declared once (GateJob); the notebook hands its parameters
    over by name, so a field it lacks, or one GateJob lacks, is a gap this catches."""
    from dataclasses import fields

    from perfgate_lib.gate.run import GateJob

    declared = set(papermill.inspect_notebook(str(NOTEBOOKS_DIR / "gate.ipynb")))
    assert declared == {f.name for f in fields(GateJob)}


def test_the_gate_notebook_calls_the_steps_in_the_order_run_all_does():
    """One list of steps (gate.run.STEPS): the in-process path runs it, and the notebook's
    cells call ``session.<step>()`` in that same order, each once."""
    from perfgate_lib.gate.run import STEPS

    nb = json.loads((NOTEBOOKS_DIR / "gate.ipynb").read_text())
    called = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            func = getattr(node, "func", None)
            on_session = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            if isinstance(node, ast.Call) and on_session and func.value.id == "session":
                called.append(func.attr)
    assert [name for name in called if name in STEPS] == list(STEPS)


# --- every notebook runs with papermill from the repository root and from notebooks/ ----


def _papermill(notebook, output, *params, cwd, runs_root, check=True):
    """The papermill CLI itself (not the kit's wrapper), in ``cwd``; params: name, value."""
    args = [sys.executable, "-m", "papermill", str(notebook), str(output), "--log-level", "ERROR"]
    for name, value in zip(params[::2], params[1::2], strict=True):
        args += ["-p", name, str(value)] if not isinstance(value, str) else ["-r", name, value]
    env = {**os.environ, "PERFGATE_RUNS_ROOT": str(runs_root)}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _digests(folder):
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize("where", ["root", "notebooks"])
def test_compare_runs_from_either_folder_and_is_archived_and_indexed(tmp_path, where):
    cwd = REPO_ROOT if where == "root" else REPO_ROOT / "notebooks"
    root = tmp_path / "runs"
    _papermill(
        REPO_ROOT / "notebooks" / "compare.ipynb",
        tmp_path / "out.ipynb",
        "gate",
        1,
        cwd=cwd,
        runs_root=root,
    )
    (entry,) = list_runs(str(root))
    run = pathlib.Path(entry.path)
    assert run.parent == root / "compare" and (entry.gate, entry.verdict) == (1, "fail")
    assert entry.started_at, "a compare folder carries its start time"
    assert (run / "verdict.json").is_file() and (run / "provenance.json").is_file()


@pytest.mark.slow
def test_compare_opens_an_archived_run_and_never_rewrites_it_unless_told(tmp_path):
    root = tmp_path / "runs"
    nb = REPO_ROOT / "notebooks" / "compare.ipynb"
    _papermill(nb, tmp_path / "first.ipynb", cwd=REPO_ROOT, runs_root=root)
    (entry,) = list_runs(str(root))
    run = pathlib.Path(entry.path)
    before = _digests(run)

    opened = _papermill(
        nb, tmp_path / "open.ipynb", "run_dir", str(run), cwd=REPO_ROOT, runs_root=root
    )
    assert opened.returncode == 0
    shown = (tmp_path / "open.ipynb").read_text()
    assert "gate 1 verdict: fail" in shown and "image/png" in shown and "minhash" in shown
    assert _digests(run) == before, "opening an archived run writes nothing into it"

    again = _papermill(
        nb,
        tmp_path / "again.ipynb",
        "out_dir",
        str(run),
        cwd=REPO_ROOT,
        runs_root=root,
        check=False,
    )
    assert again.returncode != 0
    assert "already holds verdict.json" in (tmp_path / "again.ipynb").read_text()
    assert _digests(run) == before, "re-executing into the archived folder changed nothing"

    _papermill(
        nb,
        tmp_path / "told.ipynb",
        "out_dir",
        str(run),
        "overwrite",
        True,
        cwd=REPO_ROOT,
        runs_root=root,
    )
    assert json.loads((run / "verdict.json").read_text())["verdict"] == "fail"


@pytest.mark.slow
def test_gate_notebook_refuses_another_prs_recorded_treatment_and_archives_its_own(tmp_path):
    root = tmp_path / "runs"
    nb = REPO_ROOT / "notebooks" / "gate.ipynb"
    wrong = _papermill(
        nb,
        tmp_path / "wrong.ipynb",
        "pr",
        1234,
        "use_actions",
        False,
        cwd=REPO_ROOT,
        runs_root=root,
        check=False,
    )
    assert wrong.returncode != 0
    text = (tmp_path / "wrong.ipynb").read_text()
    assert "pr 1234 does not match the treatment" in text and "PR #4321" in text
    assert not list(root.glob("pr1234/*/g1*/comment.md")), "no comment for the wrong PR"

    _papermill(
        nb,
        tmp_path / "right.ipynb",
        "use_actions",
        False,
        cwd=REPO_ROOT / "notebooks",
        runs_root=root,
    )
    entries = [e for e in list_runs(str(root)) if e.pr == 4321]
    assert len(entries) == 1 and entries[0].gate == 1 and entries[0].verdict == "fail"
    assert pathlib.Path(entries[0].path).parent == root / "pr4321"


@pytest.mark.slow
def test_explore_runs_from_the_repository_root(tmp_path):
    _papermill(
        REPO_ROOT / "notebooks" / "explore.ipynb",
        tmp_path / "explore.ipynb",
        cwd=REPO_ROOT,
        runs_root=tmp_path / "runs",
    )
    assert "scheduled baselines" in (tmp_path / "explore.ipynb").read_text()


@pytest.mark.slow
def test_local_ab_opens_an_archived_run_without_running_or_writing(tmp_path):
    """The archived ``ab/`` of a real gate-0 run: its tables and pairs chart, no sandbox,
    no side process, nothing written into the folder."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "gate0_run", run)
    before = _digests(run)
    _papermill(
        REPO_ROOT / "notebooks" / "local_ab.ipynb",
        tmp_path / "out.ipynb",
        "run_dir",
        str(run),
        cwd=REPO_ROOT,
        runs_root=tmp_path / "runs",
    )
    shown = (tmp_path / "out.ipynb").read_text()
    assert "6 pairs (every stage decided after 6 pairs)" in shown
    assert "control_instructions" in shown and "image/png" in shown
    assert "verdict: pass" in shown
    assert _digests(run) == before
    assert not (tmp_path / "runs").exists(), "opening a run makes no new run folder"


def test_a_gate_session_archives_only_a_folder_it_made(tmp_path, monkeypatch):
    """A caller that names run_dir owns the folder: no index entry is made for it (before,
    one landed in the working folder's runs/index); a folder the session made is indexed
    under its own runs root."""
    from perfgate_lib.gate.run import GateJob, GateSession

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERFGATE_RUNS_ROOT", str(tmp_path / "root"))
    replay = str(REPO_ROOT / "parameters" / "examples")
    named = GateSession(
        GateJob.from_parameters(run_dir=str(tmp_path / "named"), pr=4321, replay=replay)
    )
    assert named.archive_standalone() is None
    assert not (tmp_path / "runs").exists() and not (tmp_path / "root").exists()
    made = GateSession(GateJob.from_parameters(pr=4321, replay=replay))
    index_file = made.archive_standalone()
    assert pathlib.Path(index_file).parent == tmp_path / "root" / "index"
    assert pathlib.Path(made.run_dir).parent == tmp_path / "root" / "pr4321"
