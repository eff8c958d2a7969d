"""The diff assessment on real git repositories with marin's layout: every case of issue 3."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from perfgate_lib.assess.assessment import (
    IMPACT_QUESTIONS,
    Assessment,
    FileAssessment,
    FileChange,
    assess,
    assess_source,
)
from perfgate_lib.assess.diffsource import DirectoryDiffSource, LocalGitDiffSource
from tests.marin_layout import EXAMPLE_BASE, ZSRC, MarinRepo

pytest_plugins = ("tests.marin_fixtures",)

SHUFFLE = f"{ZSRC}/shuffle.py"
COUNTERS = f"{ZSRC}/counters.py"
EXECUTION = f"{ZSRC}/execution.py"
DATASET = f"{ZSRC}/dataset.py"
PLAN = f"{ZSRC}/plan.py"
SORT = f"{ZSRC}/external_sort.py"
READERS = f"{ZSRC}/readers.py"
PYPROJECT = "lib/zephyr/pyproject.toml"


def run(repo: MarinRepo) -> Assessment:
    repo.commit("feature change")
    return assess_source(LocalGitDiffSource(repo.root, "main", "feature"))


def answers(f: FileAssessment) -> tuple[bool, bool, bool, bool, bool]:
    return (f.trivial, f.shuffle, f.memory, f.cpu, f.design)


def evidence(f: FileAssessment, q: str) -> str:
    return "\n".join(f.evidence[q])


TRIVIAL = (True, False, False, False, False)
HAND_ROLLED_MERGE = """\
    heap = []
    iters = [iter(r) for r in runs]
    for i, it in enumerate(iters):
        for first in it:
            heapq.heappush(heap, (first, i))
            break
    while heap:
        value, i = heapq.heappop(heap)
        yield value
        for nxt in iters[i]:
            heapq.heappush(heap, (nxt, i))
            break
