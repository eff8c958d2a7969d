"""``perfgate assess`` on hostile diffs: odd file names, binary files, deletions, renames,
a head file with a syntax error. Generated (hypothesis, derandomised, bounded) on a real git
repository; the assessment runs in-process (no kernel), as ``perfgate assess`` without
``--out`` does.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfgate_lib import MAX_COMMENT_CHARS
from perfgate_lib.assess.render import render_assessment_block, render_assessment_table
from tests.cli_helpers import perfgate_here
from tests.comment_checks import unescaped_html
from tests.marin_layout import BASE_FILES, ZSRC, MarinRepo

pytest_plugins = ("tests.marin_fixtures",)

ZEPHYR_FILES = sorted(p for p in BASE_FILES if p.startswith(ZSRC))
NAMES = st.one_of(
    st.sampled_from(
        [
            "with space.py",
            'quote"d.py',
            "it's.py",
            "pipe|name.py",
            "new\nline.py",
            "ünï✓段.py",
            "<b>tag</b>.py",
            "`tick`.py",
            "sub dir/x.py",
            "data.bin",
        ]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
        min_size=1,
        max_size=12,
    ).map(lambda s: s + ".py"),
)
CONTENT = st.one_of(
    st.just(b"def f(x):\n    return x + 1\n"),
    st.just(b"def broken(:\n    pass\n"),  # a syntax error
    st.binary(min_size=1, max_size=64).map(lambda b: b"\x00\xff" + b),
    st.text(max_size=80).map(str.encode),
)
OPERATION = st.one_of(
    st.tuples(st.just("add"), NAMES, CONTENT),
    st.tuples(st.just("modify"), st.sampled_from(ZEPHYR_FILES), CONTENT),
    st.tuples(st.just("delete"), st.sampled_from(ZEPHYR_FILES), st.none()),
    st.tuples(st.just("rename"), st.sampled_from(ZEPHYR_FILES), NAMES),
)
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def apply(repo: MarinRepo, operations) -> None:
    for op, target, arg in operations:
        if op == "add":
            path = repo.root / ZSRC / target
            if path.exists() or not path.parent.resolve().is_relative_to(repo.root.resolve()):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(arg)
        elif not (repo.root / target).exists():
            continue
        elif op == "modify":
            (repo.root / target).write_bytes(arg)
        elif op == "delete":
            (repo.root / target).unlink()
        elif op == "rename" and not (repo.root / ZSRC / arg).exists():
            (repo.root / ZSRC / arg).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(repo.root / target, repo.root / ZSRC / arg)
    repo.commit("hostile change")


@PROPERTY
@given(operations=st.lists(OPERATION, min_size=1, max_size=4))
def test_assess_property(marin_template, operations):
    with tempfile.TemporaryDirectory(prefix="perfgate-assess-") as tmp:
        repo = MarinRepo(Path(tmp) / "marin")
        shutil.copytree(marin_template.root, repo.root, symlinks=True)
        repo.branch("feature")
        apply(repo, operations)
        args = ["assess", "--checkout", str(repo.root), "--base", "main", "--head", "feature"]
        code, out, err = perfgate_here(*args, "--json")
        assert code in (0, 4), err
        assert "Traceback" not in err, err
        if code == 0:
            assessment = json.loads(out)
            table = render_assessment_table(assessment)  # what the PR comment shows
            assert len(table) < MAX_COMMENT_CHARS and unescaped_html(table) == []
            block = render_assessment_block(assessment)  # what the terminal shows
            assert len(block) < MAX_COMMENT_CHARS and "\x00" not in block
