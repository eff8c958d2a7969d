"""Local paths and fsspec URLs alike (``gs://``, ``memory://``): read, write, list, and
conditional writes. Every text written is redacted first; writes create parent folders.
Which errors are retried, and how: ``docs/running-a-gate.md`` (Storage errors).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import posixpath
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import yaml
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from perfgate_lib import bundled
from perfgate_lib.errors import StorageError, UsageError
from perfgate_lib.io.redaction import redact

CREDENTIALS = "credentials"
NETWORK = "network"
NOT_FOUND = "not found"
TRANSIENT = "transient"
_STATUS_KIND: dict[int | None, str] = {401: CREDENTIALS, 403: CREDENTIALS, 404: NOT_FOUND}
_STATUS_KIND |= dict.fromkeys((408, 429, 500, 502, 503, 504), TRANSIENT)  # retried
GATE_COMMON = bundled("parameters") / "gate_common.yaml"
QUIET_LOGGERS = ("gcsfs", "google.auth", "google.cloud", "fsspec")
HOW_TO = "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`"


# ---------------------------------------------------------------------- errors
def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        yield node
        node = node.__cause__ or node.__context__


def _status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (gcsfs ``HttpError.code``, aiohttp ``status``)."""
    for attr in ("status", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _kind_of(exc: BaseException) -> str | None:
    import aiohttp
    import google.auth.exceptions

    by_type = (
        (google.auth.exceptions.GoogleAuthError, CREDENTIALS),
        (aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError, TRANSIENT),
        (aiohttp.ClientConnectorError | ConnectionRefusedError | TimeoutError, NETWORK),
    )
    kind = next((kind for types, kind in by_type if isinstance(exc, types)), None)
    kind = kind or _STATUS_KIND.get(_status(exc))
    return kind or (NETWORK if isinstance(exc, aiohttp.ClientConnectionError) else None)


def classify(exc: BaseException) -> str | None:
    """``credentials`` / ``network`` / ``transient`` / ``not found``, or None (unknown).

    The deepest known cause wins: fsspec's HTTP filesystem reports an unreachable host as
    a ``FileNotFoundError`` raised from a DNS failure, which is ``network``.
    """
    kinds = [k for k in (_kind_of(e) for e in _chain(exc)) if k]
    if kinds:
        return kinds[-1]
    return NOT_FOUND if isinstance(exc, FileNotFoundError) else None


def describe(exc: BaseException) -> str:
    """The message of the deepest cause :func:`classify` understood (else the deepest
    cause), on one line."""
    chain = list(_chain(exc))
    last = ([e for e in chain if _kind_of(e)] or chain)[-1]
    return (" ".join(str(last).split()) or type(last).__name__)[:300]


# ---------------------------------------------------------------------- retries
@dataclass(frozen=True)
class RetryPolicy:
    """How transient storage answers are retried (``storage_retry_*`` of gate_common.yaml)."""

    attempts: int = 4  # the first one included
    first_wait_s: float = 0.5  # seconds, doubled each retry up to max_wait_s
    max_wait_s: float = 4.0
    credentials_check_s: float = 2.0  # seconds google-auth may take to find credentials

    def wait(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return min(self.first_wait_s * 2 ** (retry - 1), self.max_wait_s)


@functools.lru_cache(maxsize=1)
def retry_policy() -> RetryPolicy:
    """The bundled ``gate_common.yaml``'s ``storage_retry_*`` keys (defaults when absent)."""
    # plain file I/O: storage itself must not be needed to configure storage
    doc = yaml.safe_load(GATE_COMMON.read_text()) or {}
    default = RetryPolicy()
    return RetryPolicy(
        attempts=max(1, int(doc.get("storage_retry_attempts", default.attempts))),
        first_wait_s=float(doc.get("storage_retry_first_wait_seconds", default.first_wait_s)),
        max_wait_s=float(doc.get("storage_retry_max_wait_seconds", default.max_wait_s)),
        credentials_check_s=float(
            doc.get("storage_credentials_check_seconds", default.credentials_check_s)
        ),
    )


def translate(exc: Exception, url: str, doing: str, attempts: int = 1) -> Exception:
    """The exception a caller sees for a failed call on the URL ``url``."""
    kind = None if isinstance(exc, StorageError) else classify(exc)
    if kind == NOT_FOUND:
        return exc if isinstance(exc, FileNotFoundError) else FileNotFoundError(url)
    if kind in (CREDENTIALS, NETWORK):
        return StorageError(url, kind, describe(exc), doing)
    if kind == TRANSIENT:
        detail = f"{describe(exc)} (still failing after {attempts} attempts)"
        return StorageError(url, kind, detail, doing)
    return exc


def with_retries[T](
    op: Callable[[], T],
    url: str,
    doing: str = "read",
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``op()``, retried on transient answers only (waits from ``policy``); other failures,
    and a transient one on the last attempt, are translated at once. Local paths keep
    their own exceptions."""
    if not is_url(url):
        return op()
    policy = policy or retry_policy()
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.first_wait_s, max=policy.max_wait_s),
        retry=retry_if_exception(lambda exc: classify(exc) == TRANSIENT),
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(op)
    except Exception as exc:
        error = translate(exc, url, doing, retrying.statistics.get("attempt_number", 1))
        if error is exc:
            raise
        raise error from exc


# ---------------------------------------------------------------------- credentials
def _find_credentials() -> str | None:
    """None when google-auth finds default credentials, else why not (one line)."""
    import google.auth
    import google.auth.exceptions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            google.auth.default()
        except google.auth.exceptions.DefaultCredentialsError:
            return "no Google Cloud credentials found"
        except google.auth.exceptions.GoogleAuthError as exc:
            return " ".join(str(exc).split())[:200]
    return None


@functools.lru_cache(maxsize=8)
def _credentials_problem(timeout_s: float, _env_key: tuple[str, ...]) -> str | None:
    found: list[str | None] = []
    worker = threading.Thread(target=lambda: found.append(_find_credentials()), daemon=True)
    worker.start()
    worker.join(timeout_s)
    return found[0] if found else f"no Google Cloud credentials found within {timeout_s:g} s"


def require_gcs_credentials(url: str, timeout_s: float) -> None:
    """Raise StorageError(kind credentials) for ``url`` when google-auth finds none within
    ``timeout_s`` (asked once per environment); silences the cloud libraries' logs unless
    ``PERFGATE_DEBUG`` is set. Why: ``docs/development.md`` (Known pitfalls)."""
    if os.environ.get("PERFGATE_DEBUG", "") in ("", "0"):
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if os.environ.get("FSSPEC_GS_TOKEN") or os.environ.get("STORAGE_EMULATOR_HOST"):
        return  # gcsfs is given its token, or talks to an emulator: no default credentials
    env_key = tuple(
        os.environ.get(v, "")
        for v in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "HOME", "NO_GCE_CHECK")
    )
    problem = _credentials_problem(timeout_s, env_key)
    if problem:
        raise StorageError(url, CREDENTIALS, f"{problem.rstrip('.')}; {HOW_TO}")


# ---------------------------------------------------------------------- paths and files
def is_url(path: str) -> bool:
    """True for ``scheme://...`` locations (other than ``file://``)."""
    return "://" in str(path) and not str(path).startswith("file://")


def filesystem(path: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``path`` and the path inside it; ``gs://`` without
    credentials raises StorageError (kind ``credentials``) at once."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):  # docs/development.md, known pitfalls
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        os.environ.setdefault("FSSPEC_GS_TOKEN", "anon")
        os.environ.setdefault("NO_GCE_CHECK", "true")
    if str(path).startswith("gs://"):
        require_gcs_credentials(str(path), retry_policy().credentials_check_s)
        import gcsfs.retry  # it retries every error six times (~40 s): with_retries decides

        gcsfs.retry.is_retriable = lambda exc: False
    return fsspec.core.url_to_fs(str(path))


def call(path: str, doing: str, op: Any) -> Any:
    """``op(fs, inner)`` on ``path``'s filesystem, with the storage retry rules."""
    return with_retries(lambda: op(*filesystem(path)), str(path), doing)


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
        if posixpath.dirname(inner):
            fs.makedirs(posixpath.dirname(inner), exist_ok=True)
        with fs.open(inner, "wb") as fh:
            fh.write(data)

    call(path, "write", write)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` in one step (an object store's write is atomic; a local file is
    replaced by :func:`_replace_local`), redacted like :func:`write_bytes`."""
    if is_url(path):
        write_text(path, text)
    else:
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


def isdir(path: str) -> bool:
    return bool(call(path, "check", lambda fs, inner: fs.isdir(inner)))


def makedirs(path: str) -> None:
    call(path, "create", lambda fs, inner: fs.makedirs(inner, exist_ok=True))


def glob(pattern: str) -> list[str]:
    """Matches of ``pattern``, as full URLs when the pattern is a URL."""

    def find(fs: Any, inner: str) -> list[str]:
        found = fs.glob(inner)
        return [fs.unstrip_protocol(p) for p in found] if is_url(pattern) else sorted(found)

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


def _gcs_call(path: str, doing: str, op: Callable[..., Any]) -> Any:
    """``op(fs, inner, bucket, key)`` on a ``gs://`` path, with the storage retry rules;
    a URL of another scheme is a UsageError (conditional writes need a generation)."""
    if not str(path).startswith("gs://"):
        raise UsageError(
            f"{path}: conditional writes (the PR lock) need a local folder or gs://, "
            f"not {str(path).split('://', 1)[0]}://"
        )
    return call(path, doing, lambda fs, inner: op(fs, inner, *fs.split_path(inner)[:2]))


def read_versioned(path: str) -> Versioned | None:
    """The object's text and generation; None when it does not exist."""
    if not is_url(path):
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            return Versioned(text, _local_generation(path))
        except FileNotFoundError:
            return None

    def read(fs: Any, inner: str, bucket: str, key: str) -> Versioned | None:
        try:
            meta = fs.call("GET", "b/{}/o/{}", bucket, key, json_out=True)
            gen = str(meta["generation"])
            _headers, data = fs.call("GET", "b/{}/o/{}", bucket, key, alt="media", generation=gen)
        except FileNotFoundError:
            return None
        return Versioned(data.decode("utf-8"), gen)

    return _gcs_call(path, "read", read)


def write_if_generation(path: str, text: str, generation: str | None) -> str | None:
    """Write ``text`` only when the object is still at ``generation`` (None: only when it
    does not exist yet); returns the new generation, or None when another writer got
    there first. Redacted like :func:`write_bytes`. GCS: one upload with
    ``ifGenerationMatch`` (0 for "must not exist"); local disk: compare and rename under
    an exclusive ``flock``."""
    data = outbound(text.encode("utf-8"))
    if not is_url(path):
        with _local_mutex(path):
            current = _local_generation(path) if os.path.exists(path) else None
            if current != generation:
                return None
            _replace_local(path, data)
            return _local_generation(path)

    def write(fs: Any, inner: str, bucket: str, key: str) -> str | None:
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

    return _gcs_call(path, "write", write)


def delete_if_generation(path: str, generation: str) -> bool:
    """Delete the object only when it is still at ``generation``; False otherwise."""
    if not is_url(path):
        with _local_mutex(path):
            if not os.path.exists(path) or _local_generation(path) != generation:
                return False
            os.unlink(path)
            return True

    def delete(fs: Any, inner: str, bucket: str, key: str) -> bool:
        try:
            fs.call("DELETE", "b/{}/o/{}", bucket, key, ifGenerationMatch=generation)
        except (FileExistsError, FileNotFoundError):
            return False
        fs.invalidate_cache(inner)
        return True

    return _gcs_call(path, "delete", delete)
