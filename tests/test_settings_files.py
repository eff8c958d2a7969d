"""Parameters files read as typed settings (pydantic): a bad field is named with its file.

The bundled files themselves must load; each mutation below breaks one field and the
error names the file and that field (list items by index), with what was found.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from perfgate_lib.errors import ConfigError
from perfgate_lib.gate.runparams import parse_run_params
from perfgate_lib.io.limits import parse_limits
from perfgate_lib.verdict.gates import parse_gate
from tests.conftest import REPO_ROOT

PARAMS = REPO_ROOT / "parameters"


def _doc(name: str) -> dict:
    return yaml.safe_load((PARAMS / name).read_text())


def _gate1(doc: dict, source: str):
    return parse_gate(doc, 1, source, max_baseline_age_hours=24.0)


READERS = {"gate_common.yaml": parse_run_params, "limits.yaml": parse_limits, "gate1.yaml": _gate1}


@pytest.mark.parametrize("name", sorted(READERS))
def test_the_bundled_files_load(name):
    settings = READERS[name](_doc(name), name)
    assert settings.source == name


@pytest.mark.parametrize(
    ("name", "key", "value", "field", "problem"),
    [
        ("gate_common.yaml", "mirror", None, "mirror", "missing"),
        ("gate_common.yaml", "mirror", "  ", "mirror", "at least 1 character"),
        ("gate_common.yaml", "poll_error_limit", 2.5, "poll_error_limit", "valid integer, got 2.5"),
        ("gate_common.yaml", "command_timeout_seconds", True, "command_timeout_seconds", "got True"),
        ("gate_common.yaml", "collect_from", "cwd", "collect_from", "'checkout' or 'worktree'"),
        ("gate_common.yaml", "local_checks", "pytest", "local_checks", "a valid list, got 'pytest'"),
        ("gate_common.yaml", "local_checks", [{"run": "ok"}, {"run": 'a "b'}], "local_checks[1].run",
         "no closing quotation"),
        ("limits.yaml", "diff_max_files", 0, "diff_max_files", "greater than 0, got 0"),
        ("limits.yaml", "report_max_bytes", "20MB", "report_max_bytes", "got '20MB'"),
        ("gate1.yaml", "wall_time_minutes", -60, "wall_time_minutes", "greater than 0"),
        ("gate1.yaml", "env", ["A=1"], "env", "a valid dictionary, got ['A=1']"),
    ],
)  # fmt: skip
def test_a_bad_field_names_the_file_and_the_field(name, key, value, field, problem):
    doc = copy.deepcopy(_doc(name))
    if value is None:
        del doc[key]
    else:
        doc[key] = value
    with pytest.raises(ConfigError) as info:
        READERS[name](doc, f"/ops/{name}")
    assert info.value.field == field
    assert str(info.value).startswith(f"bad parameters file /ops/{name}: field '{field}': ")
    assert problem.lower() in str(info.value).lower()


def test_a_check_without_a_name_is_named_by_its_command():
    doc = _doc("gate_common.yaml")
    doc["local_checks"] = [{"run": "  uv run pytest -x  "}]
    (check,) = parse_run_params(doc, "gate_common.yaml").local_checks
    assert check.name == check.run == "uv run pytest -x" and check.argv[-1] == "-x"


def test_env_values_are_text():
    doc = _doc("gate1.yaml")
    doc["env"] = {"WORKERS": 4, "FAST": True}
    assert _gate1(doc, "gate1.yaml").env == {"WORKERS": "4", "FAST": "True"}


@pytest.mark.parametrize("case", ["a folder", "not utf-8"])
def test_a_run_settings_file_that_cannot_be_read_is_named(tmp_path, case):
    """``--run-params`` naming a folder, or a file that is not UTF-8 text, was an
    IsADirectoryError / UnicodeDecodeError crash (exit 4) of doctor, run and trigger."""
    from perfgate_lib.gate.runparams import load_run_params

    path = tmp_path / "common.yaml"
    if case == "a folder":
        path.mkdir()
    else:
        path.write_bytes(b"\xff\xfecluster_config: x\n")
    problem = "a folder, not a file" if case == "a folder" else "not UTF-8 text (invalid start"
    with pytest.raises(ConfigError) as info:
        load_run_params(path)
    assert str(info.value).startswith(f"bad parameters file {path}: {problem}"), str(info.value)
