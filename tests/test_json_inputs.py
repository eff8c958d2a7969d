"""JSON files the user or a run hands the kit: each bad one is an error naming the file.

The run state (`state.json`), the GitHub event (`--event`) and an assessment
(`--assessment`) are read through one helper; these check every way the file can be bad.
"""

from __future__ import annotations

import json

import pytest

from perfgate_lib.assess.assessment import AssessmentError
from perfgate_lib.assess.run import load_assessment
from perfgate_lib.errors import UsageError
from perfgate_lib.gate.state import STATE_FILE, RunState, StateError
from perfgate_lib.gate.trigger import load_event

BAD = [
    ("missing", None, "file not found"),
    ("not json", "{kind: ", "not valid JSON (Expecting property name enclosed in double quotes"),
    ("array", "[1, 2]", "expected a JSON object"),
]


def _readers(tmp_path):
    """(name, path to write, reader, error class, prefix the message starts with)."""
    state = tmp_path / "run" / STATE_FILE
    event = tmp_path / "event.json"
    assessment = tmp_path / "assessment.json"
    return [
        ("state", state, lambda: RunState.load(str(state.parent)), StateError, f"{state}: "),
        ("event", event, lambda: load_event(str(event)), UsageError, f"--event {event}: "),
        (
            "assessment",
            assessment,
            lambda: load_assessment(str(assessment)),
            AssessmentError,
            f"bad assessment {assessment}: ",
        ),
    ]


@pytest.mark.parametrize("kind", ["state", "event", "assessment"])
@pytest.mark.parametrize(("case", "text", "problem"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_json_file_is_an_error_naming_it(tmp_path, kind, case, text, problem):
    _kind, path, read, error, prefix = next(r for r in _readers(tmp_path) if r[0] == kind)
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    with pytest.raises(error) as info:
        read()
    assert str(info.value).startswith(prefix + problem), str(info.value)


@pytest.mark.parametrize("kind", ["state", "event"])
@pytest.mark.parametrize("case", ["not utf-8", "a folder"])
def test_an_unreadable_state_or_event_file_is_an_error_naming_it(tmp_path, kind, case):
    """A state.json (or event file) that is not UTF-8 text, or is a folder, was a
    UnicodeDecodeError / IsADirectoryError crash; every later run of the PR crashed too, as
    listing its unfinished runs skips only StateError."""
    _kind, path, read, error, prefix = next(r for r in _readers(tmp_path) if r[0] == kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    if case == "a folder":
        path.mkdir()
    else:
        path.write_bytes(b'\xff{"kind": "perfgate-run"}')
    with pytest.raises(error) as info:
        read()
    problem = "a folder, not a file" if case == "a folder" else "not UTF-8 text (invalid start"
    assert str(info.value).startswith(prefix + problem), str(info.value)


def test_an_unreadable_state_is_skipped_when_listing_a_prs_runs(tmp_path):
    from perfgate_lib.gate.state import unfinished_runs

    (tmp_path / "pr5" / "20260101T000000Z-abc" / STATE_FILE).mkdir(parents=True)
    (tmp_path / "pr5" / "20260102T000000Z-abd").mkdir()
    (tmp_path / "pr5" / "20260102T000000Z-abd" / STATE_FILE).write_bytes(b"\xff{")
    assert list(unfinished_runs(str(tmp_path), 5)) == []


def test_a_state_file_of_another_kind_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / STATE_FILE).write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(StateError, match="not a perfgate run state"):
        RunState.load(str(run))


def test_a_good_event_file_is_read(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "created", "issue": {"number": 7}}))
    assert load_event(str(event)) == {"action": "created", "issue": {"number": 7}}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"repository": "marin"}, "repository"),
        ({"issue": "x", "comment": {}}, "issue"),
        ({"issue": {"user": ["a"]}}, "issue.user"),
        ({"comment": {"body": 7}}, "comment.body"),
        ({"comment": {"user": {"login": {"a": 1}}}}, "comment.user.login"),
        ({"issue": {"number": "abc"}}, "issue.number"),
        ({"issue": {"number": True}}, "issue.number"),
        ({"issue": {"number": 7.5}}, "issue.number"),
        ({"issue": {"number": 0}}, "issue.number"),
    ],
)
def test_an_event_field_of_another_type_is_an_error_naming_it(tmp_path, event, field):
    """A field the trigger reads, of the wrong type, is named (exit 2), not a crash; a
    number true or 7.5 never stands for PR 1 or 7."""
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    with pytest.raises(UsageError, match=f"^--event {path}: field '{field}': expected"):
        load_event(str(path))


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{1: 2", "not valid JSON"), ("{}", None), ('{"1": "a.json"}', None)],
)
def test_a_replay_mapping_is_a_json_object_or_an_error_naming_it(text, problem):
    from perfgate_lib.runners.replay import parse_source

    if problem is None:
        assert parse_source(text) == json.loads(text)
    else:
        with pytest.raises(UsageError, match=f"^replay mapping: {problem}"):
            parse_source(text)
    assert parse_source("runs/recorded") == "runs/recorded"  # a folder stays a path


