"""`perfgate compare` and `perfgate demo` through the real papermill kernel."""

from __future__ import annotations

import json

import nbformat
import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.errors import UsageError
from perfgate_lib.io.notebook import NotebookFailed, run_notebook
from perfgate_lib.verdict.thresholds import PARAMETERS_DIR
from tests.cli_helpers import perfgate, perfgate_here
from tests.render_cases import DESIGN_VERDICT_KEYS

EXAMPLES = PARAMETERS_DIR / "examples"
BASE = str(EXAMPLES / "tier1_baseline.json")
TREAT = str(EXAMPLES / "tier1_treatment.json")


def _variant(tmp_path, name, **changes):
    data = json.loads((EXAMPLES / "tier1_baseline.json").read_text())
    data.update({"iris_job_id": "/pg/treatment", "task_state_counts": {"succeeded": 81}, **changes})
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _code_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and c.outputs]


@pytest.mark.slow
def test_compare_fail_writes_everything(tmp_path):
    out = tmp_path / "run"
    proc = perfgate("compare", BASE, TREAT, "--json", "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["verdict"] == "fail"
    assert set(verdict) >= DESIGN_VERDICT_KEYS
    assert (out / "comment.md").read_text().startswith(SENTINEL + "\n")
    assert (out / "stage_chart.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "verdict.json").read_text()) == verdict
    nb = nbformat.read(out / "compare.ipynb", as_version=4)
    assert any(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    ), "charts shown inline"
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "code", "verdict"),
    [
        ({}, 0, "pass"),
        ({"wall_seconds_total": 3300.0}, 0, "warn"),
        ({"task_state_counts": {"succeeded": 81, "preempted": 2}}, 3, "inconclusive"),
    ],
)
def test_exit_code_matches_verdict(tmp_path, changes, code, verdict):
    treat = _variant(tmp_path, "t.json", **changes)
    proc = perfgate("compare", BASE, treat, "--json", "--out", str(tmp_path / "o"))
    assert proc.returncode == code, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == verdict


def test_bad_report_exits_4_naming_the_file_and_field(tmp_path):
    bad = tmp_path / "treatment.json"
    bad.write_text('{"stage_wall_seconds": {"minhash": "slow"}}')
    proc = perfgate("compare", BASE, str(bad))
    assert proc.returncode == 4
    assert str(bad) in proc.stderr and "stage_wall_seconds.minhash" in proc.stderr


def test_usage_error_exits_2():
    proc = perfgate("compare", BASE, TREAT, "--gate", "7")
    assert proc.returncode == 2


@pytest.mark.slow
def test_failed_cell_still_archives_the_notebook(tmp_path):
    with pytest.raises(NotebookFailed) as info:
        run_notebook(
            "compare",
            str(tmp_path),
            {"baseline": BASE, "treatment": TREAT, "context": '{"nope": 1}'},
        )
    executed = tmp_path / "compare.ipynb"
    assert executed.exists() and info.value.output == str(executed)
    assert "UsageError" in str(info.value)


def test_unknown_and_secret_parameters_are_refused(tmp_path):
    with pytest.raises(UsageError, match="basline"):
        run_notebook("compare", str(tmp_path), {"basline": BASE})
    assert not (tmp_path / "compare.ipynb").exists()


