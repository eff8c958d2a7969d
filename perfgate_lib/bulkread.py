"""Read many files at once (local paths or fsspec URLs), for mirrors and run folders."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from perfgate_lib import storage

CONCURRENCY = 16  # requests in flight (the GCS emulator slows down above ~16)


def fetch_many(paths: Sequence[str], concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """``{path: bytes}`` for each path, or the exception raised for that path.

    All paths must share one filesystem. Async filesystems (gcsfs) get one batched
    ``cat`` with ``concurrency`` requests in flight; others a thread pool of that size.
    """
    if not paths:
        return {}
    fs, _ = storage.filesystem(paths[0])
    inner = {p: storage.filesystem(p)[1] for p in paths}
    if getattr(fs, "async_impl", False):
        got = fs.cat(list(inner.values()), on_error="return", batch_size=concurrency)
        missing = FileNotFoundError("not returned by the filesystem")
        return {p: got.get(i, got.get(fs._strip_protocol(i), missing)) for p, i in inner.items()}

    def one(path: str) -> Any:
        try:
            return fs.cat_file(inner[path])
        except Exception as exc:  # any backend error: reported per file
            return exc

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))
