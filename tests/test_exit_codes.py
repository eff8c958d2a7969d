"""Exit codes mean what the README says: a crash is 4 ("could not run"), never 1.

Properties (hypothesis, derandomised, bounded): generated report JSON, valid and mutated,
through ``perfgate compare`` in-process (the compare core the notebook calls, without a
kernel per example), plus fixed examples end to end with the real kernel.
"""

from __future__ import annotations

import json
import pathlib
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfgate_lib import MAX_COMMENT_CHARS
from perfgate_lib.assess.render import assessment_table_md
from perfgate_lib.commands import compare as compare_command
from perfgate_lib.errors import EXIT_FAIL
from perfgate_lib.io import storage
from perfgate_lib.verdict.compare import run_compare
from tests.cli_helpers import perfgate, perfgate_here
from tests.comment_checks import unescaped_html

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "parameters" / "examples"
BASE = EXAMPLES / "tier1_baseline.json"
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def compare_in_process(baseline, treatment, out_dir, **kwargs) -> dict:
    """What compare.ipynb does (``run_compare``), without starting a kernel."""
    run_compare(
        baseline,
        treatment,
        gate=kwargs.get("gate", 1),
        assessment_md=assessment_table_md(kwargs.get("assessment") or None),
        thresholds=kwargs.get("thresholds") or None,
        out_dir=out_dir,
        context=kwargs.get("context", "{}"),
    )
    return json.loads(storage.read_text(storage.join(out_dir, "verdict.json")))


def test_deeply_nested_report_is_bad_input(tmp_path):
    """The issue's command: a RecursionError traceback with exit 1 on main."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    proc = perfgate("compare", str(BASE), str(deep), "--out", str(tmp_path / "o"))
    assert proc.returncode == 4
    (line,) = proc.stderr.strip().splitlines()
    assert str(deep) in line and "nested deeper" in line


def test_an_unexpected_exception_exits_4_naming_it_and_the_traceback(tmp_path, monkeypatch):
    def boom(path):
        raise ZeroDivisionError("planted bug")

    monkeypatch.setenv("PERFGATE_RUNS_ROOT", str(tmp_path / "runs"))
    monkeypatch.delenv("PERFGATE_DEBUG", raising=False)
    monkeypatch.setattr(compare_command, "load_report", boom)
    code, out, err = perfgate_here("compare", str(BASE), str(BASE))
    assert code == 4 and out == ""
    (line,) = err.strip().splitlines()
    assert "compare" in line and "ZeroDivisionError: planted bug" in line
    where = line.split("full traceback: ", 1)[1].split(";")[0]
    assert where.startswith(str(tmp_path / "runs" / "crashes"))
    assert (
        "Traceback" in pathlib.Path(where).read_text() and "boom" in pathlib.Path(where).read_text()
    )

    code, _, err = perfgate_here("--debug", "compare", str(BASE), str(BASE))
    assert code == 4 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("perfgate compare: could not run")


# -- generated reports ------------------------------------------------------------------

NASTY = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "</details><img src=x onerror=alert(1)>",
        "a|b",
        "`x`",
        "```",
        "@everyone",
        "ünï✓段",
        "line\nbreak",
        "<!-- c -->",
        "[link](javascript:x)",
        "*_~",
        "",
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=30))
LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    LEAF,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4),
    max_leaves=10,
)
SECONDS = st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False), st.integers(0, 10**7))
COUNTS = st.dictionaries(TEXT, st.integers(0, 1000), max_size=5)
VALID = st.fixed_dictionaries(
    {"stage_wall_seconds": st.dictionaries(TEXT, SECONDS, max_size=8)},
    optional={
        "iris_job_id": TEXT,
        "status": st.one_of(st.sampled_from(["succeeded", "failed", "killed"]), TEXT),
        "wall_seconds_total": SECONDS,
        "peak_worker_memory_mb": SECONDS,
        "failed_shards": st.integers(0, 50),
        "preemption_count": st.integers(0, 50),
        "ooms": st.integers(0, 5),
        "task_state_counts": COUNTS,
        "infra_failures": COUNTS,
        "cached_steps": st.lists(TEXT, max_size=3),
        "warnings": st.lists(TEXT, max_size=3),
        "ferry_module": TEXT,
        "workflow_name": TEXT,
        "extra": JSON,
    },
)


@st.composite
def report_text(draw) -> str:
    """A report file's text: valid, a field replaced or removed, or broken JSON."""
    doc = draw(VALID)
    how = draw(st.sampled_from(["valid", "replace", "drop", "truncate", "nest", "not-json"]))
    if how == "replace":
        doc[draw(st.sampled_from(sorted(VALID_KEYS)))] = draw(JSON)
    elif how == "drop" and doc:
        doc.pop(draw(st.sampled_from(sorted(doc))))
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    if how == "truncate":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif how == "nest":
        depth = draw(st.integers(50, 3000))
        text = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    elif how == "not-json":
        text = draw(st.sampled_from(["", "null", "[]", "NaN", '{"a": NaN}', "\x00\x01", "{"]))
    return text


VALID_KEYS = {
    "stage_wall_seconds",
    "iris_job_id",
    "status",
    "wall_seconds_total",
    "peak_worker_memory_mb",
    "failed_shards",
    "preemption_count",
    "task_state_counts",
    "infra_failures",
    "cached_steps",
    "warnings",
}


def check_compare_outcome(code: int, err: str, out_dir: pathlib.Path) -> None:
    assert code in (0, 1, 3, 4), err
    assert "Traceback" not in err, err
    verdict_file = out_dir / "verdict.json"
    if code == EXIT_FAIL:
        assert json.loads(verdict_file.read_text())["verdict"] == "fail"
    if verdict_file.exists():
        verdict = json.loads(verdict_file.read_text())["verdict"]
        assert code == compare_command.EXIT_BY_VERDICT[verdict]
    comment = out_dir / "comment.md"
    if comment.exists():
        text = comment.read_text()
        assert len(text) < MAX_COMMENT_CHARS
        assert unescaped_html(text) == []


@PROPERTY
@given(baseline=st.one_of(st.just(None), report_text()), treatment=report_text())
def test_compare_property(monkeypatch, baseline, treatment):
    monkeypatch.setattr(compare_command, "run_compare_notebook", compare_in_process)
    with tempfile.TemporaryDirectory(prefix="perfgate-prop-") as tmp:
        folder = pathlib.Path(tmp)
        base = BASE
        if baseline is not None:
            base = folder / "base.json"
            base.write_text(baseline)
        treat = folder / "treat.json"
        treat.write_text(treatment)
        code, _, err = perfgate_here("compare", str(base), str(treat), "--out", str(folder / "o"))
        check_compare_outcome(code, err, folder / "o")


@pytest.mark.parametrize(
    "mutation",
    [
        {"stage_wall_seconds": {"<script>x</script>": 10.0, "ünï✓段": 5.0, "a|b": 1.0}},
        {"status": "failed", "warnings": ["</details><b>x</b>"], "failed_shards": 3},
    ],
    ids=["html-stage-names", "failed-treatment"],
)
def test_compare_end_to_end_examples(tmp_path, mutation):
    """A few generated-like reports through the real notebook kernel."""
    doc = {**json.loads((EXAMPLES / "tier1_treatment.json").read_text()), **mutation}
    treat = tmp_path / "treat.json"
    treat.write_text(json.dumps(doc))
    proc = perfgate("compare", str(BASE), str(treat), "--out", str(tmp_path / "o"))
    check_compare_outcome(proc.returncode, proc.stderr, tmp_path / "o")
    assert (tmp_path / "o" / "compare.ipynb").exists()
