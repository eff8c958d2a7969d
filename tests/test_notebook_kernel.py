"""perfgate_lib.io.notebook's kernel handling: a normal run prints no kernel-shutdown noise,
a failing cell is still reported."""

from __future__ import annotations

import json
import signal

import pytest

from perfgate_lib.io import notebook
from perfgate_lib.io.notebook import NotebookFailed, run_notebook

pytestmark = pytest.mark.slow  # real papermill kernels

NOISE = "KeyboardInterrupt caught in kernel"


def _write_notebook(folder, name, *sources):
    cells = [
        {
            "cell_type": "code",
            "id": "params",
            "metadata": {"tags": ["parameters"]},
            "source": "x = 1  # a number",
            "outputs": [],
            "execution_count": None,
        }
    ]
    for i, source in enumerate(sources):
        cells.append(
            {
                "cell_type": "code",
                "id": f"cell{i}",
                "metadata": {},
                "source": source,
                "outputs": [],
                "execution_count": None,
            }
        )
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / f"{name}.ipynb").write_text(json.dumps(nb))


@pytest.fixture
def small_notebooks(tmp_path, monkeypatch):
    """A notebooks folder holding small notebooks, and a record of the signals the kernel
    manager sends the kernel."""
    from jupyter_client.manager import KernelManager

    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setattr(notebook, "NOTEBOOKS_DIR", folder)
    sent = []
    real = KernelManager._async_signal_kernel

    async def record(self, signum):
        sent.append(signum)
        await real(self, signum)

    monkeypatch.setattr(KernelManager, "_async_signal_kernel", record)
    return folder, sent


def test_a_normal_run_prints_no_keyboard_interrupt(small_notebooks, tmp_path, capfd):
    folder, sent = small_notebooks
    _write_notebook(folder, "small", "print(x + 41)")
    out = run_notebook("small", str(tmp_path / "out"), {"x": 1})
    captured = capfd.readouterr()
    assert NOISE not in captured.out + captured.err
    assert signal.SIGINT not in sent  # the shutdown no longer interrupts an idle kernel
    executed = json.loads((tmp_path / "out" / "small.ipynb").read_text())
    assert out.endswith("small.ipynb")
    assert "".join(executed["cells"][-1]["outputs"][0]["text"]) == "42\n"


def test_a_failing_cell_is_still_reported(small_notebooks, tmp_path, capfd):
    folder, _ = small_notebooks
    _write_notebook(folder, "broken", "raise ValueError('boom in the kernel')")
    with pytest.raises(NotebookFailed, match="ValueError: boom in the kernel"):
        run_notebook("broken", str(tmp_path / "out"))
    captured = capfd.readouterr()
    assert NOISE not in captured.out + captured.err
    assert (tmp_path / "out" / "broken.ipynb").is_file()