def test_a_json_argument_names_the_argument_and_its_file(tmp_path):
    from perfgate_lib.io.paramfile import parse_json_arg

    missing = tmp_path / "context.json"
    with pytest.raises(UsageError, match=f"^context {missing}: file not found$"):
        parse_json_arg(str(missing), "context")
    with pytest.raises(UsageError, match=r"^context: not valid JSON \("):
        parse_json_arg('{"gate": ', "context")
    missing.write_text("[1]")
    with pytest.raises(UsageError, match=f"^context {missing}: expected a JSON object$"):
        parse_json_arg(str(missing), "context")
    missing.write_text('{"gate": 2}')
    assert parse_json_arg(str(missing), "context") == parse_json_arg('{"gate": 2}', "x")
    assert parse_json_arg("", "context") == {}


def _attempt(**fields):
    return {"gate1": {"gate": 1, "attempt": 1, "folder": "gate1", "status": "submitting", **fields}}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"attempts": _attempt(submit_pid="123")}, "attempts.gate1.submit_pid: input should be"),
        ({"attempts": _attempt(job_id=7)}, "attempts.gate1.job_id: input should be a valid str"),
        ({"attempts": {"gate1": {"gate": 1}}}, "attempts.gate1.attempt: missing"),
        ({"posts": [{"kind": "verdict", "key": "gate1"}]}, "posts[0].sha256: missing"),
        (
            {"attempts": _attempt(job={"job_id": "j", "submitted_at": "t", "polls": "many"})},
            "attempts.gate1.job.polls: input should be a valid integer",
        ),
        ({"pr": "7"}, "pr: input should be a valid integer"),
        ({"status": None}, "status: input should be a valid string"),
    ],
)
def test_a_damaged_state_is_refused_naming_its_field(tmp_path, change, named):
    """What a resumed run acts on (job ids, the submit process, posts) is typed when read:
    a wrong value stops the run before it could submit or post a second time."""
    RunState.create(str(tmp_path), pr=7, sha="abc")
    data = json.loads((tmp_path / STATE_FILE).read_text())
    assert RunState.load(str(tmp_path)).record.to_json() == data
    (tmp_path / STATE_FILE).write_text(json.dumps({**data, **change}))
    with pytest.raises(StateError) as info:
        RunState.load(str(tmp_path))
    assert str(info.value).startswith(f"{tmp_path / STATE_FILE}: {named}"), str(info.value)


def test_the_run_record_is_typed_and_keeps_what_a_newer_kit_wrote(tmp_path):
    """A run holds state.json as a typed record: fields are set by name (an undeclared
    name is an error, not a silent new key), and keys this kit does not declare, at the
    top level and in an attempt, survive a load and a save."""
    state = RunState.create(str(tmp_path), pr=7, sha="abc")
    state.update_attempt(1, 1, status="submitted", job_id="/u/pr7-g1", submit_pid=42)
    data = json.loads((tmp_path / STATE_FILE).read_text())
    data["from_a_newer_kit"] = {"x": 1}
    data["attempts"]["gate1"]["newer_field"] = [1, 2]
    (tmp_path / STATE_FILE).write_text(json.dumps(data))
    loaded = RunState.load(str(tmp_path))
    rec = loaded.attempt(1, 1)
    assert (rec.job_id, rec.submit_pid, rec.status) == ("/u/pr7-g1", 42, "submitted")
    assert loaded.job_ids() == ("/u/pr7-g1",)
    loaded.set(status="running")
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert saved["from_a_newer_kit"] == {"x": 1} and saved["status"] == "running"
    assert saved["attempts"]["gate1"]["newer_field"] == [1, 2]
    with pytest.raises(TypeError, match="'jobid'"):
        loaded.update_attempt(1, 1, jobid="typo")
    with pytest.raises(TypeError, match="'stauts'"):
        loaded.set(stauts="finished")


ODD = [
    ("a folder", None, "a folder, not a file"),
    ("not utf-8", b"\xff\xfe{}", "not UTF-8 text"),
    ("nested deep", b'{"a": ' * 100_000, "JSON nested too deeply"),
]


@pytest.mark.parametrize("kind", ["state", "event", "assessment"])
@pytest.mark.parametrize(("case", "data", "problem"), ODD, ids=[o[0] for o in ODD])
def test_an_odd_json_file_is_an_error_naming_it(tmp_path, kind, case, data, problem):
    _kind, path, read, error, prefix = next(r for r in _readers(tmp_path) if r[0] == kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        path.mkdir()
    else:
        path.write_bytes(data)
    with pytest.raises(error) as info:
        read()
    assert str(info.value).startswith(prefix + problem), str(info.value)


@pytest.mark.parametrize(("case", "data", "problem"), ODD, ids=[o[0] for o in ODD])
def test_an_odd_parameters_file_is_an_error_naming_it(tmp_path, case, data, problem):
    from perfgate_lib.errors import ConfigError
    from perfgate_lib.io.paramfile import load_yaml

    path = tmp_path / "thresholds.yaml"
    if data is None:
        path.mkdir()
    else:
        path.write_bytes(data.replace(b'{"a": ', b"[") if case == "nested deep" else data)
    problem = "YAML nested too deeply" if case == "nested deep" else problem
    with pytest.raises(ConfigError, match=f"^bad parameters file {path}: {problem}"):
        load_yaml(str(path))
