"""One redaction point: secrets planted in every untrusted input never leave the process.

Paths covered: report fields (comment, verdict.json, notebook, stdout, run folder, with
and without ``--out``), iris log lines (OOM evidence), a title and the comment body
``post`` sends, an assessment summary, error lines on stderr and state/storage writes.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.assess.render import render_assessment_table
from perfgate_lib.audit.scrub import find_in_text, find_secrets
from perfgate_lib.gate.sections import oom_lines, oom_section
from perfgate_lib.io import storage
from perfgate_lib.io.redaction import marker, redact, redact_json
from perfgate_lib.mdtext import md_escape
from perfgate_lib.verdict.render import CommentExtras, render_comment
from perfgate_lib.verdict.report import load_report
from perfgate_lib.verdict.rules import GateContext, decide
from perfgate_lib.verdict.thresholds import load_thresholds
from tests.cli_helpers import perfgate, perfgate_here
from tests.fakes.github_server import DEFAULT_REPO

pytest_plugins = ("tests.fakes.github_fixtures",)

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "parameters" / "examples"
TOKEN = "gh" + "p_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"  # 36 letters and digits
PAT = "github" + "_pat_" + "11ABCDEFG0" + "a" * 12 + "_" + "Zy9" * 12
ENV_NAME, ENV_VALUE = "PERFGATE_TEST_SECRET", "s3cr3t-" + "planted-" + "value-77"


def token_report(tmp_path: pathlib.Path, name: str = "token.json") -> pathlib.Path:
    """The example treatment with a token in workflow_name and warnings (the issue's case)."""
    doc = json.loads((EXAMPLES / "tier1_treatment.json").read_text())
    doc["workflow_name"] = f"leak {TOKEN}"
    doc["warnings"] = [f"leak {TOKEN}", f"env {ENV_VALUE}", f"pat {PAT}"]
    doc["stage_wall_seconds"] = {**doc["stage_wall_seconds"], f"stage_{TOKEN}": 1.0}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def assert_clean(text: str, where: str) -> None:
    for secret in (TOKEN, PAT, ENV_VALUE, md_escape(TOKEN), TOKEN[4:24]):
        assert secret not in text, f"secret in {where}"


def assert_folder_clean(folder: pathlib.Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert_clean(path.read_text(errors="replace"), str(path))
    assert find_secrets(str(folder), {ENV_NAME: ENV_VALUE}) == []  # the second line finds nothing


def test_markers_say_what_was_removed():
    text = f"a {TOKEN} b {PAT} c {ENV_VALUE} Authorization: Bearer abc123DEF456ghi789JKL"
    out = redact(text, {ENV_NAME: ENV_VALUE})
    assert out == (
        f"a {marker('github-token')} b {marker('github-token')} c {marker('env:' + ENV_NAME)}"
        f" Authorization: Bearer {marker('authorization-header')}"
    )


def test_markdown_escaped_tokens_are_caught_too():
    escaped = md_escape(f"leak {TOKEN} and {PAT}")
    assert TOKEN not in escaped  # escaping alone hides the token from a naive scrubber
    assert find_in_text(escaped, "c", {}) and find_in_text(json.dumps(escaped), "j", {})
    assert_clean(redact(escaped, {}), "escaped")
    assert_clean(redact(json.dumps(escaped), {}), "json-escaped")


def test_redacting_serialised_json_keeps_it_json():
    doc = {
        "a": f"x {TOKEN}",
        TOKEN: [f'pw {ENV_VALUE}"q', {"k": "-----BEGIN RSA PRIVATE KEY-----\nAAA"}],
        "b": "-----END RSA PRIVATE KEY-----",
    }
    env = {ENV_NAME: ENV_VALUE}
    out = json.loads(redact(json.dumps(doc), env))
    assert out == redact_json(doc, env)
    assert_clean(json.dumps(out), "json")


def test_storage_writes_are_redacted_and_binary_is_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_NAME, ENV_VALUE)
    storage.write_text(str(tmp_path / "log.txt"), f"{TOKEN} {ENV_VALUE}")
    storage.write_text("memory://redaction/state.json", json.dumps({"note": TOKEN}))
    png = b"\x89PNG\r\n\x1a\n" + TOKEN.encode()
    storage.write_bytes(str(tmp_path / "chart.png"), png)
    assert (
        tmp_path / "log.txt"
    ).read_text() == f"{marker('github-token')} {marker('env:' + ENV_NAME)}"
    assert json.loads(storage.read_text("memory://redaction/state.json"))["note"].startswith(
        "[REDACTED"
    )
    assert (tmp_path / "chart.png").read_bytes() == png
    index = tmp_path / "index" / "run.json"  # the run index and state.json: atomic writes
    storage.write_atomic(str(index), json.dumps({"note": f"{TOKEN} {ENV_VALUE}"}))
    assert json.loads(index.read_text())["note"] == (
        f"{marker('github-token')} {marker('env:' + ENV_NAME)}"
    )
    assert [p.name for p in index.parent.iterdir()] == ["run.json"], "no temp file left"


def _verdict_comment(treat_path, **kwargs) -> str:
    base = load_report(str(EXAMPLES / "tier1_baseline.json"))
    treat = load_report(str(treat_path))
    ctx = GateContext.from_dict({"gate": 1, "now": "2026-11-27T12:00:00+00:00"})
    verdict = decide(base, treat, load_thresholds(None), ctx)
    return render_comment(verdict, base, treat, **kwargs)


def test_comment_redacts_report_fields_iris_logs_title_and_assessment(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_NAME, ENV_VALUE)
    log = f"worker 3 died: out of memory (oom-kill) pushing with {TOKEN}\nAuthorization: token {ENV_VALUE}\n"
    lines = oom_lines(log + "worker pool lost\n")
    assert any(TOKEN in line for line in lines)  # the evidence itself is raw ...
    summary = {"trivial": False, "shuffle": True, "memory": False, "cpu": True, "design": False}
    assessment = {
        "max_gate": "3",
        "rationale": f"rationale {TOKEN}",
        "per_file": {
            "lib/zephyr/src/zephyr/shuffle.py": {
                **summary,
                "summary": f"summary with {TOKEN} and {ENV_VALUE}",
            }
        },
        "in_scope": True,
        "flags": [],
    }
    extras = CommentExtras(title=f"PR title {TOKEN}", sections=[oom_section("/job/1", lines)])
    body = _verdict_comment(
        token_report(tmp_path), assessment_md=render_assessment_table(assessment), extras=extras
    )
    assert "summary with" in body and "PR title" in body and "oom-kill" in body
    assert_clean(body, "comment")  # ... the comment is not
    assert marker("github-token") in body.replace("\\", "")
    assert len(body) <= 65_536


def test_post_sends_a_redacted_body(github_env, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_NAME, ENV_VALUE)
    github_env.add_pull(DEFAULT_REPO, 77)
    body = tmp_path / "comment.md"
    body.write_text(f"{SENTINEL}\nPR title: fix {TOKEN}\nenv {ENV_VALUE}\n")  # planted raw
    code, out, err = perfgate_here("post", "--pr", "77", "--body-file", str(body))
    assert code == 0
    (sent,) = [c["body"] for c in github_env.comments_on(DEFAULT_REPO, 77)]
    assert_clean(sent + out + err, "posted comment")
    assert marker("github-token") in sent and marker(f"env:{ENV_NAME}") in sent


def test_error_lines_on_stderr_are_redacted(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"cached_steps": [1, TOKEN]}))  # the error quotes the value
    code, out, err = perfgate_here("compare", str(EXAMPLES / "tier1_baseline.json"), str(bad))
    assert code == 4 and "cached_steps" in err
    assert_clean(out + err, "stderr")


