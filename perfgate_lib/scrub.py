"""Secret scrubber: find token-like strings in a run folder before it is archived.

Kinds caught (``Finding.kind``):

* ``github-token``: ``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_`` + 30 or more
  letters/digits, and fine-grained ``github_pat_`` + 30 or more ``[A-Za-z0-9_]``.
* ``authorization-header``: ``Authorization: Bearer|token|Basic <credential>`` (also
  as a quoted dict entry), and a bare ``Bearer <credential>`` of 20+ characters with a digit.
* ``private-key``: a PEM ``-----BEGIN ... PRIVATE KEY-----`` block (RSA, EC, OPENSSH,
  ENCRYPTED, PGP ...).
* ``env:<NAME>``: the value of an environment variable whose name contains TOKEN, KEY,
  SECRET, PASSWORD or PASSWD, when the value has at least 8 characters and is not a
  number, a boolean or a file path. Raw, JSON-escaped and HTML-escaped forms are matched.

Findings name the file, the line and the kind, never the secret itself.
:func:`redact` replaces the same matches in a text, for loggers and notebook output.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perfgate_lib.bulkread import fetch_many, list_files
from perfgate_lib.errors import SecretFound

MIN_ENV_VALUE = 8
SECRET_ENV_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
_HARMLESS_VALUE = re.compile(r"^(?:[-+]?\d+(?:\.\d+)?|true|false|yes|no|none|null|anon)$", re.I)

# (kind, pattern, group to redact: 0 whole match, else the credential group)
_PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("github-token", re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,}"), 0),
    ("github-token", re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{30,}"), 0),
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
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
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Finding:
    """A secret-looking string: where (file, 1-based line) and what kind. No value."""

    file: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}"


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


def _env_forms(value: str) -> set[str]:
    """The value as it appears raw, JSON-escaped and HTML-escaped."""
    return {
        value,
        json.dumps(value)[1:-1],
        html.escape(value),
        html.escape(json.dumps(value)[1:-1]),
    }


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def find_in_text(
    text: str, source: str = "<text>", environ: Mapping[str, str] | None = None
) -> list[Finding]:
    """Every secret-looking match in ``text``, by position."""
    hits: list[tuple[int, str]] = []
    for kind, pattern, _ in _PATTERNS:
        hits += [(m.start(), kind) for m in pattern.finditer(text)]
    for name, value in secret_env_values(environ).items():
        for form in _env_forms(value):
            start = text.find(form)
            while start != -1:
                hits.append((start, f"env:{name}"))
                start = text.find(form, start + 1)
    found = {Finding(source, _line_of(text, pos), kind) for pos, kind in hits}
    return sorted(found, key=lambda f: (f.line, f.kind))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret-looking match replaced by ``[REDACTED]``.

    For headers only the credential goes (``Authorization: Bearer [REDACTED]``).
    """
    for value in sorted(secret_env_values(environ).values(), key=len, reverse=True):
        for form in _env_forms(value):
            text = text.replace(form, REDACTED)
    for _, pattern, group in _PATTERNS:
        if group == 0:
            text = pattern.sub(REDACTED, text)
        else:
            text = pattern.sub(
                lambda m, g=group: m.group(0)[: m.start(g) - m.start(0)] + REDACTED, text
            )
    return text


def find_secrets(
    run_dir: str, environ: Mapping[str, str] | None = None, *, skip: Iterable[str] = ()
) -> list[Finding]:
    """Findings in every file under ``run_dir`` (local path or fsspec URL).

    Files are read as bytes and decoded as Latin-1, so binary files (PNG) are scanned
    too without errors; ``skip`` lists file paths to leave out.
    """
    env = dict(os.environ if environ is None else environ)
    skipped = set(skip)
    paths = [p for p in list_files(run_dir) if p not in skipped]
    findings: list[Finding] = []
    for path, data in fetch_many(paths).items():
        if isinstance(data, BaseException):
            raise data
        findings += find_in_text(data.decode("latin-1"), path, env)
    return sorted(findings, key=lambda f: (f.file, f.line, f.kind))


def scan(run_dir: str, environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`SecretFound` naming each file, line and kind (never the secret)."""
    findings = find_secrets(run_dir, environ)
    if findings:
        shown = "; ".join(str(f) for f in findings[:10])
        more = f" (and {len(findings) - 10} more)" if len(findings) > 10 else ""
        error = SecretFound(
            f"secret-looking strings in run folder {run_dir}: {shown}{more}; "
            "archiving refused, remove them and archive again"
        )
        error.findings = findings  # type: ignore[attr-defined]
        raise error
