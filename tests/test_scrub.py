"""The secret scrubber against planted secrets of each kind (built at run time)."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from matplotlib.figure import Figure

from perfgate_lib.audit.scrub import find_in_text, find_secrets, redact, scan, secret_env_values
from perfgate_lib.errors import SecretFound
from perfgate_lib.io import storage
from tests.planting import plant_bytes, plant_text

BODY = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # 36 letters and digits
PREFIXES = ["gh" + c + "_" for c in "pousr"]
PAT = "github" + "_pat_" + "11ABCDEFG0" + "a" * 12 + "_" + "Zy9" * 20
PEM = (
    "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabcdef\n-----END RSA PRIVATE KEY-----"
)
OPENSSH = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
ENV_SECRET = "s3cr3t-" + "value-" + "42xyz"
ENV = {
    "PERFGATE_TEST_API_KEY": ENV_SECRET,
    "DB_PASSWORD": 'pa"ss' + "word-99",  # appears JSON-escaped in notebooks
    "FSSPEC_GS_TOKEN": "anon",  # too short: ignored
    "SESSION_ID": "short",  # under 8 characters: ignored
    "HOME": "/root",
}


def _tokens() -> dict[str, str]:
    return {prefix: prefix + BODY for prefix in PREFIXES} | {"github_pat_": PAT}


def _all_secret_values() -> list[str]:
    return [
        *_tokens().values(),
        "abc123DEF456ghi789JKL",
        "Zm9vOmJhcjEyMzQ1Njc4",
        PEM,
        ENV_SECRET,
    ]


def _plant(root) -> dict[str, tuple[int, str]]:
    """Write one planted secret per file; returns {file name: (line, kind)}."""
    planted: dict[str, tuple[int, str]] = {}
    for i, (prefix, token) in enumerate(_tokens().items()):
        name = f"log-{prefix.rstrip('_')}.txt"
        text = "\n" * i + f"clone with https://x-access-token:{token}@github.com/o/r\n"
        plant_text(storage.join(root, name), text)
        planted[name] = (i + 1, "github-token")
    nb = {
        "cells": [
            {"outputs": [{"text": ["HEADERS {'Authorization': 'Bearer abc123DEF456ghi789JKL'}\n"]}]}
        ]
    }
    text = json.dumps(nb, indent=1)
    plant_text(storage.join(root, "gate.ipynb"), text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "HEADERS" in ln)
    planted["gate.ipynb"] = (line, "authorization-header")
    plant_text(
        storage.join(root, "curl.log"), "ok\nok\n> Authorization: Basic Zm9vOmJhcjEyMzQ1Njc4\n"
    )
    planted["curl.log"] = (3, "authorization-header")
    plant_text(storage.join(root, "key.pem"), "note\n" + PEM + "\n")
    planted["key.pem"] = (2, "private-key")
    plant_text(storage.join(root, "sub", "deploy.txt"), OPENSSH)
    planted["sub/deploy.txt"] = (1, "private-key")
    plant_text(storage.join(root, "comment.md"), f"# title\n\nkey={ENV_SECRET}\n")
    planted["comment.md"] = (3, "env:PERFGATE_TEST_API_KEY")
    escaped = json.dumps({"source": ["pw = " + ENV["DB_PASSWORD"]]})
    plant_text(storage.join(root, "explore.ipynb"), escaped)
    planted["explore.ipynb"] = (1, "env:DB_PASSWORD")
    return planted


def _clean(root) -> None:
    """Ordinary run-folder content that must not trip the scrubber."""
    sha1 = hashlib.sha1(b"x").hexdigest()
    sha256 = hashlib.sha256(b"x").hexdigest()
    verdict = {
        "baseline": {"sha": sha1, "run_id": "19876543210", "source": "gcs-mirror"},
        "treatment": {"iris_job_id": "/runner/zephyr-perf-pr4321-g1-treatment-20261127T101500Z"},
        "digest": sha256,
        "uuid": "3f2b6c1e-8d4a-4b7e-9c2d-1a2b3c4d5e6f",
    }
    plant_text(storage.join(root, "verdict.json"), json.dumps(verdict, indent=2))
    notes = (
        f"sha=`{sha1}` job /alice/datakit-tier1-20261127T063012Z\n"
        "set Authorization: token ${GITHUB_TOKEN} from the environment\n"
        "Authorization: Bearer $TOKEN\n"
        "the Bearer token scheme; ghp_ prefixes; github_pat_ too; ghp_short1\n"
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
        "FSSPEC_GS_TOKEN=anon HOME=/root SESSION_ID=short n=123456789\n"
    )
    plant_text(storage.join(root, "comment-clean.md"), notes)
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([1, 2, 3], [3, 1, 2])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plant_bytes(storage.join(root, "stage_chart.png"), buf.getvalue())


def _check(findings, root, planted) -> None:
    got = {(f.file, f.line, f.kind) for f in findings}
    want = {(storage.join(root, name), line, kind) for name, (line, kind) in planted.items()}
    assert got == want


def test_every_planted_secret_is_caught_and_nothing_else(tmp_path):
    planted = _plant(str(tmp_path))
    _clean(str(tmp_path))
    _check(find_secrets(str(tmp_path), ENV), str(tmp_path), planted)


def test_clean_run_folder_passes(tmp_path):
    _clean(str(tmp_path))
    assert find_secrets(str(tmp_path), ENV) == []
    scan(str(tmp_path), ENV)  # does not raise


def test_scan_fails_closed_naming_files_never_secrets(tmp_path):
    planted = _plant(str(tmp_path))
    with pytest.raises(SecretFound) as info:
        scan(str(tmp_path), ENV)
    message = str(info.value)
    for name in ["key.pem", "comment.md", "log-ghp.txt"]:
        assert name in message
    assert "key.pem:2: private-key" in message
    for secret in _all_secret_values():
        assert secret not in message
        assert secret[8:24] not in message
    assert len(info.value.findings) == len(planted)


def test_scan_on_gs_run_folder(gcs):
    root = "gs://marin-us-central1/test-scrub/pr12/20260506T071523Z-4f9c2e1"
    planted = _plant(root)
    _clean(root)
    try:
        _check(find_secrets(root, ENV), root, planted)
    finally:
        fs, inner = storage.filesystem(root)
        fs.rm(inner, recursive=True)


def test_scan_on_memory_folder():
    root = "memory://perfgate-scrub/run"
    plant_text(root + "/log.txt", "token " + PREFIXES[0] + BODY)
    (finding,) = find_secrets(root, {})
    assert finding.file == root + "/log.txt" and finding.kind == "github-token"


def test_missing_run_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_secrets(str(tmp_path / "nope"), {})


@pytest.mark.parametrize("prefix", [*PREFIXES, "github_pat_"])
def test_each_github_prefix(prefix):
    token = _tokens()[prefix]
    (finding,) = find_in_text(f"x={token}", "f", {})
    assert finding.kind == "github-token"
    assert redact(f"x={token}", {}) == "x=[REDACTED github-token]"


def test_redact_each_kind_and_keeps_the_rest():
    sha = hashlib.sha1(b"y").hexdigest()
    text = (
        f"sha {sha}\n"
        f"{PREFIXES[3]}{BODY} and {PAT}\n"
        "Authorization: Bearer abc123DEF456ghi789JKL\n"
        f"{PEM}\n"
        f"env {ENV_SECRET}\n"
    )
    out = redact(text, ENV)
    assert sha in out
    assert "Authorization: Bearer [REDACTED authorization-header]" in out
    assert "PRIVATE KEY" not in out and "MIIE" not in out
    for secret in _all_secret_values():
        assert secret not in out
    assert find_in_text(out, "out", ENV) == []


def test_secret_env_values_rules():
    values = secret_env_values(ENV)
    assert set(values) == {"PERFGATE_TEST_API_KEY", "DB_PASSWORD"}
    assert secret_env_values({"my_secret": "abcdefgh", "GITHUB_TOKEN": "short"}) == {
        "my_secret": "abcdefgh"
    }
    # issue 29: whatever the value's shape (a path, a number), and every secret-ish name
    shapes = {
        "AWS_SECRET_ACCESS_KEY": "/wJalrXUtnFEMI/K7MDENG",
        "DB_PASS": "123456789",
        "GOOGLE_CREDENTIALS": "./creds/key.json",
        "BASIC_AUTH": "~user:pw12345",
        "SLACK_WEBHOOK_URL": "https://hooks.example/T000/B000",
        "SENTRY_DSN": "https://k@o1.example/1",
        "SESSION_COOKIE": "c00kie-value",
        "MY_PRIVATE_THING": "priv-value-1",
        "SOME_SESSION": "sess-value-1",
    }
    assert secret_env_values(shapes) == shapes