@pytest.mark.parametrize("with_out", [True, False], ids=["--out", "runs-root"])
def test_compare_with_a_token_in_the_report_leaks_nothing(tmp_path, with_out):
    """The issue's command: comment.md, compare.ipynb, verdict.json, stdout all clean."""
    treat = token_report(tmp_path)
    runs = tmp_path / "runs"
    out_args = ["--out", str(tmp_path / "o")] if with_out else []
    proc = perfgate(
        "compare",
        str(EXAMPLES / "tier1_baseline.json"),
        str(treat),
        *out_args,
        "--json",
        env={"PERFGATE_RUNS_ROOT": str(runs), ENV_NAME: ENV_VALUE},
    )
    # the extra (token-named) stage makes the stage sets differ: inconclusive, exit 3
    assert proc.returncode == 3, proc.stderr
    assert_clean(proc.stdout + proc.stderr, "output")
    folder = tmp_path / "o" if with_out else next((runs / "compare").iterdir())
    assert {"comment.md", "verdict.json", "compare.ipynb"} <= {p.name for p in folder.iterdir()}
    assert_folder_clean(folder)
    comment = (folder / "comment.md").read_text()
    assert "Raw treatment report" in comment and marker("github-token") in comment
    if not with_out:  # archived: the scrub ran and found nothing; the run is indexed
        assert (folder / "provenance.json").exists() and (folder / "compare.html").exists()


