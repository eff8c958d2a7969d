"""Gate 0 runs the PR's code: each side's environment build (uv), its Zephyr API probe and
its ferry server import the PR's files. None of them gets the GitHub token that `perfgate
run` holds to post (docs/security.md, "Secrets"); marin's own credentials stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from perfgate_lib.local.pairs import LocalRunError, SideServer
from perfgate_lib.local.sideenv import SideEnv, SideEnvError, env_facts
from perfgate_lib.local.zephyr_api import probe_zephyr_api

TOKEN = "ghp_" + "x" * 36


@pytest.fixture
def spy(tmp_path, monkeypatch):
    """An interpreter that writes the environment it got to ``env.txt`` and fails."""
    for name, value in (("GITHUB_TOKEN", TOKEN), ("GH_TOKEN", TOKEN), ("GCP_SA_KEY", "sa")):
        monkeypatch.setenv(name, value)
    seen = tmp_path / "env.txt"
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\nenv > {seen}\nexit 3\n")
    script.chmod(0o755)
    return script, seen


def _names(seen: Path) -> set[str]:
    return {line.split("=", 1)[0] for line in seen.read_text().splitlines()}


def test_the_zephyr_api_probe_gets_no_github_token(spy):
    script, seen = spy
    assert not probe_zephyr_api(str(script)).ok
    assert {"GITHUB_TOKEN", "GH_TOKEN"}.isdisjoint(_names(seen)) and "GCP_SA_KEY" in _names(seen)


def test_the_side_environment_gets_no_github_token(spy, tmp_path):
    script, seen = spy
    with pytest.raises(SideEnvError):
        env_facts(str(script), tmp_path)
    assert {"GITHUB_TOKEN", "GH_TOKEN"}.isdisjoint(_names(seen)) and "GCP_SA_KEY" in _names(seen)


def test_the_ferry_server_gets_no_github_token(spy, tmp_path):
    script, seen = spy
    server = _server(tmp_path, "treatment", script, {"EXTRA": "1"})
    with pytest.raises(LocalRunError):
        server.wait_ready(60)
    names = _names(seen)
    assert {"GITHUB_TOKEN", "GH_TOKEN"}.isdisjoint(names) and {"GCP_SA_KEY", "EXTRA"} <= names
    assert os.environ["GITHUB_TOKEN"] == TOKEN  # the kit itself still holds it


def _server(tmp_path: Path, side: str, python: Path, env: dict | None = None) -> SideServer:
    """A side server run by the interpreter ``python`` (a script standing in for one)."""
    launch = SideEnv("kit", [str(python)], env or {}, None, None, "stand-in", 0.0)
    return SideServer(
        side, launch, corpus_dir=tmp_path, work_dir=tmp_path / "work",
        zephyr_src=None, log=tmp_path / "side.log", max_workers=1,
    )  # fmt: skip


def _answering(tmp_path: Path, side: str, lines: list[str]) -> SideServer:
    """A side server that answers ``lines``, one per request (the first at start-up), as
    the ferry server does."""
    script = tmp_path / "python"
    answers = []
    for i, line in enumerate(lines):
        (tmp_path / f"answer{i}").write_text(line + "\n")
        answers.append(f"{'read request; ' if i else ''}cat {tmp_path / f'answer{i}'}")
    script.write_text("#!/bin/sh\n" + "\n".join(answers) + "\nsleep 30\n")
    script.chmod(0o755)
    return _server(tmp_path, side, script)


@pytest.mark.parametrize(
    ("prints", "problem"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"ready": true, "identity": 5', "not a JSON object"),
        ("x" * 17_000_000, "longer than"),
        ("[" * 200_000, "not a JSON object"),
    ],
    ids=["text", "list", "cut", "17MB", "nested"],
)
def test_a_side_that_answers_garbage_is_named_not_a_crash(tmp_path, prints, problem):
    """The side process runs the PR's code, which can write anything to the protocol pipe:
    the answer is read within a size limit and must be one JSON object."""
    server = _answering(tmp_path, "treatment", [prints])
    try:
        with pytest.raises(LocalRunError, match=f"treatment: start-up and warm-up: .*{problem}"):
            server.wait_ready(60)
    finally:
        server.kill()


READY = '{"ready": true, "identity": {"python": "3.12"}, "memory_method": "rss"}'


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (['{"ready": true, "identity": 5}'], "start-up: answer field identity: "),
        ([READY, '{"status": "succeeded", "stages": []}'], "normalize: answer field stages: "),
        (
            [READY, '{"status": "succeeded", "stages": {"normalize": {"wall_s": "fast"}}}'],
            "normalize: answer field stages.normalize.wall_s: ",
        ),
        (
            [READY, '{"status": "succeeded", "stages": {"normalize": {"tasks": 1.5}}}'],
            "normalize: answer field stages.normalize.tasks: ",
        ),
        (
            [READY, '{"status": "succeeded", "stages": {"normalize": {"peak_mb": NaN}}}'],
            "normalize: answer field stages.normalize.peak_mb: input should be a finite number",
        ),
        (
            [READY, '{"status": "succeeded", "stages": {"normalize": {"cpu_s": Infinity}}}'],
            "normalize: answer field stages.normalize.cpu_s: input should be a finite number",
        ),
        (
            [READY, '{"status": "succeeded", "stages": {"normalize": {"wall_s": -1.0}}}'],
            "normalize: answer field stages.normalize.wall_s: input should be greater",
        ),
        (
            [READY, '{"status": "succeeded", "stages": {"normalize": {"peak_mb": 1e308}}}'],
            "normalize: answer field stages.normalize.peak_mb: input should be less",
        ),
        (
            ['{"ready": true, "identity": {"versions": [1]}}'],
            "start-up: answer field identity.versions: ",
        ),
        (
            ['{"ready": true, "identity": {"execution_paths": ["x"]}}'],
            "start-up: answer field identity.execution_paths: ",
        ),
        (
            ['{"ready": true, "identity": {"zephyr_file": ["/x"]}}'],
            "start-up: answer field identity.zephyr_file: ",
        ),
        (
            ['{"ready": true, "identity": {"zephyr_file": "/wt/zephyr\\u0000/__init__.py"}}'],
            "start-up: answer field identity.zephyr_file: ",
        ),
        (
            [
                READY,
                '{"status": "succeeded", "stages": {"normalize": {"callgrind_dump": "/d\\u0000"}}}',
            ],
            "normalize: answer field stages.normalize.callgrind_dump: ",
        ),
        (
            [READY, '{"status": "succeeded", "stages": {"normalize": {"instructions": "many"}}}'],
            "normalize: answer field stages.normalize.instructions: ",
        ),
        (
            [READY, '{"status": "succeeded", "stages": {"tokenize": {"instructions": -5}}}'],
            "normalize: answer field stages.tokenize.instructions: ",
        ),
        (
            [
                READY,
                '{"status": "succeeded", "stages": {"minhash": {"instructions": 1%s}}}'
                % ("0" * 30),
            ],
            "normalize: answer field stages.minhash.instructions: input should be less",
        ),
    ],
    ids=[
        *("identity", "stages-list", "text-seconds", "fractional-tasks"),
        *("nan-memory", "infinite-cpu", "negative-wall", "huge-memory"),
        *("versions-list", "paths-list", "zephyr-file-list", "zephyr-file-nul", "dump-nul"),
        *("text-instructions", "negative-instructions", "huge-instructions"),
    ],
)
def test_a_side_answer_with_a_wrong_field_names_it(tmp_path, lines, problem):
    """Each field of a side's answer has the protocol's type before the kit uses it."""
    server = _answering(tmp_path, "control", lines)
    try:
        with pytest.raises(LocalRunError, match=f"control: {problem}"):
            server.wait_ready(60)
            server.run_stage("normalize", 60)
    finally:
        server.kill()


def test_two_answers_that_arrive_together_are_both_read(tmp_path):
    """Instruction counts queue every stage up front; when the kit is busy with the other
    side, two of this side's answers can reach the pipe in one write. The second is read at
    once, not left in a buffer the pipe's select cannot see (which timed out)."""
    stage = '{"status": "succeeded", "stages": {"normalize": {"wall_s": 1.0}}}'
    script = tmp_path / "python"
    (tmp_path / "ready").write_text(READY + "\n")
    (tmp_path / "two").write_text(stage + "\n" + stage.replace("normalize", "minhash") + "\n")
    script.write_text(
        f"#!/bin/sh\ncat {tmp_path / 'ready'}\nread a; read b\ncat {tmp_path / 'two'}\nsleep 30\n"
    )
    script.chmod(0o755)
    server = _server(tmp_path, "control", script)
    try:
        server.wait_ready(60)
        server.send_stage("normalize")
        server.send_stage("minhash")
        assert list(server.stage_answer("normalize", 60)["stages"]) == ["normalize"]
        assert server.has_answer()  # _next_answering picks a side with an answer waiting
        assert list(server.stage_answer("minhash", 2)["stages"]) == ["minhash"]
        assert not server.has_answer()
    finally:
        server.kill()
