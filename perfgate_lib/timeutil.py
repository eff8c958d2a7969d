"""Timestamps: the one parser for every form the outside world uses, always UTC-aware."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

_COMPACT = "%Y%m%dT%H%M%SZ"  # mirror folders and run folders: 20260506T071523Z
_MAX_DIGITS = 30  # an epoch number longer than this is past the calendar (and int() refuses 4300+)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime | None, *, ms: bool = False) -> str | None:
    """``2026-05-06T07:15:23Z`` (``.123Z`` with ``ms``), or None."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC)
    if ms:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> dt.datetime | None:
    """A UTC datetime from ISO-8601 (naive means UTC), ``YYYYMMDDTHHMMSSZ``, epoch ms or
    seconds, or iris's ``{"epoch_ms": ...}``; None when empty or unparsable."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        key = next((k for k in ("epoch_ms", "epochMs") if k in value), None)
        try:
            return None if key is None else parse_time(int(value[key]))
        except (TypeError, ValueError, OverflowError):
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            return None
        try:
            seconds = value / 1000 if value > 1e11 else value  # ms since epoch vs seconds
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):  # past a float or the calendar, or NaN
            return None
    text = str(value).strip()
    if text.isascii() and text.isdigit():  # not ``²`` nor other scripts' digits
        return parse_time(int(text)) if len(text) <= _MAX_DIGITS else None
    with contextlib.suppress(ValueError):
        return dt.datetime.strptime(text, _COMPACT).replace(tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):  # not a time, or its UTC is past the calendar
        return None
