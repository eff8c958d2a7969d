"""Retrying storage calls: only transient answers, bounded by ``gate_common.yaml``.

The bound is ``storage_retry_*`` in ``parameters/gate_common.yaml`` (attempts, first and
longest wait in seconds). Anything else fails on the first attempt: a
:class:`~perfgate_lib.errors.StorageError`, or ``FileNotFoundError`` for a missing
object. Local paths keep their own exceptions.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import yaml
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from perfgate_lib import bundled
from perfgate_lib.errors import StorageError
from perfgate_lib.io.storage_errors import (
    CREDENTIALS,
    NETWORK,
    NOT_FOUND,
    TRANSIENT,
    classify,
    describe,
)

GATE_COMMON = bundled("parameters") / "gate_common.yaml"


@dataclass(frozen=True)
class RetryPolicy:
    """How transient storage answers are retried. Times in seconds."""

    attempts: int = 4
    first_wait_s: float = 0.5
    max_wait_s: float = 4.0
    credentials_check_s: float = 2.0

    def wait(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return min(self.first_wait_s * 2 ** (retry - 1), self.max_wait_s)


@functools.lru_cache(maxsize=1)
def retry_policy() -> RetryPolicy:
    """The bundled ``gate_common.yaml``'s ``storage_retry_*`` keys (defaults when absent).

    Read with plain file I/O: storage itself must not be needed to configure storage.
    """
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
    if isinstance(exc, StorageError):
        return exc
    kind = classify(exc)
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
    """``op()``, retried on transient answers only (tenacity, waits from ``policy``);
    other failures, and a transient one on the last attempt, are translated at once."""
    if "://" not in url or url.startswith("file://"):
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
