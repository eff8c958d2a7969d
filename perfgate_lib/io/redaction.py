"""Secret-shaped strings: the patterns, finding them and redacting them (pure, no I/O).

Kinds (``kind`` of a finding, and the word in the redaction marker):

* ``github-token``: ``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_`` + 30 or more
  letters/digits, and fine-grained ``github_pat_`` + 30 or more ``[A-Za-z0-9_]``; also in
  their markdown-escaped spelling (``ghp\\_...``), as they appear once rendered.
* ``authorization-header``: ``Authorization: Bearer|token|Basic <credential>`` (also
  as a quoted dict entry), and a bare ``Bearer <credential>`` of 20+ characters with a digit.
* ``private-key``: a PEM ``-----BEGIN ... PRIVATE KEY-----`` block (RSA, EC, OPENSSH,
  ENCRYPTED, PGP ...).
* ``env:<NAME>``: the value of an environment variable whose name contains TOKEN, KEY,
  SECRET, PASSWORD or PASSWD, when the value has at least 8 characters and is not a
  number, a boolean or a file path. Raw, JSON-, HTML- and markdown-escaped forms match.

:func:`redact` replaces each match with ``[REDACTED <kind>]`` (for headers only the
credential goes). Patterns never cross a JSON string's quotes, so redacting serialised
JSON (verdict.json, notebooks) keeps it valid JSON.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from perfgate_lib.mdtext import md_escape

MIN_ENV_VALUE = 8
SECRET_ENV_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
_HARMLESS_VALUE = re.compile(r"^(?:[-+]?\d+(?:\.\d+)?|true|false|yes|no|none|null|anon)$", re.I)
_ESC = r"(?:\\{1,2})?"  # an optional markdown backslash, itself JSON-escaped or not

# (kind, pattern, group to redact: 0 whole match, else the credential group)
PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("github-token", re.compile(rf"(?<![A-Za-z0-9])gh[pousr]{_ESC}_[A-Za-z0-9]{{30,}}"), 0),
    (
        "github-token",
        re.compile(rf"(?<![A-Za-z0-9])github{_ESC}_pat{_ESC}_(?:[A-Za-z0-9]|{_ESC}_){{30,}}"),
        0,
    ),
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[^\"<>]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
            re.DOTALL,
        ),
        0,
    ),
    (
        "authorization-header",
        re.compile(
            r"(?i)authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|token|basic)\s+"
            r"([A-Za-z0-9._~+/\-]{8,}=*)"
        ),
        1,
    ),
    (
        "authorization-header",
        re.compile(
            r"(?i)(?<![A-Za-z])bearer\s+((?=[A-Za-z0-9._~+/\-]*\d)[A-Za-z0-9._~+/\-]{20,}=*)"
        ),
        1,
    ),
)


def marker(kind: str) -> str:
    """What replaces a secret: ``[REDACTED github-token]``, ``[REDACTED env:GITHUB_TOKEN]``."""
    return f"[REDACTED {kind}]"


def secret_env_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{name: value}`` of environment variables that look like secrets (see module doc)."""
    env = os.environ if environ is None else environ
    out = {}
    for name, value in env.items():
        value = value.strip()
        if not SECRET_ENV_NAME.search(name) or len(value) < MIN_ENV_VALUE:
            continue
        if _HARMLESS_VALUE.match(value) or value.startswith(("/", "./", "~", "../")):
            continue
        out[name] = value
    return out


def env_forms(value: str) -> set[str]:
    """The value as it appears raw, JSON-, HTML- and markdown-escaped."""
    as_json = json.dumps(value)[1:-1]
    return {value, as_json, html.escape(value), html.escape(as_json), md_escape(value)}


def env_hits(text: str, environ: Mapping[str, str] | None = None) -> list[tuple[int, str]]:
    """``(position, "env:NAME")`` for every form of every secret env value in ``text``."""
    hits = []
    for name, value in secret_env_values(environ).items():
        for form in env_forms(value):
            start = text.find(form)
            while start != -1:
                hits.append((start, f"env:{name}"))
                start = text.find(form, start + 1)
    return hits


def pattern_hits(text: str) -> list[tuple[int, str]]:
    """``(position, kind)`` for every pattern match in ``text``."""
    return [(m.start(), kind) for kind, pattern, _ in PATTERNS for m in pattern.finditer(text)]


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret-shaped string replaced by its :func:`marker`.

    Env values go first, longest form first (so an escaped form is never cut in half);
    for headers only the credential goes (``Authorization: Bearer [REDACTED ...]``).
    """
    forms = [
        (form, name)
        for name, value in secret_env_values(environ).items()
        for form in env_forms(value)
    ]
    for form, name in sorted(forms, key=lambda f: len(f[0]), reverse=True):
        text = text.replace(form, marker(f"env:{name}"))
    for kind, pattern, group in PATTERNS:
        mark = marker(kind)
        if group == 0:
            text = pattern.sub(mark, text)
        else:
            text = pattern.sub(
                lambda m, g=group, k=mark: m.group(0)[: m.start(g) - m.start(0)] + k, text
            )
    return text


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