"""


# ----------------------------------------------------------------------------- trivial


# (path, [(old, new), ...], evidence the "trivial" answer must hold, summary)
TRIVIAL_EDITS = [
    pytest.param(
        SHUFFLE,
        [
            (
                "def shard_for(key: bytes, num_shards: int) -> int:\n",
                "# Routing must stay stable across releases.\n"
                "def shard_for(key: bytes, num_shards: int) -> int:  # hot path\n",
            )
        ],
        ["only comments, whitespace or formatting"],
        "trivial: comments/whitespace/formatting only",
        id="comment-only",
    ),
    pytest.param(
        EXECUTION,
        [
            ('"""Runs stages on a pool of workers."""', '"""Runs stages on workers."""'),
            (
                "    def wait_all(self, futures: list[Future]) -> list:\n",
                "    def wait_all(self, futures: list[Future]) -> list:\n"
                '        """Block on each."""\n',
            ),
        ],
        ["changed: docstrings"],
        "trivial: docstrings only",
        id="docstring-only",
    ),
    pytest.param(
        EXECUTION,
        [
            ("import time\n", "import time\nfrom collections.abc import Callable\n"),
            (
                "def wait_idle(self, is_idle) -> None:",
                "def wait_idle(self, is_idle: Callable[[], bool]) -> None:",
            ),
            ("        results = []\n", "        results: list[object] = []\n"),
            ("POLL_INTERVAL_S = 1.0", "POLL_INTERVAL_S: float = 1.0"),
        ],
        ["changed: type annotations"],
        "trivial: type annotations only",
        id="type-hint-only",
    ),
    pytest.param(
        SHUFFLE,
        [
            (
                '"scattered %d records into %d shards"',
                '"scatter finished: %d records over %d shards"',
            )
        ],
        ["changed: log-message text"],
        "trivial: log-message text only",
        id="log-string-only",
    ),
    pytest.param(
        PLAN,
        [
            (
                "        if stages and op.kind in FUSIBLE and stages[-1][-1].kind in FUSIBLE:\n",
                "\n        if (\n            stages\n            and op.kind in FUSIBLE\n"
                "            and stages[-1][-1].kind in FUSIBLE\n        ):\n",
            ),
            ('FUSIBLE = {"map", "filter"}', "FUSIBLE = {'map',   'filter', }"),
        ],
        [],
        "trivial: comments/whitespace/formatting only",
        id="whitespace-and-formatting-only",
    ),
    pytest.param(
        COUNTERS,
        [
            (
                "def _legacy_report(counters: Counters) -> str:\n"
                '    return ", ".join(f"{k}={v}" for k, v in counters.values.items())\n\n\n',
                "",
            )
        ],
        ["dead-code removal: `_legacy_report`", "no caller"],
        "trivial: dead code removed: `_legacy_report`",
        id="dead-code-without-callers",
    ),
]


@pytest.mark.parametrize(("path", "edits", "because", "summary"), TRIVIAL_EDITS)
def test_trivial_edits(repo, path, edits, because, summary):
    for old, new in edits:
        repo.edit(path, old, new)
    a = run(repo)
    f = a.per_file[path]
    assert answers(f) == TRIVIAL
    assert (a.in_scope, a.max_gate) == (True, "skip")
    for text in because:
        assert text in evidence(f, "trivial")
    for q in IMPACT_QUESTIONS:
        assert evidence(f, q) == "no: the change is trivial"
    assert f.summary == summary


def test_pure_file_rename_is_trivial(repo):
    repo.move(READERS, f"{ZSRC}/jsonl.py")
    a = run(repo)
    f = a.per_file[f"{ZSRC}/jsonl.py"]
    assert answers(f) == TRIVIAL and a.max_gate == "skip"
    assert f.status == "renamed" and f.old_path == READERS
    assert "pure rename" in evidence(f, "trivial")


def test_renamed_module_still_imported_by_its_old_name_is_not_trivial(repo):
    repo.move(COUNTERS, f"{ZSRC}/metrics.py")
    f = run(repo).per_file[f"{ZSRC}/metrics.py"]
    assert not f.trivial
    assert "zephyr.counters" in evidence(f, "trivial")
    assert "lib/zephyr/tests/test_counters.py:1" in evidence(f, "trivial")


def test_consistent_identifier_rename_is_trivial(repo):
    text = repo.read(SHUFFLE).replace("_flush", "_drain").replace("sizes", "pending_bytes")
    repo.write(SHUFFLE, text, dedent=False)
    a = run(repo)
    f = a.per_file[SHUFFLE]
    assert answers(f) == TRIVIAL and a.max_gate == "skip"
    assert "`_flush` → `_drain`" in evidence(f, "trivial")
    assert "`sizes` → `pending_bytes`" in evidence(f, "trivial")


def test_rename_across_modules_is_trivial_when_every_reference_follows(repo):
    for path in (PLAN, DATASET):
        repo.write(path, repo.read(path).replace("Op", "Operation"), dedent=False)
    a = run(repo)
    assert answers(a.per_file[PLAN]) == TRIVIAL
    assert answers(a.per_file[DATASET]) == TRIVIAL
    assert a.max_gate == "skip"


def test_rename_with_a_stale_reference_is_not_trivial(repo):
    repo.write(PLAN, repo.read(PLAN).replace("Op", "Operation"), dedent=False)
    a = run(repo)
    f = a.per_file[PLAN]
    assert not f.trivial
    assert f"still referenced at {DATASET}" in evidence(f, "trivial")
    assert f.design  # planner: plan/fusion rules
    assert a.max_gate == "3"


def test_dead_code_removed_with_callers_left_breaks_the_head_design_yes(repo):
    text = repo.read(COUNTERS)
    start = text.index("def describe(")
    repo.write(COUNTERS, text[:start].rstrip() + "\n", dedent=False)
    a = run(repo)
    f = a.per_file[COUNTERS]
    assert answers(f) == (False, False, False, False, True)
    assert "removed `describe` still has callers at lib/zephyr/tests/test_counters.py:1" in (
        evidence(f, "trivial")
    )
    # The callers rule: the head tree still imports the removed name, so the head breaks.
    assert "`describe` is no longer defined in `zephyr.counters` but" in evidence(f, "design")
    assert a.max_gate == "3"


def test_dead_code_is_not_trivial_when_callers_cannot_be_checked():
    base = "def used():\n    return 1\n\n\ndef _old():\n    return 2\n"
    head = "def used():\n    return 1\n"
    change = FileChange(SHUFFLE.replace("shuffle", "util"), "modified", None, base, head)
    a = assess([change], find_references=lambda names: None)
    f = a.per_file[change.path]
    assert not f.trivial
    assert "callers are unknown" in evidence(f, "trivial")


# ----------------------------------------------------------------------------- impact


# (path, [(old, new), ...], answers, {question: [evidence]}, max_gate, rationale prefix)
NON_TRIVIAL_EDITS = [
    pytest.param(
        SHUFFLE,
        [
            (
                'logger.info("scattered %d records into %d shards", len(records), num_shards)',
                'logger.info("scattered %d records (%d bytes)", len(records), '
                "sum(map(len, outputs)))",
            )
        ],
        "",
        {
            "trivial": ["`scatter` changed"],
            "shuffle": ["cold path (only on the error path or in logging"],
        },
        "1",
        "non-trivial, no shuffle/memory/CPU/design impact found",
        id="log-message-with-a-new-interpolated-value",
    ),
    pytest.param(
        DATASET,
        [("def reshard(self, num_shards: int)", "def repartition(self, num_shards: int)")],
        "shuffle design",
        {
            "design": ["`Dataset.reshard`: public API renamed to `repartition`"],
            "trivial": ["public API `Dataset.reshard` renamed"],
        },
        "3",
        "dataset.py: new Dataset.repartition, removed Dataset.reshard",
        id="renaming-public-dataset-api",
    ),
    pytest.param(
        EXECUTION,
        [("results.append(future.result())", "results.append(future.exception())")],
        "cpu design",
        {"design": [".result() call"]},
        "3",
        "execution.py: changed ZephyrContext.wait_all (cpu, design)",
        id="calling-another-method-is-not-a-rename",
    ),
    pytest.param(
        SHUFFLE,
        [("SCATTER_BUFFER_BYTES = 64 * 1024 * 1024", "SCATTER_BUFFER_BYTES = 256 * 1024 * 1024")],
        "shuffle memory",
        {
            "memory": [
                "SCATTER_BUFFER_BYTES: 67108864 (64 MiB) → 268435456 (256 MiB)",
                "`@@ -5,7 +5,7 @@`",
                "head L8",
            ]
        },
        "3",
        "shuffle.py: changed SCATTER_BUFFER_BYTES",
        id="buffer-size-constant",
    ),
    pytest.param(
        DATASET,
        [
            (
                "    def reshard(self, num_shards: int) -> Dataset:\n",
                "    def take(self, n: int) -> Dataset:\n"
                '        return self._with_op(Op("take", n))\n\n'
                "    def reshard(self, num_shards: int) -> Dataset:\n",
            )
        ],
        "design",
        {"design": ["new public API `Dataset.take`"]},
        "3",
        "dataset.py: new Dataset.take (design)",
        id="new-public-method-on-dataset",
    ),
    pytest.param(
        EXECUTION,
        [("future.result()", "future.result(timeout=600)")],
        "cpu design",
        {"design": ["changed .result() call", "`ZephyrContext.wait_all`"]},
        "3",
        "execution.py: changed ZephyrContext.wait_all (cpu, design)",
        id="changed-result-call",
    ),
    pytest.param(
        SORT,
        [("    yield from heapq.merge(*runs)\n", HAND_ROLLED_MERGE)],
        "shuffle cpu",
        {"cpu": ["heappop", "on a hot path (per item: inside the"]},
        "3",
        "external_sort.py: changed merge_runs (shuffle, cpu)",
        id="sort-merge-loop",
    ),
    pytest.param(
        COUNTERS,
        [
            (
                '    return f"{len(counters.values)} counters"',
                '    names = sorted(counters.values)\n    return f"{len(names)} counters"',
            )
        ],
        "cpu",
        {"cpu": ["sorted"]},
        "3",
        "counters.py: changed describe (cpu)",
        id="sort-in-a-low-prior-file",
    ),
    pytest.param(
        PYPROJECT,
        [('"pyarrow>=15",  # columnar I/O', '"pyarrow>=17",  # columnar I/O')],
        "memory cpu",
        {"cpu": ["project.dependencies: pyarrow>=15 → pyarrow>=17"]},
        "3",
        "pyproject.toml: dependencies changed",
        id="dependency-bump",
    ),
    pytest.param(
        COUNTERS,
        [
            ('raise ValueError("no counters")', 'raise ValueError("no counters yet")'),
            ('"""Named integer counters."""', '"""Counters by name."""'),
        ],
        "",
        {"trivial": ["`describe` changed"]},
        "1",
        "non-trivial, no shuffle/memory/CPU/design impact found",
        id="no-perf-pattern-proposes-gate-1",
    ),
]


@pytest.mark.parametrize(
    ("path", "edits", "yes", "because", "max_gate", "rationale"), NON_TRIVIAL_EDITS
)
def test_non_trivial_edits(repo, path, edits, yes, because, max_gate, rationale):
    for old, new in edits:
        repo.edit(path, old, new)
    a = run(repo)
    f = a.per_file[path]
    assert [q for q, answer in f.answers().items() if answer] == yes.split()
    for question, texts in because.items():
        for text in texts:
            assert text in evidence(f, question)
    assert a.max_gate == max_gate
    assert a.rationale.startswith(rationale)


def test_pyproject_comment_or_tool_change_is_trivial_and_metadata_is_gate_1(repo):
    repo.edit(PYPROJECT, "# columnar I/O", "# columnar I/O (arrow)")
    repo.edit(PYPROJECT, "strict = true", "strict = false")
    f = run(repo).per_file[PYPROJECT]
    assert answers(f) == TRIVIAL
    repo.edit(PYPROJECT, 'version = "0.2.20"', 'version = "0.2.21"')
    a = run(repo)
    assert answers(a.per_file[PYPROJECT]) == (False, False, False, False, False)
    assert a.max_gate == "1"


def test_new_module_is_not_trivial(repo):
    repo.write(
        f"{ZSRC}/spill.py",
        '''\
        """Spill buffers to disk past a threshold."""

        SPILL_THRESHOLD_BYTES = 512 * 1024 * 1024


        def should_spill(buffered: int) -> bool:
            return buffered > SPILL_THRESHOLD_BYTES
        ''',
    )
    f = run(repo).per_file[f"{ZSRC}/spill.py"]
    assert not f.trivial and f.status == "added"
    # Nothing imports the new module yet: it cannot change performance (issue 12).
    assert not f.impact and "nothing in the head tree calls or reads" in evidence(f, "memory")
    assert "new module (7 lines) defining `SPILL_THRESHOLD_BYTES`, `should_spill`" in evidence(
        f, "trivial"
    )


def test_deleted_module_is_not_trivial(repo):
    repo.delete(READERS)
    f = run(repo).per_file[READERS]
    assert not f.trivial and f.status == "deleted"
    assert "module deleted (it defined `read_jsonl`)" in evidence(f, "trivial")
    assert f.cpu  # readers: JSON read path


def test_syntax_error_in_head_is_not_trivial_and_answers_yes(repo):
    repo.edit(
        SHUFFLE, "def _flush(buffer: list, out: list) -> None:", "def _flush(buffer: list, out"
    )
    a = run(repo)
    f = a.per_file[SHUFFLE]
    assert answers(f) == (False, True, True, True, True)
    assert "head does not parse (SyntaxError at line 17" in evidence(f, "trivial")
    assert "unsure" in evidence(f, "design")
    assert a.max_gate == "3"


def test_mixed_diff_takes_the_strongest_answer(repo):
    repo.edit(EXECUTION, '"""Coordinator and worker loops."""', '"""Coordinator loops."""')
    repo.edit(COUNTERS, 'raise ValueError("no counters")', 'raise ValueError("none")')
    a = run(repo)
    assert a.per_file[EXECUTION].trivial and not a.per_file[COUNTERS].trivial
    assert a.max_gate == "1"
    repo.edit(f"{ZSRC}/execution.py", "POLL_INTERVAL_S = 1.0", "POLL_INTERVAL_S = 0.1")
    a = run(repo)
    f = a.per_file[EXECUTION]
    assert f.cpu and "POLL_INTERVAL_S: 1.0 → 0.1" in evidence(f, "cpu")
    assert a.max_gate == "3"


# ----------------------------------------------------------------------------- scope


def test_test_only_diff_is_out_of_scope(repo):
    repo.edit("lib/zephyr/tests/test_counters.py", 'increment("a")', 'increment("b")')
    a = run(repo)
    assert (a.in_scope, a.max_gate, a.per_file) == (False, "skip", {})
    assert a.rationale.startswith("out of scope: test-only diff")
    assert a.scope == {"zephyr_tests": ["lib/zephyr/tests/test_counters.py"]}


def test_docs_only_diff_is_out_of_scope(repo):
    repo.edit("lib/zephyr/AGENTS.md", "matter most", "matter the most")
    repo.edit("lib/zephyr/OPS.md", "# Operating zephyr", "# Operating Zephyr")
    repo.write(f"{ZSRC}/NOTES.md", "notes\n")
    a = run(repo)
    assert (a.in_scope, a.max_gate) == (False, "skip")
    assert a.rationale.startswith("out of scope: docs-only diff")


def test_fray_only_is_flagged_not_gated(repo):
    repo.edit("lib/fray/src/fray/client.py", "    pass", "    max_workers = 4")
    a = run(repo)
    assert not a.in_scope and a.per_file == {}
    assert any("not auto-gated; ask the reviewer" in flag for flag in a.flags)


def test_fray_with_zephyr_is_gated_and_flagged(repo):
    repo.edit("lib/fray/src/fray/client.py", "    pass", "    max_workers = 4")
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "32 * 1024 * 1024")
    a = run(repo)
    assert a.in_scope and list(a.per_file) == [SHUFFLE]
    assert any(flag.startswith("lib/fray/** changed (1 file)") for flag in a.flags)


def test_zephyr_plus_datakit_gates_zephyr_and_notes_the_canaries(repo):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "32 * 1024 * 1024")
    repo.edit(
        "lib/marin/src/marin/processing/tokenize/tokenize.py", "doc.split()", "doc.split(' ')"
    )
    repo.edit("lib/marin/src/marin/datakit/normalize/normalize.py", "strip()", "strip().lower()")
    a = run(repo)
    assert a.in_scope and list(a.per_file) == [SHUFFLE] and a.max_gate == "3"
    flag = next(f for f in a.flags if f.startswith("datakit"))
    assert "normalize, tokenize" in flag and "the datakit canaries cover them" in flag


def test_outside_zephyr_is_out_of_scope(repo):
    repo.edit("lib/marin/src/marin/pipeline.py", "str.strip", "str.lower")
    a = run(repo)
    assert (a.in_scope, a.max_gate, a.flags) == (False, "skip", [])
    assert "no non-test, non-docs file under lib/zephyr/src/zephyr/**" in a.rationale


def test_datakit_only_is_out_of_scope_with_a_note(repo):
    repo.edit("lib/marin/src/marin/datakit/normalize/normalize.py", "strip()", "strip().lower()")
    a = run(repo)
    assert not a.in_scope
    assert a.rationale.startswith("out of scope: datakit-only diff")
    assert any("the datakit canaries cover them" in f for f in a.flags)


# ----------------------------------------------------------------------------- sources


def test_merge_base_ignores_changes_on_main_after_the_branch_point(repo):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.commit("feature")
    repo.git("checkout", "-q", "main")
    repo.edit(COUNTERS, 'raise ValueError("no counters")', 'raise ValueError("x")')
    repo.commit("main moves on")
    src = LocalGitDiffSource(repo.root, "main", "feature")
    assert [f.path for f in src.files()] == [SHUFFLE]
    assert src.base_sha != repo.git("rev-parse", "main")


def test_directory_source_gives_the_same_assessment_as_git(repo, tmp_path):
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "128 * 1024 * 1024")
    repo.edit(COUNTERS, '"""One line for logs."""', '"""One line."""')
    a = run(repo)
    for side, rev in (("base", "main"), ("head", "feature")):
        repo.git("worktree", "add", "-q", "--detach", str(tmp_path / side), rev)
    b = assess_source(DirectoryDiffSource(tmp_path / "base", tmp_path / "head"))
    ja, jb = a.to_json(), b.to_json()
    for key in ("source", "base_sha", "head_sha"):
        ja.pop(key), jb.pop(key)
    assert ja == jb


def test_bundled_patch_on_the_example_base_is_the_documented_change(repo):
    from perfgate_lib.assess.diffsource import open_source

    # parameters/examples/assess/README.md: what pr.patch does to base/ (= the repo's main).
    repo.edit(SHUFFLE, "64 * 1024 * 1024", "256 * 1024 * 1024")
    repo.edit(COUNTERS, "Add ``amount`` to counter", "Add ``amount`` (default 1) to the counter")
    repo.edit("lib/fray/src/fray/client.py", "    pass", '    """Runs actors in this process."""')
    repo.edit("lib/zephyr/AGENTS.md", "Scatter and planner", "Scatter, planner and spill paths")
    repo.edit(
        "lib/zephyr/tests/test_counters.py",
        "    assert c.total() == 1\n",
        '    assert c.total() == 1\n    assert c.values == {"a": 1}\n',
    )
    expected = run(repo).to_json()
    example = open_source(checkout=EXAMPLE_BASE.parent, base="base", head="pr.patch")
    again = open_source(checkout=EXAMPLE_BASE.parent, base="base", head="pr.patch")
    got = assess_source(example).to_json()
    assert got["source"] == f"{EXAMPLE_BASE} + pr.patch"
    assert (got["base_sha"], got["head_sha"]) == (again.base_sha, again.head_sha)  # fixed dates
    for key in ("source", "base_sha", "head_sha"):
        expected.pop(key), got.pop(key)
    assert got == expected


def test_patch_source_checks_its_inputs_and_removes_its_repository(tmp_path):
    from perfgate_lib.assess.diffsource import patched_source
    from perfgate_lib.errors import UsageError

    (tmp_path / "base").mkdir()
    (tmp_path / "base/a.py").write_text("X = 1\n")
    (tmp_path / "ok.patch").write_text("--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-X = 1\n+X = 2\n")
    (tmp_path / "stale.patch").write_text("--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-X = 3\n+X = 4\n")
    source = patched_source(tmp_path / "base", tmp_path / "ok.patch")
    assert [(f.path, f.status) for f in source.files()] == [("a.py", "modified")]
    assert source.read_text("a.py", "head") == "X = 2\n"
    scratch = Path(source.checkout)
    assert scratch.is_dir()
    del source
    gc.collect()
    assert not scratch.exists()
    with pytest.raises(UsageError, match=r"patch .*stale\.patch does not apply to .*base"):
        patched_source(tmp_path / "base", tmp_path / "stale.patch")
    with pytest.raises(UsageError, match="no such file"):
        patched_source(tmp_path / "base", tmp_path / "missing.patch")


def test_bad_revisions_and_paths_are_usage_errors(repo, tmp_path):
    from perfgate_lib.errors import UsageError

    with pytest.raises(UsageError, match="--base nope: unknown revision"):
        LocalGitDiffSource(repo.root, "nope", "feature")
    with pytest.raises(UsageError, match="not a git repository"):
        LocalGitDiffSource(tmp_path, "main", "feature")
    with pytest.raises(UsageError, match="no such directory"):
        LocalGitDiffSource(tmp_path / "missing", "main", "feature")


def test_unusual_file_names_keep_their_hunks_and_are_escaped(repo):
    from perfgate_lib.assess.render import render_assessment_table

    odd = f'{ZSRC}/we|ird`@team <b> ü"q.py'
    repo.write(odd, "import os\n\n\ndef f():\n    return os.sep\n")
    repo.commit("add")
    repo.write(odd, "import os\n\n\ndef f():\n    return os.sep * 2\n", dedent=False)
    src = LocalGitDiffSource(repo.root, "main", "feature")
    a = run(repo)
    changed = next(f for f in src.files() if f.path == odd)
    assert changed.status == "added" and changed.hunks  # git C-quotes this name
    assert a.per_file[odd].status == "added"
    md = render_assessment_table(a)
    assert "<b>" not in md.replace(f"``{odd.replace('|', '❘')}``", "")


def test_new_package_export_is_a_design_change(repo):
    repo.edit(
        f"{ZSRC}/__init__.py",
        "from zephyr.execution import ZephyrContext\n",
        "from zephyr.execution import ZephyrContext\nfrom zephyr.plan import fuse_ops\n",
    )
    f = run(repo).per_file[f"{ZSRC}/__init__.py"]
    assert not f.trivial and f.design
    assert "package exports changed" in evidence(f, "design")


def test_modules_scope_and_relative_imports():
    from perfgate_lib.assess.assessment import module_of, resolve_import
    from perfgate_lib.assess.scope import Category, classify, classify_change

    assert module_of(f"{ZSRC}/io/readers.py") == "zephyr.io.readers"
    assert module_of(f"{ZSRC}/io/__init__.py") == "zephyr.io"
    assert resolve_import(".plan", f"{ZSRC}/dataset.py") == "zephyr.plan"
    assert resolve_import("..plan", f"{ZSRC}/io/readers.py") == "zephyr.plan"
    assert resolve_import(".", f"{ZSRC}/io/__init__.py") == "zephyr.io"
    assert classify(f"{ZSRC}/test_helpers.py") == Category.ZEPHYR_TESTS
    assert classify(f"{ZSRC}/README.md") == Category.DOCS
    assert classify("lib/zephyr/uv.lock") == Category.ZEPHYR_OTHER
    assert classify("lib/marin/src/marin/processing/tokenize/x.py") == Category.DATAKIT
    # Moving a source module into the tests still removes it from the package: gated.
    assert classify_change("lib/zephyr/tests/old.py", f"{ZSRC}/old.py") == Category.ZEPHYR_SOURCE


@pytest.mark.parametrize(
    "opening",
    ["if FLAG:\n", "try:\n    pass\nexcept ValueError:\n", "match FLAG:\n    case 1:\n"],
    ids=["if", "except", "match-case"],
)
def test_an_import_only_annotations_use_is_dropped_in_every_block(opening):
    """A typing-only import added inside any block (``if``, ``except``, a ``match`` case)
    normalises away with the annotation that uses it."""
    import ast

    from perfgate_lib.assess.astdiff import normalise

    indent = " " * (4 if "case" not in opening else 8)
    base = f"{opening}{indent}x: int = 1\n"
    head = f"{opening}{indent}from decimal import Decimal\n{indent}x: Decimal = 1\n"
    assert ast.dump(normalise(base)) == ast.dump(normalise(head))
