"""Reviewer confirmation (step 1a), the confirmation block, the comment table and escaping."""

from __future__ import annotations

import json
import re

import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.assess.assessment import Assessment, AssessmentError, FileChange, assess
from perfgate_lib.assess.confirm import apply_reply, parse_reply, runs_gate, waived
from perfgate_lib.assess.render import (
    render_assessment_block,
    render_assessment_table,
    render_waiver_comment,
)
from perfgate_lib.errors import UsageError

ZSRC = "lib/zephyr/src/zephyr"
BUFFER_BASE = "SCATTER_BUFFER_BYTES = 64 * 1024 * 1024\n"
BUFFER_HEAD = "SCATTER_BUFFER_BYTES = 128 * 1024 * 1024\n"


def proposed_3(**kwargs) -> Assessment:
    change = FileChange(f"{ZSRC}/shuffle.py", "modified", None, BUFFER_BASE, BUFFER_HEAD)
    return assess([change], find_references=lambda names: {}, **kwargs)


def proposed_skip(**kwargs) -> Assessment:
    change = FileChange(f"{ZSRC}/plan.py", "modified", None, "x = 1\n", "x = 1  # one\n")
    return assess([change], find_references=lambda names: {}, **kwargs)


@pytest.mark.parametrize(
    ("text", "action", "gate", "reason", "fork"),
    [
        ("go", "go", None, "", False),
        ("  GO  ", "go", None, "", False),
        ('"go"', "go", None, "", False),
        ("Go.", "go", None, "", False),
        ("go fork", "go", None, "", True),
        ("max_gate=2", "override", "2", "", False),
        ("MAX_GATE = 1", "override", "1", "", False),
        ("max_gate=Skip", "override", "skip", "", False),
        (
            "max_gate=2 — only minhash sensitivity matters",
            "override",
            "2",
            "only minhash sensitivity matters",
            False,
        ),
        ("max gate: 3 fork - big change", "override", "3", "big change", True),
        ("skip", "override", "skip", "", False),
        ("skip: comments only", "override", "skip", "comments only", False),
    ],
)
def test_accepted_replies(text, action, gate, reason, fork):
    reply = parse_reply(text)
    assert (reply.action, reply.max_gate, reply.reason, reply.fork_ok) == (
        action,
        gate,
        reason,
        fork,
    )


@pytest.mark.parametrize(
    "text", ["", "ok", "go ahead", "gofork", "max_gate=4", "max_gate=", "skipping"]
)
def test_other_replies_are_clear_errors_listing_the_accepted_ones(text):
    with pytest.raises(UsageError) as err:
        parse_reply(text)
    message = str(err.value)
    assert '"go"' in message and "max_gate=<skip|1|2|3>" in message and '"skip"' in message


def test_go_runs_the_proposal_unchanged():
    a = apply_reply(proposed_3(), "go")
    assert (a.max_gate, a.proposed_max_gate) == ("3", "3")
    assert a.rationale == proposed_3().rationale
    assert a.confirmation["override"] is False and runs_gate(a) and not waived(a)


def test_override_is_recorded_in_the_rationale_the_skills_way():
    original = proposed_3()
    a = apply_reply(original, "max_gate=2 — only minhash sensitivity matters")
    assert a.max_gate == "2" and a.proposed_max_gate == "3"
    assert a.rationale == (
        "reviewer override: max_gate=2 — only minhash sensitivity matters "
        f"(proposed max_gate=3: {original.rationale})"
    )
    assert a.to_json()["confirmation"]["reason"] == "only minhash sensitivity matters"


def test_skip_produces_the_one_line_waiver_comment():
    a = apply_reply(
        proposed_3(head_sha="0123456789abcdef"), "skip — docs-like refactor", reviewer="rev"
    )
    assert waived(a) and not runs_gate(a)
    body = render_waiver_comment(a, reviewer="rev")
    first, visible = body.rstrip("\n").split("\n")
    assert first == SENTINEL
    assert visible.startswith("🤖 Zephyr perf gate waived by rev at `0123456789ab`")
    assert "reviewer override of proposed max_gate=3: docs-like refactor" in visible


def test_concurred_all_trivial_skip_waiver():
    a = apply_reply(proposed_skip(), "go")
    assert a.max_gate == "skip" and waived(a)
    assert "all Zephyr changes assessed trivial" in render_waiver_comment(a)


def test_fork_needs_an_explicit_confirmation():
    a = proposed_3(is_fork=True, fork_repo="someone/marin")
    assert a.flags[0].startswith("head is a fork (someone/marin)")
    assert 'Reply "go fork"' in render_assessment_block(a)
    with pytest.raises(UsageError, match="fork .*untrusted code on the cluster"):
        apply_reply(a, "go")
    with pytest.raises(UsageError, match="go fork"):
        apply_reply(a, "max_gate=1")
    confirmed = apply_reply(a, "go fork")
    assert confirmed.max_gate == "3" and confirmed.confirmation["fork_confirmed"] is True
    assert apply_reply(a, "skip").max_gate == "skip"  # running nothing needs no fork ack


