"""Every notebook: clean (no outputs), a parameters cell of plain literals with a comment
each, code cells that only call perfgate_lib."""

from __future__ import annotations

import ast
import json

import papermill
import pytest

from perfgate_lib.io.notebook import NOTEBOOKS_DIR

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
