"""A small git repository with marin's layout, for assessment tests and the benchmark.

``make_marin_repo(root)`` commits the base tree below on branch ``main``; a test then
branches, edits with :class:`MarinRepo` helpers and commits, and assesses ``main...HEAD``.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

ZSRC = "lib/zephyr/src/zephyr"

BASE_FILES: dict[str, str] = {
    "README.md": "# marin\n",
    "lib/zephyr/pyproject.toml": """\
        [project]
        name = "marin-zephyr"
        version = "0.2.20"
        description = "Zephyr: dataset pipelines"
        dependencies = [
            "pyarrow>=15",  # columnar I/O
            "cloudpickle>=3.0",
            "fsspec>=2024.6",
        ]

        [project.optional-dependencies]
        vortex = ["vortex-data>=0.20"]

        [tool.ruff]
        line-length = 100
        """,
    "lib/zephyr/AGENTS.md": "# Zephyr agents guide\n\nScatter and planner matter most.\n",
    "lib/zephyr/OPS.md": "# Operating zephyr\n",
    f"{ZSRC}/__init__.py": '''\
        """Zephyr: dataset pipelines on fray."""

        from zephyr.dataset import Dataset
        from zephyr.execution import ZephyrContext

        __all__ = ["Dataset", "ZephyrContext"]
        ''',
    f"{ZSRC}/dataset.py": '''\
        """The public Dataset API."""

        from __future__ import annotations

        from collections.abc import Callable, Iterable

        from zephyr.plan import Op


        class Dataset:
            """A lazy pipeline of operations over shards."""

            def __init__(self, source: Iterable, ops: list[Op] | None = None) -> None:
                self.source = source
                self.ops = ops or []

            def _with_op(self, op: Op) -> Dataset:
                return Dataset(self.source, [*self.ops, op])

            def map(self, fn: Callable) -> Dataset:
                """Apply ``fn`` to every record."""
                return self._with_op(Op("map", fn))

            def filter(self, predicate: Callable) -> Dataset:
                """Keep records where ``predicate`` is true."""
                return self._with_op(Op("filter", predicate))

            def reshard(self, num_shards: int) -> Dataset:
                return self._with_op(Op("reshard", num_shards))
        ''',
    f"{ZSRC}/plan.py": '''\
        """Planner: turn Dataset ops into stages, fusing what can run together."""

        from dataclasses import dataclass
        from typing import Any


        @dataclass
        class Op:
            kind: str
            arg: Any = None


        FUSIBLE = {"map", "filter"}


        def fuse_ops(ops: list[Op]) -> list[list[Op]]:
            """Group consecutive fusible ops into one stage."""
            stages: list[list[Op]] = []
            for op in ops:
                if stages and op.kind in FUSIBLE and stages[-1][-1].kind in FUSIBLE:
                    stages[-1].append(op)
                else:
                    stages.append([op])
            return stages
        ''',
    f"{ZSRC}/shuffle.py": '''\
        """Scatter: route records to output shards through per-shard buffers."""

        import hashlib
        import logging

        logger = logging.getLogger(__name__)

        SCATTER_BUFFER_BYTES = 64 * 1024 * 1024


        def shard_for(key: bytes, num_shards: int) -> int:
            """Stable hash routing of a key to a shard."""
            digest = hashlib.blake2b(key, digest_size=8).digest()
            return int.from_bytes(digest, "little") % num_shards


        def _flush(buffer: list, out: list) -> None:
            out.extend(buffer)
            buffer.clear()


        def scatter(records: list[tuple[bytes, bytes]], num_shards: int) -> list[list]:
            """Scatter ``records`` (key, value) into ``num_shards`` lists."""
            outputs: list[list] = [[] for _ in range(num_shards)]
            buffers: list[list] = [[] for _ in range(num_shards)]
            sizes = [0] * num_shards
            for key, value in records:
                shard = shard_for(key, num_shards)
                buffers[shard].append(value)
                sizes[shard] += len(value)
                if sizes[shard] >= SCATTER_BUFFER_BYTES:
                    _flush(buffers[shard], outputs[shard])
                    sizes[shard] = 0
            for shard in range(num_shards):
                _flush(buffers[shard], outputs[shard])
            logger.info("scattered %d records into %d shards", len(records), num_shards)
            return outputs
        ''',
    f"{ZSRC}/external_sort.py": '''\
        """External sort: sorted runs merged k-way."""

        import heapq
        from collections.abc import Iterable, Iterator


        def sort_run(records: list) -> list:
            return sorted(records)


        def merge_runs(runs: list[Iterable]) -> Iterator:
            """K-way merge of sorted runs."""
            yield from heapq.merge(*runs)
        ''',
    f"{ZSRC}/execution.py": '''\
        """Coordinator and worker loops."""

        import time
        from concurrent.futures import Future

        POLL_INTERVAL_S = 1.0


        class ZephyrContext:
            """Runs stages on a pool of workers."""

            def __init__(self, max_workers: int = 2) -> None:
                self.max_workers = max_workers

            def wait_all(self, futures: list[Future]) -> list:
                results = []
                for future in futures:
                    results.append(future.result())
                return results

            def wait_idle(self, is_idle) -> None:
                while not is_idle():
                    time.sleep(POLL_INTERVAL_S)
        ''',
    f"{ZSRC}/counters.py": '''\
        """Counters reported by workers."""

        import logging

        logger = logging.getLogger(__name__)


        class Counters:
            """Named integer counters."""

            def __init__(self) -> None:
                self.values: dict[str, int] = {}

            def increment(self, name: str, amount: int = 1) -> None:
                """Add ``amount`` to counter ``name``."""
                self.values[name] = self.values.get(name, 0) + amount

            def total(self) -> int:
                return _sum_values(self.values)


        def _sum_values(values: dict[str, int]) -> int:
            total = 0
            for value in values.values():
                total += value
            return total


        def _legacy_report(counters: Counters) -> str:
            return ", ".join(f"{k}={v}" for k, v in counters.values.items())


        def describe(counters: Counters) -> str:
            """One line for logs."""
            if not counters.values:
                raise ValueError("no counters")
            logger.info("describing %d counters", len(counters.values))
            return f"{len(counters.values)} counters"
        ''',
    f"{ZSRC}/readers.py": '''\
        """Readers: JSONL and parquet."""

        import json


        def read_jsonl(path: str) -> list[dict]:
            with open(path) as fh:
                return [json.loads(line) for line in fh]
        ''',
    "lib/zephyr/tests/test_counters.py": """\
        from zephyr.counters import Counters, describe


        def test_increment():
            c = Counters()
            c.increment("a")
            assert c.total() == 1
            assert describe(c) == "1 counters"
        """,
    "lib/marin/src/marin/processing/tokenize/tokenize.py": "def tokenize(doc):\n    return doc.split()\n",
    "lib/marin/src/marin/datakit/normalize/normalize.py": "def normalize(doc):\n    return doc.strip()\n",
    "lib/marin/src/marin/processing/classification/deduplication/dedup.py": (
        "def dedup(docs):\n    return list(dict.fromkeys(docs))\n"
    ),
    "lib/marin/src/marin/pipeline.py": """\
        from zephyr import Dataset


        def build(source):
            return Dataset(source).map(str.strip)
        """,
    "lib/fray/src/fray/client.py": "class LocalClient:\n    pass\n",
}

_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _text(content: str) -> str:
    return textwrap.dedent(content)


class MarinRepo:
    """A git working tree with helpers to edit, rename, delete and commit."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def git(self, *args: str) -> str:
        env = {**os.environ, **_ENV, "GIT_CONFIG_GLOBAL": os.devnull}
        proc = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout.strip()

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def write(self, path: str, content: str, dedent: bool = True) -> None:
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_text(content) if dedent else content)

    def edit(self, path: str, old: str, new: str) -> None:
        """Replace the one exact occurrence of ``old`` with ``new``."""
        text = self.read(path)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
        self.write(path, text.replace(old, new), dedent=False)

    def delete(self, path: str) -> None:
        self.git("rm", "-q", path)

    def move(self, old: str, new: str) -> None:
        (self.root / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str = "feature") -> None:
        self.git("checkout", "-q", "-b", name)


def make_marin_repo(root: Path, files: dict[str, str] | None = None) -> MarinRepo:
    """Create ``root`` as a git repository whose ``main`` holds marin's layout."""
    root.mkdir(parents=True, exist_ok=True)
    repo = MarinRepo(root)
    repo.git("init", "-q")
    for path, content in (files or BASE_FILES).items():
        repo.write(path, content)
    repo.commit("base")
    return repo
