"""Paths and fsspec URLs alike: local paths, ``gs://`` (gcsfs), ``memory://``.

Every function takes a local path or a URL. Writes create parent folders, and every
text written (UTF-8 data) passes through :func:`perfgate_lib.redaction.redact` first:
what the kit writes to a run folder, a comment file or verdict.json holds no secret.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import fsspec

from perfgate_lib.redaction import redact


def configure_gcs_emulator_env() -> None:
    """Set the gcsfs variables an emulator needs (see design.md pitfalls).

    Only acts when ``STORAGE_EMULATOR_HOST`` is set; call before importing gcsfs.
    """
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        os.environ.setdefault("FSSPEC_GS_TOKEN", "anon")
        os.environ.setdefault("NO_GCE_CHECK", "true")


def is_url(path: str) -> bool:
    """True for ``scheme://...`` locations (other than ``file://``)."""
    return "://" in str(path) and not str(path).startswith("file://")


def filesystem(path: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``path`` and the path inside it."""
    configure_gcs_emulator_env()
    fs, inner = fsspec.core.url_to_fs(str(path))
    return fs, inner


def join(base: str, *parts: str) -> str:
    """Join path parts; keeps the URL scheme of ``base``."""
    base = str(base)
    if is_url(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def read_bytes(path: str) -> bytes:
    fs, inner = filesystem(path)
    with fs.open(inner, "rb") as fh:
        return fh.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def outbound(data: bytes) -> bytes:
    """``data`` redacted when it is UTF-8 text; binary data (PNG) unchanged."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    clean = redact(text)
    return data if clean == text else clean.encode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` (redacted when it is text, see :func:`outbound`)."""
    data = outbound(data)
    fs, inner = filesystem(path)
    parent = posixpath.dirname(inner) if is_url(str(path)) else os.path.dirname(inner)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    with fs.open(inner, "wb") as fh:
        fh.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def exists(path: str) -> bool:
    fs, inner = filesystem(path)
    return fs.exists(inner)


def makedirs(path: str) -> None:
    fs, inner = filesystem(path)
    fs.makedirs(inner, exist_ok=True)


def glob(pattern: str) -> list[str]:
    """Matches of ``pattern``, as full URLs when the pattern is a URL."""
    fs, inner = filesystem(pattern)
    found = fs.glob(inner)
    if is_url(pattern):
        return [fs.unstrip_protocol(p) for p in found]
    return sorted(found)


def listdir(path: str) -> list[str]:
    """Names (not paths) of the entries directly under ``path``; [] when missing."""
    fs, inner = filesystem(path)
    if not fs.exists(inner):
        return []
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(inner, detail=False))
