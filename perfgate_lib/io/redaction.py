"""Secret-shaped strings: finding them and redacting them (pure, no I/O). Redacted JSON
text (verdict.json, notebooks) stays valid JSON. What is redacted: ``docs/security.md``.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perfgate_lib.mdtext import md_escape

MIN_ENV_VALUE = 8
MIN_LINE_FORM = 16  # a line of a multi-line secret value redacted on its own
SECRET_ENV_NAME = re.compile(
    r"TOKEN|KEY|SECRET|PASS|CREDENTIAL|AUTH|COOKIE|SESSION|WEBHOOK|DSN|PRIVATE", re.IGNORECASE
)
_ESC = r"(?:\\{1,2})?"  # an optional markdown backslash, itself JSON-escaped or not

_CREDENTIAL = r"[A-Za-z0-9._~+/\-]"
_KEY_LINE = r"-----{} (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_HEADER = r"(?i)authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|token|basic)\s+"

# (kind, pattern, group to redact: 0 whole match, else the credential group)
PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = tuple(
    (kind, re.compile(pattern), group)
    for kind, pattern, group in (
        ("github-token", rf"(?<![A-Za-z0-9])gh[pousr]{_ESC}_[A-Za-z0-9]{{30,}}", 0),
        (
            "github-token",
            rf"(?<![A-Za-z0-9])github{_ESC}_pat{_ESC}_(?:[A-Za-z0-9]|{_ESC}_){{30,}}",
            0,
        ),
        ("private-key", _KEY_LINE.format("BEGIN") + rf"(?:[^\"<>]*?{_KEY_LINE.format('END')})?", 0),
        ("authorization-header", rf"{_HEADER}({_CREDENTIAL}{{8,}}=*)", 1),
        (
            "authorization-header",
            rf"(?i)(?<![A-Za-z])bearer\s+((?={_CREDENTIAL}*\d){_CREDENTIAL}{{20,}}=*)",
            1,
        ),
    )
)


def marker(kind: str) -> str:
    """What replaces a secret: ``[REDACTED github-token]``, ``[REDACTED env:GITHUB_TOKEN]``."""
    return f"[REDACTED {kind}]"


def secret_env_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{name: value}`` of environment variables whose name looks like a secret's."""
    env = os.environ if environ is None else environ
    items = ((name, value.strip()) for name, value in env.items())
    return {n: v for n, v in items if SECRET_ENV_NAME.search(n) and len(v) >= MIN_ENV_VALUE}


def value_forms(value: str) -> set[str]:
    """The value raw; JSON-, HTML- and markdown-escaped; base64- (:func:`base64_forms`),
    URL- and hex-encoded; and, for a multi-line value, each of its longer lines."""
    raw, as_json = value.encode("utf-8"), json.dumps(value)[1:-1]
    forms = {value, as_json, html.escape(value), html.escape(as_json), md_escape(value)}
    if "\n" in value:
        forms |= {ln.strip() for ln in value.splitlines() if len(ln.strip()) >= MIN_LINE_FORM}
    quoted = {urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    quoted |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), q) for q in quoted}
    return forms | quoted | base64_forms(value) | {raw.hex(), raw.hex().upper()}


_URLSAFE = str.maketrans("+/", "-_")


def base64_forms(value: str) -> set[str]:
    """The value base64-encoded: standard and urlsafe, padded or not, with the newline
    ``echo`` adds, and the part of its encoding that does not depend on what precedes it
    in a longer base64 text (at each of the three byte offsets)."""
    raw = value.encode("utf-8")
    forms: set[str] = set()
    for offset, skip in ((0, 0), (1, 2), (2, 3)):
        shifted = b"\0" * offset + raw
        whole = len(shifted) // 3 * 3
        inner = base64.b64encode(shifted[:whole]).decode()[skip:]
        if len(inner) >= MIN_ENV_VALUE:
            forms |= {inner, inner.translate(_URLSAFE)}
    for data in (raw, raw + b"\n"):  # `echo "$X" | base64` encodes the newline too
        full = base64.b64encode(data).decode()
        for form in (full, full.translate(_URLSAFE)):
            forms |= {form, form.rstrip("=")}
    return forms


_CHUNK = 16  # base64 tools wrap lines at 64 or 76 columns: one break per 48 characters


