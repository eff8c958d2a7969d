"""Read many files at once (local paths or fsspec URLs), for mirrors and run folders."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from perfgate_lib.io import storage


def default_concurrency() -> int:
    """Requests in flight: 4 against a GCS emulator (``STORAGE_EMULATOR_HOST``; it serves
    one request at a time, and more connections overflow its listen backlog of 5 and stall
    ~1 s each), else 32."""
    return 4 if os.environ.get("STORAGE_EMULATOR_HOST") else 32


def fetch_many(paths: Sequence[str], concurrency: int | None = None) -> dict[str, Any]:
    """``{path: bytes}`` for each path, or the exception raised for that path. All paths
    share one filesystem; an async one (gcsfs) gets batched ``cat`` calls, others a thread
    pool, with ``concurrency`` (default :func:`default_concurrency`) requests in flight."""
    if not paths:
        return {}
    concurrency = concurrency or default_concurrency()
    fs, _ = storage.filesystem(paths[0])
    inner = {p: storage.filesystem(p)[1] for p in paths}
    if getattr(fs, "async_impl", False):
        return _fetch_async(fs, inner, concurrency)

    def one(path: str) -> Any:
        try:
            return fs.cat_file(inner[path])
        except Exception as exc:  # noqa: BLE001 - this file's result, as on the async branch
            return exc  # (gcsfs's cat(on_error="return")): callers classify each file's error

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))


def _fetch_async(fs: Any, inner: dict[str, str], concurrency: int) -> dict[str, Any]:
    """One batched ``cat``; paths that failed with a transient answer are fetched again,
    as often as the storage retry policy allows."""
    policy = storage.retry_policy()
    missing = FileNotFoundError("not returned by the filesystem")
    out: dict[str, Any] = {}
    todo = dict(inner)
    for attempt in range(1, policy.attempts + 1):
        got = fs.cat(list(todo.values()), on_error="return", batch_size=concurrency)
        for path, key in todo.items():
            out[path] = got.get(key, got.get(fs._strip_protocol(key), missing))
        todo = {
            p: k
            for p, k in todo.items()
            if isinstance(out[p], BaseException) and storage.classify(out[p]) == storage.TRANSIENT
        }
        if not todo or attempt == policy.attempts:
            break
        time.sleep(policy.wait(attempt))
    return out


def list_files(folder: str) -> list[str]:
    """Every file under ``folder`` (recursive), sorted, spelled as ``folder`` + relative
    path; FileNotFoundError when ``folder`` is not a folder."""

    def find(fs: Any, inner: str) -> tuple[str, list[str]]:
        if not fs.isdir(inner):
            raise FileNotFoundError(f"folder not found: {folder}")
        return inner, fs.find(inner)

    inner, found = storage.call(folder, "list", find)
    base = inner.rstrip("/")
    rels = [path[len(base) :].lstrip("/") if path.startswith(base) else path for path in found]
    return sorted(storage.join(str(folder).rstrip("/"), *rel.split("/")) for rel in rels)