@pytest.mark.slow
def test_compare_into_the_runs_root_is_archived_and_indexed(tmp_path):
    proc = perfgate("compare", BASE, TREAT, env={"PERFGATE_RUNS_ROOT": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr
    (run,) = (tmp_path / "compare").iterdir()
    assert (run / "compare.html").is_file() and (run / "provenance.json").is_file()
    listing = perfgate("runs", "--root", str(tmp_path), "--json")
    assert listing.returncode == 0, listing.stderr
    assert str(run) in listing.stdout and "fail" in listing.stdout


@pytest.mark.parametrize(
    "context, says",
    [
        ("[1]", "must be a JSON object (or a file holding one), got an array"),
        ('"x"', "got a string"),
        ('{"gate": ', "not valid JSON"),
        ("no-such-context.json", "no-such-context.json: file not found"),
    ],
)
def test_a_bad_context_is_a_usage_error_saying_what_it_is(tmp_path, context, says):
    """Checked before any kernel starts: exit 2 naming --context (``[1]`` used to say
    "file not found" from inside the notebook)."""
    out_dir = str(tmp_path / "o")
    code, _, err = perfgate_here("compare", BASE, TREAT, "--context", context, "--out", out_dir)
    assert code == 2
    assert "--context" in err and says in err
    assert not (tmp_path / "o").exists(), "no kernel ran"


@pytest.mark.slow
def test_compare_gate_0_is_recorded_as_gate_0(tmp_path):
    out = tmp_path / "run"
    proc = perfgate("compare", BASE, TREAT, "--gate", "0", "--json", "--out", str(out))
    verdict = json.loads(proc.stdout)
    assert verdict["gate"] == 0 and verdict["baseline"]["max_age_hours"] is None
    assert "Gate 0 (local A/B)" in (out / "comment.md").read_text()


def runner_commands(output: str) -> list[str]:
    """The lines of ``output`` a GitHub Actions runner would take as workflow commands: a
    line starting with ``::`` after leading blanks, or ``##[`` anywhere (the legacy form).
    The runner splits lines at CR as well as LF."""
    return [line for line in output.splitlines() if line.lstrip().startswith("::") or "##[" in line]


@pytest.mark.slow
def test_report_strings_printed_in_ci_are_never_workflow_commands(tmp_path):
    """Stage names reach stdout (the verdict's reasons); in a GitHub Actions job each line
    printed is read for workflow commands (``::add-mask::``, ``::stop-commands::``,
    ``##[set-output name=...]``). A stage name cannot start one, nor send an escape
    sequence to the operator's terminal."""
    data = json.loads((EXAMPLES / "tier1_baseline.json").read_text())
    stages = data["stage_wall_seconds"]
    stages["x\n::error title=forged::a forged annotation"] = stages.pop("normalize")
    stages["y\r  ::stop-commands::abc"] = stages.pop("minhash")
    stages["z ##[set-output name=run;]true"] = stages.pop("tokenize")
    stages["w \x1b]0;retitled\x07 \x1b[2J"] = stages.pop("consolidate")  # a terminal's too
    treat = tmp_path / "t.json"
    treat.write_text(json.dumps({**data, "iris_job_id": "/pg/t", "task_state_counts": {}}))
    code, out, err = perfgate_here("compare", BASE, str(treat), "--out", str(tmp_path / "o"))
    assert code == 3, err
    assert "forged annotation" in out and "set-output" in out  # the names are shown...
    assert runner_commands(out) == [] and runner_commands(err) == []  # ...as text
    assert "retitled" in out and "\x1b" not in out + err


@pytest.mark.parametrize("stamp", ["99999999999999999999", "9999-12-31T23:59:59-23:59"])
def test_a_collection_time_past_the_calendar_compares_as_no_time(tmp_path, stamp):
    """The baseline's ``collected_at_utc`` decides its age: one past year 9999 is no time
    (age unknown), and the comparison still gives its verdict."""
    base = _variant(tmp_path, "b.json", iris_job_id="/pg/base", collected_at_utc=stamp)
    code, out, err = perfgate_here("compare", base, TREAT, "--out", str(tmp_path / "o"))
    assert code == 1, err
    assert "verdict: fail" in out


def test_a_workflow_command_split_over_writes_is_caught_too():
    """print() writes its pieces one by one: the stream remembers where the last ended."""
    import io

    from perfgate_lib.cli import RedactingStream

    inner = io.StringIO()
    stream = RedactingStream(inner)
    for piece in ("ok\n", "  ", ":", ":add-mask::x", " #", "#", "[add-mask]y", "\r", "::z::"):
        stream.write(piece)
    assert runner_commands(inner.getvalue()) == []
    assert inner.getvalue().replace("\u2060", "") == "ok\n  ::add-mask::x ##[add-mask]y\r::z::"


def test_a_workflow_command_after_a_long_blank_line_head_is_caught_too():
    """print(a, b) writes ``a``, a space and ``b`` apart: a line head of 1,000 blanks or more
    was forgotten between writes, so the ``::`` written next opened a workflow command."""
    import io

    from perfgate_lib.cli import RedactingStream

    inner = io.StringIO()
    print("x\n" + " " * 5000, "::warning::forged", file=RedactingStream(inner))
    assert runner_commands(inner.getvalue()) == []
    assert inner.getvalue().replace("\u2060", "") == "x\n" + " " * 5001 + "::warning::forged\n"


def test_an_out_folder_that_is_a_file_is_named_before_comparing(tmp_path):
    """``--out`` naming a file was a FileExistsError crash (exit 4) once the notebook ran."""
    out = tmp_path / "o.json"
    out.write_text("{}")
    code, _, err = perfgate_here("compare", BASE, TREAT, "--out", str(out))
    assert code == 2 and err == f"perfgate: --out {out}: a file, not a folder\n", err
