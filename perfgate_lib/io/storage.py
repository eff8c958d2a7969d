"""Paths and fsspec URLs alike: local paths, ``gs://`` (gcsfs), ``memory://``.

Every function takes a local path or a URL. On URLs only transient answers are retried
(:mod:`perfgate_lib.io.storage_retry`, bounded in ``gate_common.yaml``); no credentials, no
network or a refused request fail at once with one line
(:class:`~perfgate_lib.errors.StorageError`), a missing object with ``FileNotFoundError``.
Writes create parent folders, and every text written (UTF-8 data) passes through
:func:`perfgate_lib.io.redaction.redact` first: what the kit writes holds no secret.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import posixpath
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec

from perfgate_lib.errors import UsageError
from perfgate_lib.io.redaction import redact
from perfgate_lib.io.storage_retry import retry_policy, with_retries


def configure_gcs_emulator_env() -> None:
    """Set the gcsfs variables an emulator needs (see docs/development.md, known pitfalls).

    Only acts when ``STORAGE_EMULATOR_HOST`` is set; call before importing gcsfs.
    """
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        os.environ.setdefault("FSSPEC_GS_TOKEN", "anon")
        os.environ.setdefault("NO_GCE_CHECK", "true")


def is_url(path: str) -> bool:
    """True for ``scheme://...`` locations (other than ``file://``)."""
    return "://" in str(path) and not str(path).startswith("file://")


def _gcs_without_inner_retries() -> None:
    """gcsfs retries every error six times (about 40 s) on its own; retries are decided
    here instead (:func:`with_retries`), so its own retry test always says no."""
    import gcsfs.retry

    gcsfs.retry.is_retriable = lambda exc: False


