"""Archiving a run folder: HTML renders, provenance, scrubbing (fail closed), indexing."""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from perfgate_lib.audit import provenance
from perfgate_lib.audit.archive import archive_run, from_path
from perfgate_lib.audit.runindex import list_runs
from perfgate_lib.errors import PerfgateError, SecretFound
from perfgate_lib.io import storage
from perfgate_lib.verdict.thresholds import DEFAULT_THRESHOLDS, PARAMETERS_DIR
from tests.planting import plant_text

EXAMPLES = PARAMETERS_DIR / "examples"
RUN = "pr4321/20261127T101500Z-4f9c2e1"


def _executed_notebook(text: str) -> str:
    cell = new_code_cell("print(verdict)", execution_count=1)
    cell.outputs = [new_output("stream", name="stdout", text=text)]
    nb = new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["papermill"] = {"parameters": {"gate": 1, "baseline": "baseline-g1.json"}}
    return nbformat.writes(nb)


def _make_run(run_dir: str, notebook_text: str = "verdict: pass") -> None:
    plant_text(storage.join(run_dir, "g1", "compare.ipynb"), _executed_notebook(notebook_text))
    storage.write_text(
        storage.join(run_dir, "g1", "verdict.json"),
        json.dumps({"schema": 1, "gate": 1, "verdict": "pass"}),
    )
    storage.write_text(
        storage.join(run_dir, "g2", "verdict.json"),
        json.dumps({"schema": 1, "gate": 2, "verdict": "warn"}),
    )
    for name in ("tier1_baseline.json", "tier1_treatment.json"):
        storage.write_bytes(storage.join(run_dir, "inputs", name), (EXAMPLES / name).read_bytes())
    storage.write_text(storage.join(run_dir, "g1", "comment.md"), "<!-- zephyr-perf-gate -->\nok\n")


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_archive_local_run(tmp_path):
    root = str(tmp_path / "runs")
    run_dir = storage.join(root, *RUN.split("/"))
    _make_run(run_dir)
    result = archive_run(run_dir)

    html = pathlib.Path(run_dir, "g1", "compare.html")
    assert result.html == [str(html)]
    assert "verdict: pass" in html.read_text() and "<html" in html.read_text()

    prov = json.loads(pathlib.Path(run_dir, "provenance.json").read_text())
    assert prov["thresholds"]["sha256"] == _sha256(DEFAULT_THRESHOLDS)
    assert prov["parameters"] == {"compare.ipynb": {"gate": 1, "baseline": "baseline-g1.json"}}
    inputs = {pathlib.Path(i["path"]).name: i["sha256"] for i in prov["inputs"]}
    assert inputs == {
        n: _sha256(EXAMPLES / n) for n in ("tier1_baseline.json", "tier1_treatment.json")
    }
    if (provenance.KIT_ROOT / ".git").exists():
        head = subprocess.run(
            ["git", "-C", str(provenance.KIT_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert prov["kit"]["source"] == "git" and prov["kit"]["git_sha"] == head
        assert prov["kit"]["version"].startswith(head)

    (entry,) = list_runs(root)
    assert entry.path == run_dir
    assert (entry.pr, entry.gate, entry.verdict, entry.sha) == (4321, 2, "warn", "4f9c2e1")
    assert entry.started_at == "2026-11-27T10:15:00+00:00" and entry.finished_at
    assert entry.gates == [{"gate": 1, "verdict": "pass"}, {"gate": 2, "verdict": "warn"}]
    assert result.index_file.endswith("index/pr4321--20261127T101500Z-4f9c2e1.json")


def test_a_json_file_nested_too_deeply_is_archived_and_not_read(tmp_path):
    root = str(tmp_path / "runs")
    run_dir = storage.join(root, *RUN.split("/"))
    _make_run(run_dir)
    storage.write_text(storage.join(run_dir, "g1", "side.json"), "[" * 100_000)
    result = archive_run(run_dir, environ={})
    assert result.entry.gates == [{"gate": 1, "verdict": "pass"}, {"gate": 2, "verdict": "warn"}]
    assert [e.path for e in list_runs(root)] == [run_dir]


def test_archive_fails_closed_on_a_secret(tmp_path):
    root = str(tmp_path / "runs")
    run_dir = storage.join(root, *RUN.split("/"))
    token = "gh" + "s_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
    _make_run(run_dir, notebook_text=f"pushing with {token}")
    with pytest.raises(SecretFound) as info:
        archive_run(run_dir, environ={})
    message = str(info.value)
    # the planted notebook is refused; its HTML render went through the kit's redaction
    assert "compare.ipynb" in message and "compare.html" not in message
    assert token not in message and token[4:20] not in message
    assert list_runs(root) == []  # not indexed


def test_archive_gs_run_with_overrides(gcs):
    root = "gs://marin-us-central1/test-archive/runs"
    run_dir = f"{root}/adhoc/my-run"
    _make_run(run_dir)
    try:
        result = archive_run(
            run_dir,
            runs_root=root,
            pr=7,
            verdict="fail",
            input_reports={"baseline": f"{run_dir}/inputs/tier1_baseline.json"},
            parameters={"gate": 1},
            environ={},
        )
        assert storage.exists(f"{run_dir}/g1/compare.html")
        prov = json.loads(storage.read_text(f"{run_dir}/provenance.json"))
        assert [i["name"] for i in prov["inputs"]] == ["baseline"]
        assert prov["parameters"] == {"gate": 1}
        (entry,) = list_runs(root, pr=7)
        assert (entry.verdict, entry.gate, entry.path) == ("fail", 2, run_dir)
        assert result.index_file == root + "/index/adhoc--my-run.json"
    finally:
        fs, inner = storage.filesystem(root)
        fs.rm(inner, recursive=True)


def test_archive_missing_folder(tmp_path):
    with pytest.raises(PerfgateError, match="run folder not found"):
        archive_run(str(tmp_path / "nope"))


def test_run_path_parsing():
    assert from_path("/x/runs/pr12/20260506T071523Z-abc1234") == {
        "pr": 12,
        "started_at": "2026-05-06T07:15:23+00:00",
        "sha": "abc1234",
    }
    assert from_path("gs://b/runs/pr3/20260506T071523Z/")["sha"] is None
    assert from_path("/x/elsewhere") == {}
    # a folder named like a run but at a time no calendar has: not a run path, no crash
    assert from_path("/x/runs/pr12/20261399T999999Z-abc1234") == {}


def test_kit_version_without_git_is_the_package_version(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance, "KIT_ROOT", tmp_path)
    kit = provenance.kit_version()
    assert kit["source"] == "package" and kit["git_sha"] is None
    assert kit["version"] == provenance.package_version()


def test_provenance_missing_input_names_it(tmp_path):
    with pytest.raises(PerfgateError, match="nope.json"):
        provenance.build_provenance(inputs={"baseline": str(tmp_path / "nope.json")})


@pytest.mark.slow
def test_archive_a_real_executed_notebook(tmp_path):
    from perfgate_lib.io.notebook import run_notebook

    root = tmp_path / "runs"
    run_dir = root / "pr9" / "20261127T101500Z-1234567"
    run_notebook("explore", str(run_dir), {"out_dir": str(run_dir)})
    result = archive_run(str(run_dir), environ={})
    html = (run_dir / "explore.html").read_text()
    assert "data:image/png;base64" in html and "minhash" in html
    assert result.entry.pr == 9 and result.entry.verdict is None
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["parameters"]["explore.ipynb"]["out_dir"] == str(run_dir)


def test_a_second_run_in_the_same_second_is_indexed_under_its_own_root(tmp_path, monkeypatch):
    """``-2``: gate/flow.py's suffix for a second run folder started in the same second.
    Before, such a folder was not recognised and its entry went to ./runs/index."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("PERFGATE_RUNS_ROOT", raising=False)
    root = tmp_path / "runs"
    run_dir = root / "pr4321" / "20261206T182723Z-4f9c2e1-2"
    storage.write_text(
        str(run_dir / "verdict.json"), json.dumps({"schema": 1, "gate": 1, "verdict": "fail"})
    )
    result = archive_run(str(run_dir), environ={})
    assert pathlib.Path(result.index_file).parent == root / "index"
    assert not (elsewhere / "runs").exists(), "no phantom entry in the working folder's runs"
    entry = result.entry
    assert (entry.pr, entry.sha, entry.started_at) == (4321, "4f9c2e1", "2026-12-06T18:27:23+00:00")
    assert from_path(str(root / "pr1" / "20261206T182723Z-3"))["sha"] is None


def test_demo_local_and_compare_folders_have_a_start_time_and_gate_0(tmp_path):
    root = tmp_path / "runs"
    for kind, stamp, gate in (
        ("demo", "20261206T120000Z", 0),
        ("compare", "20261206T090000Z", 1),
        ("local", "20261206T100000Z-2", 0),
    ):
        run_dir = root / kind / stamp
        storage.write_text(
            str(run_dir / "verdict.json"),
            json.dumps({"schema": 1, "gate": gate, "verdict": "pass"}),
        )
        archive_run(str(run_dir), environ={})
    runs = list_runs(str(root))
    assert [pathlib.Path(e.path).parent.name for e in runs] == ["compare", "local", "demo"]
    assert [e.gate for e in runs] == [1, 0, 0]
    assert all(e.started_at and e.pr is None for e in runs)


def test_html_renders_are_titled_with_the_notebook_and_run(tmp_path):
    run_dir = tmp_path / "runs" / RUN
    _make_run(str(run_dir))
    archive_run(str(run_dir), environ={})
    html = (run_dir / "g1" / "compare.html").read_text()
    assert "<title>compare · 20261127T101500Z-4f9c2e1/g1</title>" in html
    assert "<title>Notebook</title>" not in html


def test_history_chart_has_a_legend_of_its_marks(fixtures_dir):
    from perfgate_lib.audit import history, history_charts
    from perfgate_lib.verdict.report import load_report

    hist = history.load_history(1, str(fixtures_dir / "history"))
    points = history.detect_change_points(hist.stages)
    treatment = load_report(str(EXAMPLES / "tier1_treatment.json"))
    fig = history_charts.trend_chart(hist, points=points, treatment=treatment)
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:3] == ["scheduled baseline (s)", "rolling median (14 reports)", "median ± 2σ"]
    assert "treatment" in labels
    assert ("change point" in labels) == bool(points)
