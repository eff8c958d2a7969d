"""Plant files the way a subprocess would: raw bytes, past the kit's redaction."""

from __future__ import annotations

import posixpath

from perfgate_lib.io import storage


def plant_bytes(path: str, data: bytes) -> None:
    """Write ``data`` at ``path`` (local or fsspec URL) unredacted, creating folders."""
    fs, inner = storage.filesystem(path)
    parent = posixpath.dirname(inner.replace("\\", "/"))
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(inner, data)


def plant_text(path: str, text: str) -> None:
    """:func:`plant_bytes` for UTF-8 text."""
    plant_bytes(path, text.encode("utf-8"))