def test_out_of_scope_go_runs_nothing_and_override_forces():
    change = FileChange("lib/zephyr/tests/test_x.py", "modified")
    a = assess([change])
    assert render_assessment_block(a).splitlines()[1].startswith("Out of scope: test-only diff")
    assert not runs_gate(apply_reply(a, "go"))
    forced = apply_reply(a, "max_gate=1 — the test exercises a hot path")
    assert runs_gate(forced) and forced.confirmation["forced"]
    assert any("forced a gate" in f for f in forced.flags)


def test_block_has_the_skills_shape():
    block = render_assessment_block(proposed_3())
    lines = block.splitlines()
    assert lines[0] == "🤖 Zephyr perf gate assessment"
    assert lines[1] == "Proposed max_gate: 3"
    assert lines[2].startswith("Rationale: shuffle.py: changed SCATTER_BUFFER_BYTES")
    assert lines[3] == "Per-file:"
    assert lines[4].startswith(f"- `{ZSRC}/shuffle.py`: changed SCATTER_BUFFER_BYTES")
    assert lines[-1] == 'Reply "go" to run, or override with "max_gate=<skip|1|2|3>".'


def test_table_has_five_answers_summary_rationale_and_evidence():
    md = render_assessment_table(apply_reply(proposed_3(), "max_gate=2 — fine"))
    lines = md.splitlines()
    assert lines[0] == "| File | Trivial | Shuffle | Memory | CPU | Design | Summary |"
    assert lines[2].startswith(f"| `{ZSRC}/shuffle.py` | no | yes | yes | no | no | ")
    assert "**max_gate:** 2 (proposed 3) — reviewer override: max\\_gate=2 — fine" in md
    assert "<details><summary>Assessment evidence</summary>" in md
    assert "**Memory yes:**" in md and "64 MiB" in md


def _outside_code_spans(md: str) -> str:
    return re.sub(r"(`+)(.+?)\1", "CODE", md)


def test_untrusted_file_names_are_escaped():
    path = f"{ZSRC}/x|y`z<img src=1>@team\nProposed max_gate: skip.py"
    change = FileChange(path, "added", None, None, "import os\n")
    a = assess([change], find_references=lambda names: {})
    md = render_assessment_table(a)
    row = next(line for line in md.splitlines() if line.startswith("| ``"))
    assert _outside_code_spans(row).count("|") == 8  # the pipe in the name opens no cell
    outside = _outside_code_spans(md)
    assert "<img" not in outside and "@team" not in outside and "&lt;img" in outside
    block = render_assessment_block(a)
    forged = [ln for ln in block.splitlines() if ln.startswith("Proposed max_gate:")]
    assert forged == ["Proposed max_gate: 1"]  # a file name cannot forge a line


def test_reviewer_reason_is_escaped_in_markdown():
    a = apply_reply(proposed_3(), "max_gate=1 — ping @everyone <b>now</b> | x")
    md = render_assessment_table(a)
    assert "@everyone" not in md and "&#64;everyone" in md
    assert "<b>" not in md and "&#124;" in md


def test_json_round_trip_and_bad_files_name_the_field():
    a = apply_reply(proposed_3(), "go")
    data = json.loads(json.dumps(a.to_json()))
    assert set(data) >= {"max_gate", "rationale", "per_file", "in_scope", "flags"}
    per_file = data["per_file"][f"{ZSRC}/shuffle.py"]
    assert set(per_file) >= {"trivial", "shuffle", "memory", "cpu", "design", "summary", "evidence"}
    assert set(per_file["evidence"]) == {"trivial", "shuffle", "memory", "cpu", "design"}
    assert Assessment.from_json(data).to_json() == a.to_json()
    data["per_file"][f"{ZSRC}/shuffle.py"]["memory"] = "yes"
    with pytest.raises(AssessmentError, match="per_file.lib/zephyr/src/zephyr/shuffle.py.memory"):
        Assessment.from_json(data, "a.json")
    with pytest.raises(AssessmentError, match="a.json: field 'max_gate'"):
        Assessment.from_json({"max_gate": "4"}, "a.json")
    with pytest.raises(AssessmentError, match="a.json: field 'per_file.x.py': input should be"):
        Assessment.from_json({"max_gate": 1, "per_file": {"x.py": True}}, "a.json")
    entry = {**per_file, "memory": False}
    written = Assessment.from_json({"max_gate": 3, "per_file": {"x.py": entry}, "schema": 1})
    assert written.max_gate == "3" and written.in_scope and written.proposed_max_gate == "3"
    assert written.per_file["x.py"].path == "x.py" and not written.per_file["x.py"].trivial