@dataclass(frozen=True)
class _Secret:
    """One secret env value and the forms it may take in a text."""

    name: str
    forms: tuple[str, ...]  # longest first
    wrapped: tuple[str, ...]  # base64 forms that may be split by line breaks
    number: re.Pattern[str] | None  # a numeric value: never a piece of a longer number

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the value occurs in ``text``, overlapping spans merged."""
        found = [] if self.number is None else [m.span() for m in self.number.finditer(text)]
        for form in self.forms:
            start = text.find(form)
            while start != -1:
                found.append((start, start + len(form)))
                start = text.find(form, start + 1)
        if "\n" in text:
            for form in self.wrapped:
                found += _wrapped_spans(text, form)
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


def _wrapped_spans(text: str, form: str) -> list[tuple[int, int]]:
    """Spans of ``form`` in ``text`` with line breaks anywhere inside it. At least one of
    its first three 16-character chunks is unbroken: found by ``str.find``, then the rest
    is matched outwards, skipping line breaks."""
    spans = []
    for k in range(0, 3 * _CHUNK, _CHUNK):
        chunk = form[k : k + _CHUNK]
        if len(chunk) < _CHUNK:
            break
        pos = text.find(chunk)
        while pos != -1:
            left = _read_to(text, pos, form[:k][::-1], -1)
            right = _read_to(text, pos, form[k:], 1)
            if left is not None and right is not None:
                spans.append((left, right))
            pos = text.find(chunk, pos + 1)
    return spans


def _read_to(text: str, at: int, wanted: str, step: int) -> int | None:
    """Where ``wanted`` ends, read from ``at`` forwards (``step`` 1) or backwards (-1),
    line breaks skipped; None when another character is in the way or the text ends."""
    done, behind = 0, min(step, 0)  # backwards, the character read is the one before ``at``
    while done < len(wanted) and 0 <= at + behind < len(text):
        ch = text[at + behind]
        if ch == wanted[done]:
            done += 1
        elif ch not in "\r\n":
            return None
        at += step
    return at if done == len(wanted) else None


@functools.lru_cache(maxsize=16)
def _env_secrets(values: tuple[tuple[str, str], ...]) -> tuple[_Secret, ...]:
    out = []
    for name, value in values:
        forms = sorted(value_forms(value), key=len, reverse=True)
        wrapped = tuple(f for f in base64_forms(value) if len(f) > _CHUNK)
        number = None
        if value.isdigit():  # digits only: matched where no digit touches them
            number = re.compile(rf"(?<![0-9]){re.escape(value)}(?![0-9])")
            forms = [f for f in forms if f != value]
        out.append(_Secret(name, tuple(forms), wrapped, number))
    return tuple(out)


def env_secrets(environ: Mapping[str, str] | None = None) -> tuple[_Secret, ...]:
    """Every secret env value, the longest first (a value inside another is not cut)."""
    values = secret_env_values(environ)
    ordered = sorted(values.items(), key=lambda item: len(item[1]), reverse=True)
    return _env_secrets(tuple(ordered))


def env_hits(text: str, environ: Mapping[str, str] | None = None) -> list[tuple[int, str]]:
    """``(position, "env:NAME")`` for every form of every secret env value in ``text``."""
    return [
        (start, f"env:{secret.name}")
        for secret in env_secrets(environ)
        for start, _end in secret.spans(text)
    ]


def pattern_hits(text: str) -> list[tuple[int, str]]:
    """``(position, kind)`` for every pattern match in ``text``."""
    return [(m.start(), kind) for kind, pattern, _ in PATTERNS for m in pattern.finditer(text)]


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret-shaped string replaced by its :func:`marker`: env values
    first, the longest value and form first (so no form is cut in half); of a header only
    the credential (``Authorization: Bearer [REDACTED ...]``)."""
    for secret in env_secrets(environ):
        mark, parts, last = marker(f"env:{secret.name}"), [], 0
        for start, end in secret.spans(text):
            parts += [text[last:start], mark]
            last = end
        text = "".join(parts) + text[last:]
    for kind, pattern, group in PATTERNS:
        text = pattern.sub(functools.partial(_mask, group=group, mark=marker(kind)), text)
    return text


def _mask(match: re.Match[str], group: int, mark: str) -> str:
    """A ``re.sub`` replacement: the match up to ``group``, then ``mark`` (group 0: all)."""
    return match.string[match.start() : match.start(group)] + mark


def redact_json(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A decoded JSON value with every string (keys too) passed through :func:`redact`."""
    env = dict(os.environ if environ is None else environ)
    if isinstance(value, str):
        return redact(value, env)
    if isinstance(value, dict):
        return {redact(str(k), env): redact_json(v, env) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v, env) for v in value]
    return value