def filesystem(path: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``path`` and the path inside it.

    ``gs://`` without credentials raises StorageError (kind ``credentials``) at once.
    """
    configure_gcs_emulator_env()
    if str(path).startswith("gs://"):
        from perfgate_lib.io.cloudauth import require_gcs_credentials

        require_gcs_credentials(str(path), retry_policy().credentials_check_s)
        _gcs_without_inner_retries()
    return fsspec.core.url_to_fs(str(path))


def call(path: str, doing: str, op: Any) -> Any:
    """``op(fs, inner)`` on ``path``'s filesystem, with the storage retry rules."""

    def attempt() -> Any:
        fs, inner = filesystem(path)
        return op(fs, inner)

    return with_retries(attempt, str(path), doing)


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` (the kit is POSIX-only); keeps the URL scheme of ``base``."""
    return posixpath.join(str(base), *parts)


def read_bytes(path: str) -> bytes:
    return call(path, "read", lambda fs, inner: fs.cat_file(inner))


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

    def write(fs: Any, inner: str) -> None:
        parent = posixpath.dirname(inner)
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(inner, "wb") as fh:
            fh.write(data)

    call(path, "write", write)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` in one step: an object store's write is atomic; a local file is
    written to a temp file beside it, synced, then renamed over it. Redacted like
    :func:`write_bytes`."""
    if is_url(path):
        write_text(path, text)
        return
    _replace_local(path, outbound(text.encode("utf-8")))


def _replace_local(path: str, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, sync it, rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def exists(path: str) -> bool:
    return call(path, "check", lambda fs, inner: fs.exists(inner))


def makedirs(path: str) -> None:
    call(path, "create", lambda fs, inner: fs.makedirs(inner, exist_ok=True))


def glob(pattern: str) -> list[str]:
    """Matches of ``pattern``, as full URLs when the pattern is a URL."""

    def find(fs: Any, inner: str) -> list[str]:
        found = fs.glob(inner)
        if is_url(pattern):
            return [fs.unstrip_protocol(p) for p in found]
        return sorted(found)

    return call(pattern, "list", find)


def listdir(path: str) -> list[str]:
    """Names (not paths) of the entries directly under ``path``; [] when missing."""

    def names(fs: Any, inner: str) -> list[str]:
        if not fs.exists(inner):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(inner, detail=False))

    return call(path, "list", names)


# ---------------------------------------------------------------------- conditional writes
@dataclass(frozen=True)
class Versioned:
    """An object's text and its generation: an opaque string that changes on every
    write (GCS: the object generation; local disk: mtime, inode and content digest)."""

    text: str
    generation: str


def _local_generation(path: str) -> str:
    with open(path, "rb") as fh:
        data = fh.read()
        st = os.fstat(fh.fileno())
    return f"{st.st_mtime_ns}-{st.st_ino}-{hashlib.sha256(data).hexdigest()[:16]}"


@contextlib.contextmanager
def _local_mutex(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``<dir>/.<name>.mutex`` for one read-compare-write (the
    kernel drops it if the process dies)."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f".{name}.mutex"), "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _gcs_parts(fs: Any, inner: str) -> tuple[str, str]:
    bucket, key, _generation = fs.split_path(inner)
    return bucket, key


def _check_scheme(path: str) -> None:
    if is_url(path) and not str(path).startswith("gs://"):
        raise UsageError(
            f"{path}: conditional writes (the PR lock) need a local folder or gs://, "
            f"not {str(path).split('://', 1)[0]}://"
        )


def read_versioned(path: str) -> Versioned | None:
    """The object's text and generation; None when it does not exist."""
    _check_scheme(path)
    if not is_url(path):
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            return Versioned(text, _local_generation(path))
        except FileNotFoundError:
            return None

    def read(fs: Any, inner: str) -> Versioned | None:
        bucket, key = _gcs_parts(fs, inner)
        try:
            meta = fs.call("GET", "b/{}/o/{}", bucket, key, json_out=True)
            gen = str(meta["generation"])
            _headers, data = fs.call("GET", "b/{}/o/{}", bucket, key, alt="media", generation=gen)
        except FileNotFoundError:
            return None
        return Versioned(data.decode("utf-8"), gen)

    return call(path, "read", read)


def write_if_generation(path: str, text: str, generation: str | None) -> str | None:
    """Write ``text`` only when the object is still at ``generation`` (None: only when it
    does not exist yet); returns the new generation, or None when another writer got
    there first. Redacted like :func:`write_bytes`. GCS: one upload with
    ``ifGenerationMatch`` (0 for "must not exist"); local disk: compare and rename under
    an exclusive ``flock``."""
    _check_scheme(path)
    data = outbound(text.encode("utf-8"))
    if not is_url(path):
        with _local_mutex(path):
            current = _local_generation(path) if os.path.exists(path) else None
            if current != generation:
                return None
            _replace_local(path, data)
            return _local_generation(path)

    def write(fs: Any, inner: str) -> str | None:
        bucket, key = _gcs_parts(fs, inner)
        try:
            meta = fs.call(
                "POST",
                f"{fs._location}/upload/storage/v1/b/{{}}/o",
                bucket,
                uploadType="media",
                name=key,
                ifGenerationMatch=generation or "0",
                data=data,
                headers={"Content-Type": "application/octet-stream"},
                json_out=True,
            )
        except FileExistsError:  # HTTP 412: the precondition failed
            return None
        return str(meta["generation"])

    return call(path, "write", write)


def delete_if_generation(path: str, generation: str) -> bool:
    """Delete the object only when it is still at ``generation``; False otherwise."""
    _check_scheme(path)
    if not is_url(path):
        with _local_mutex(path):
            if not os.path.exists(path) or _local_generation(path) != generation:
                return False
            os.unlink(path)
            return True

    def delete(fs: Any, inner: str) -> bool:
        bucket, key = _gcs_parts(fs, inner)
        try:
            fs.call("DELETE", "b/{}/o/{}", bucket, key, ifGenerationMatch=generation)
        except (FileExistsError, FileNotFoundError):
            return False
        fs.invalidate_cache(inner)
        return True

    return call(path, "delete", delete)
