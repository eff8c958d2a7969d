"""Assessment speed: a 50-file Zephyr diff from a local git checkout.

Target (issue 3): assessing a 50-file diff from a local checkout takes at most 2 s.
Builds a temporary git repository with marin's layout and 50 changed Zephyr modules
(~260 lines each) mixing every kind of change (docstrings, comments, type hints, log
text, renames, dead code, constants, loops, sorts, .result() calls, public API), then
times :func:`assess_source` end to end (git diff, blob reads, git grep, AST analysis).
Then a hostile diff: 3 modules replaced by 3,000 functions each, every name searched
for in the head tree (the search must grow with names plus lines, not their product), and
a class that loses 1,000 methods whose names stay in 10 modules.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.assess.assessment import assess_source  # noqa: E402
from perfgate_lib.assess.diffsource import LocalGitDiffSource  # noqa: E402
from tests.marin_layout import BASE_FILES, ZSRC, make_marin_repo  # noqa: E402

FILES = 50


def module(i: int) -> str:
    """A Zephyr-like module of about 260 lines."""
    parts = [
        f'"""Synthetic module {i}: buffers, loops and workers."""\n',
        "import heapq\nimport logging\nimport time\nfrom concurrent.futures import Future\n",
        "logger = logging.getLogger(__name__)\n",
        f"CHUNK_ROWS_{i} = {1024 * (i + 1)}\nPOLL_INTERVAL_S = 1.0\n",
    ]
    for k in range(12):
        parts.append(
            f'''

def _helper_{k}(rows: list[dict], limit: int = 10) -> list[dict]:
    """Helper {k}: keep rows under the limit."""
    out = []
    for row in rows:
        if len(out) >= limit:
            break
        out.append(row)
    logger.debug("helper {k} kept %d rows", len(out))
    return out


class Stage{k}:
    """Stage {k} of a pipeline."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.buffer: list[bytes] = []

    def run(self, futures: list[Future]) -> list:
        results = [f.result() for f in futures]
        return sorted(results)
'''
        )
    parts.append(
        "\n\ndef merge(runs):\n    return list(heapq.merge(*runs))\n\n\n"
        "def wait(is_idle):\n    while not is_idle():\n        time.sleep(POLL_INTERVAL_S)\n"
    )
    return "".join(parts)


def change(i: int, text: str) -> str:
    """One of ten kinds of change, by module number."""
    kind = i % 10
    if kind == 0:
        return text.replace('"""Helper 3: keep rows under the limit."""', '"""Helper 3."""')
    if kind == 1:
        return text.replace("    out = []\n", "    out = []  # reused below\n", 1)
    if kind == 2:
        return text.replace(
            "def _helper_1(rows: list[dict], limit: int = 10)", "def _helper_1(rows, limit=10)"
        )
    if kind == 3:
        return text.replace('"helper 2 kept %d rows"', '"helper two kept %d rows"')
    if kind == 4:
        return text.replace("_helper_5", "_keep_rows_5")
    if kind == 5:
        start = text.index("def _helper_7(")
        end = text.index("class Stage7:")
        return text[:start] + text[end:]
    if kind == 6:
        return text.replace(
            f"CHUNK_ROWS_{i} = {1024 * (i + 1)}", f"CHUNK_ROWS_{i} = {2048 * (i + 1)}"
        )
    if kind == 7:
        return text.replace("        if len(out) >= limit:\n", "        if len(out) > limit:\n", 1)
    if kind == 8:
        return text.replace(
            "results = [f.result() for f in futures]",
            "results = [f.result(timeout=60) for f in futures]",
            1,
        )
    return text.replace(
        "        return sorted(results)\n", "        return sorted(results, reverse=True)\n", 1
    )


def build(root: Path) -> None:
    files = dict(BASE_FILES)
    for i in range(FILES):
        files[f"{ZSRC}/synthetic/mod{i:02d}.py"] = module(i)
    repo = make_marin_repo(root, files)
    repo.branch("feature")
    for i in range(FILES):
        path = f"{ZSRC}/synthetic/mod{i:02d}.py"
        repo.write(path, change(i, repo.read(path)), dedent=False)
    repo.commit("50-file change")


def main(runs: int = 5) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assess-") as tmp:
        root = Path(tmp) / "marin"
        build(root)
        lines = sum(len(module(i).splitlines()) for i in range(FILES))
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            a = assess_source(LocalGitDiffSource(root, "main", "feature"))
            times.append(time.perf_counter() - start)
        trivial = sum(f.trivial for f in a.per_file.values())
        print(
            f"changed Zephyr files: {len(a.per_file)} ({lines} lines at base), trivial: {trivial}"
        )
        print(f"max_gate: {a.max_gate}")
        print(
            f"assess 50-file diff (local checkout): median {statistics.median(times):.3f} s, "
            f"max {max(times):.3f} s over {runs} runs (target <= 2 s)"
        )


def many_names(root: Path, names: int = 3000, files: int = 3) -> None:
    """A hostile diff: ``files`` modules each replaced by ``names`` functions whose names
    the tree also uses (``run_0`` ... and common words), so every removed and added name
    is searched for in the head tree."""
    base = dict(BASE_FILES)
    for i in range(20):
        base[f"{ZSRC}/synthetic/mod{i:02d}.py"] = module(i)
    repo = make_marin_repo(root, base)
    repo.branch("feature")
    body = "".join(f"def run_{k}(rows):\n    return rows\n\n\n" for k in range(names))
    for i in range(files):
        repo.write(f"{ZSRC}/synthetic/mod{i:02d}.py", body, dedent=False)
    repo.commit("many names")


def main_many_names(runs: int = 3) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assess-names-") as tmp:
        root = Path(tmp) / "marin"
        many_names(root)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            assess_source(LocalGitDiffSource(root, "main", "feature"))
            times.append(time.perf_counter() - start)
        print(
            "assess 3 modules replaced by 3,000 functions each (hostile names): median "
            f"{statistics.median(times):.3f} s, max {max(times):.3f} s over {runs} runs"
        )


def main_many_members(members: int = 1000, files: int = 10) -> None:
    """A class loses ``members`` methods whose names stay in ``files`` other modules (on
    another object): each removed method's callers are looked for in every such file."""
    from perfgate_lib.assess.diffsource import DirectoryDiffSource

    with tempfile.TemporaryDirectory(prefix="bench-assess-members-") as tmp:
        for side in ("base", "head"):
            pkg = Path(tmp) / side / ZSRC
            pkg.mkdir(parents=True)
            (pkg / "__init__.py").write_text("")
            defs = "".join(f"    def m_{k}(self):\n        return {k}\n\n" for k in range(members))
            (pkg / "big.py").write_text("class C:\n" + defs * (side == "base") + "    pass\n")
            receiver = "c" if side == "base" else "other"
            calls = "".join(f"    {receiver}.m_{k}()\n" for k in range(0, members, 7))
            for i in range(files):
                head = "from zephyr.big import C\n\n\ndef f(other):\n    c = C()\n    c.m_0\n"
                (pkg / f"user{i}.py").write_text(head + calls)
        start = time.perf_counter()
        assess_source(DirectoryDiffSource(Path(tmp) / "base", Path(tmp) / "head"))
        print(
            f"assess a class losing {members:,} methods named in {files} modules: "
            f"{time.perf_counter() - start:.3f} s (one run)"
        )


if __name__ == "__main__":
    main()
    main_many_names()
    main_many_members()