# ---------------------------------------------------------------------- issue 29, problem 5

SHAPES = {
    "AWS_SECRET_ACCESS_KEY": "/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # starts with /
    "DB_PASS": "hunter2-but-longer",
    "GCP_CREDENTIALS": '{"type": "service_account", "k": "v4lue"}',
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/xyzXYZ",
    "SENTRY_DSN": "https://abc123@o99.ingest.example/42",
    "X_AUTH": "auth-value-9f8e7d",
    "SESSION_COOKIE": "sid=1f2e3d4c5b6a",
    "MY_PRIVATE_VALUE": "private-value-55",
    "BANK_PIN_KEY": "9876543210",  # a number
}


def encodings(value: str) -> dict[str, str]:
    """What a PR's test could print instead of the value itself."""
    import base64
    import subprocess
    import urllib.parse

    raw = value.encode()
    wrapped = subprocess.run(["base64"], input=raw * 3, capture_output=True, check=True).stdout
    return {
        "plain": value,
        "base64": base64.b64encode(raw).decode(),
        "base64-unpadded": base64.b64encode(raw).decode().rstrip("="),
        "urlsafe": base64.urlsafe_b64encode(raw).decode(),
        "echo|base64": base64.b64encode(raw + b"\n").decode(),
        "basic-auth": base64.b64encode(b"user:" + raw).decode(),
        "base64-wrapped": wrapped.decode(),
        "url": urllib.parse.quote(value, safe=""),
        "url-plus": urllib.parse.quote_plus(value),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }


def leaks(text: str, value: str) -> list[str]:
    """The encodings of ``value`` (whole, or the part of it past 2 bytes) found in ``text``."""
    import base64

    found = []
    flat = text.replace("\n", "")
    for how, form in encodings(value).items():
        if how == "base64-wrapped":
            continue  # its parts are the base64 checks below, once the newlines go
        if form in text or form.strip() in flat:
            found.append(how)
    core = base64.b64encode(value.encode()[: len(value) // 3 * 3]).decode()
    if core in flat:
        found.append("base64 core")
    return found


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_secret_name_and_encoding_is_redacted(name):
    env = {name: SHAPES[name], "HOME": "/root"}
    text = "\n".join(f"{how}: {form}" for how, form in encodings(SHAPES[name]).items())
    out = redact(text, env)
    assert leaks(out, SHAPES[name]) == []
    assert f"[REDACTED env:{name}]" in out
    assert "HOME" not in out and find_in_text(out, "out", env) == []


def test_a_numeric_secret_is_not_cut_out_of_longer_numbers():
    env = {"BANK_PIN_KEY": "9876543210"}
    assert redact("id=19876543210 pin=9876543210.", env) == (
        "id=19876543210 pin=[REDACTED env:BANK_PIN_KEY]."
    )


def test_a_long_multiline_key_printed_through_base64_is_redacted():
    """A service-account key (2 KB of JSON holding a PEM) as `base64` prints it: wrapped
    at 76 columns, the value's encoding split over many lines."""
    import base64
    import subprocess

    body = base64.b64encode(bytes(range(256)) * 6).decode()
    key = json.dumps(
        {"type": "service_account", "private_key": f"-----BEGIN PRIVATE KEY-----\n{body}\n"}
    )
    env = {"GCP_SA_KEY": key}
    printed = subprocess.run(["base64"], input=key.encode(), capture_output=True, check=True)
    out = redact("log start\n" + printed.stdout.decode() + "log end\n", env)
    assert out == "log start\n[REDACTED env:GCP_SA_KEY]\nlog end\n"
    assert leaks(out, key) == []
