"""What went wrong with a storage call: credentials, network, not found, or transient.

:func:`classify` looks at an exception and the exceptions it was raised from (fsspec's
HTTP filesystem reports an unreachable host as ``FileNotFoundError``; the cause says
DNS). Which kinds are retried: ``docs/running-a-gate.md`` (Storage errors).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

CREDENTIALS = "credentials"
NETWORK = "network"
NOT_FOUND = "not found"
TRANSIENT = "transient"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


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

    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return CREDENTIALS
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return TRANSIENT
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return NETWORK
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return NETWORK
    status = _status(exc)
    if status in (401, 403):
        return CREDENTIALS
    if status in TRANSIENT_STATUS:
        return TRANSIENT
    if status == 404:
        return NOT_FOUND
    if isinstance(exc, aiohttp.ClientConnectionError):
        return NETWORK
    return None


def classify(exc: BaseException) -> str | None:
    """``credentials`` / ``network`` / ``transient`` / ``not found``, or None (unknown).

    The deepest known cause wins: a ``FileNotFoundError`` raised from a DNS failure is
    ``network``.
    """
    kinds = [k for k in (_kind_of(e) for e in _chain(exc)) if k]
    if kinds:
        return kinds[-1]
    if isinstance(exc, FileNotFoundError):
        return NOT_FOUND
    return None


def describe(exc: BaseException) -> str:
    """The message of the deepest cause that :func:`classify` understood (else the deepest
    cause), on one line: what the user needs to see."""
    chain = list(_chain(exc))
    known = [e for e in chain if _kind_of(e)]
    last = (known or chain)[-1]
    text = " ".join(str(last).split()) or type(last).__name__
    return text[:300]
