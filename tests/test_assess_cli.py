"""``perfgate assess`` and notebooks/assess.ipynb."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate_lib import SENTINEL
from tests.cli_helpers import perfgate_here
from tests.marin_layout import ZSRC

pytest_plugins = ("tests.marin_fixtures",)

SHUFFLE = f"{ZSRC}/shuffle.py"
ROOT = Path(__file__).resolve().parents[1]


def checkout_args(repo) -> list[str]:
    return ["assess", "--checkout", str(repo.root), "--base", "main", "--head", "feature"]


def test_json_prints_the_assessment(repo):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.commit()
    code, out, _ = perfgate_here(*checkout_args(repo), "--json")
    data = json.loads(out)
    assert code == 0
    assert data["max_gate"] == "3" and data["in_scope"] is True
    assert data["per_file"][SHUFFLE]["memory"] is True
    assert data["head_sha"] == repo.git("rev-parse", "feature")


def test_default_output_is_the_confirmation_block(repo):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.commit()
    code, out, _ = perfgate_here(*checkout_args(repo))
    assert code == 0
    assert out.startswith("🤖 Zephyr perf gate assessment\nProposed max_gate: 3\n")
    assert out.rstrip().endswith('override with "max_gate=<skip|1|2|3>".')


def test_out_of_scope_says_so_and_exits_0(repo):
    repo.edit("lib/zephyr/tests/test_counters.py", 'increment("a")', 'increment("b")')
    repo.commit()
    code, out, _ = perfgate_here(*checkout_args(repo))
    assert code == 0
    assert "Out of scope: test-only diff" in out
    assert "No gate runs and no ferry is submitted." in out


def test_reply_skip_prints_the_waiver_comment(repo):
    repo.edit(SHUFFLE, '"""Stable hash routing of a key to a shard."""', '"""Route a key."""')
    repo.commit()
    code, out, _ = perfgate_here(*checkout_args(repo), "--reply", " GO ")
    assert code == 0
    assert 'Reviewer replied "GO": max_gate=skip.' in out
    assert f"Waiver comment:\n{SENTINEL}\n🤖 Zephyr perf gate waived" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--base", "nope"], "--base nope: unknown revision"),
        (["--reply", "sure"], "unrecognised reply 'sure'; accepted replies"),
        (["--pr", "7"], "give either --pr N or --checkout"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(repo, extra, message):
    repo.commit()
    args = checkout_args(repo)
    if extra[0] == "--base":
        args[args.index("--base") + 1] = extra[1]
    else:
        args += extra
    code, _, err = perfgate_here(*args)
    assert code == 2
    assert message in err


def test_checkout_without_head_is_a_usage_error(repo):
    code, _, err = perfgate_here("assess", "--checkout", str(repo.root), "--base", "main")
    assert code == 2 and "--checkout needs --base REV and --head REV" in err


def test_bundled_example_runs_offline():
    code, out, _ = perfgate_here(
        "assess",
        "--checkout",
        str(ROOT / "parameters/examples/assess"),
        "--base",
        "base",
        "--head",
        "pr.patch",
        "--json",
    )
    data = json.loads(out)
    assert code == 0 and data["max_gate"] == "3"
    assert data["per_file"][SHUFFLE]["memory"] is True
    assert data["per_file"][f"{ZSRC}/counters.py"]["trivial"] is True
    assert any("lib/fray" in flag for flag in data["flags"])


def test_notebook_is_committed_clean_with_a_parameters_cell():
    nb = json.loads((ROOT / "notebooks/assess.ipynb").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code_cells)
    params = [c for c in code_cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    names = [line.split("=")[0].strip() for line in "".join(params[0]["source"]).splitlines()]
    assert names == ["pr", "repo", "checkout", "base", "head", "reply", "out_dir"]


@pytest.mark.slow
def test_notebook_defaults_run_offline_and_write_assessment_json(tmp_path):
    from perfgate_lib.io.notebook import run_notebook

    out = tmp_path / "nb"
    executed = run_notebook("assess", str(out), {"out_dir": str(out)})
    data = json.loads((out / "assessment.json").read_text())
    assert data["max_gate"] == "3"
    nb = json.loads(Path(executed).read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "SCATTER_BUFFER_BYTES" in html and "evidence" in html  # the per-file DataFrame


@pytest.mark.slow
def test_out_runs_the_notebook_into_the_folder(repo, tmp_path):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.commit()
    out = tmp_path / "run"
    code, stdout, _ = perfgate_here(
        *checkout_args(repo), "--out", str(out), "--reply", "max_gate=2 — enough"
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {
        "assess.ipynb",
        "assessment.json",
        "assessment.md",
        "confirmation.txt",
    }
    data = json.loads((out / "assessment.json").read_text())
    assert data["max_gate"] == "2" and data["proposed_max_gate"] == "3"
    assert data["rationale"].startswith("reviewer override: max_gate=2 — enough")
    assert "Confirmed max_gate: 2" in stdout


def test_a_file_name_reaches_the_terminal_as_text(repo):
    """Anyone can name a PR's files: an escape sequence in a name (window title, clear
    screen) is shown as text in the block ``perfgate assess`` prints, never sent to the
    terminal; nor is a workflow command."""
    name = f"{ZSRC}/x\x1b]0;retitled\x07\x1b[2J\x9b31m.py"
    repo.write(name, "def f():\n    return 1\n")
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.commit()
    code, out, err = perfgate_here(*checkout_args(repo))
    assert code == 0, err
    assert "retitled" in out
    assert not any(c in out for c in "\x1b\x07\x9b")


def test_an_out_folder_that_is_a_file_is_named_before_assessing(tmp_path):
    """``assess --out`` naming a file was a FileExistsError crash (exit 4) once the diff
    was read; now a usage error naming it (exit 2), before anything is read."""
    out = tmp_path / "o.json"
    out.write_text("{}")
    code, _, err = perfgate_here(
        "assess", "--checkout", str(tmp_path), "--base", "a", "--head", "b", "--out", str(out)
    )
    assert code == 2 and err == f"perfgate: --out {out}: a file, not a folder\n", err
