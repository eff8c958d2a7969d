"""Secret scrubber: the archive's second line of defence after redaction
(:mod:`perfgate_lib.io.redaction`); findings name file, line and kind, never the secret."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perfgate_lib.errors import SecretFound
from perfgate_lib.io.bulkread import fetch_many, list_files
from perfgate_lib.io.redaction import env_hits, pattern_hits, redact, secret_env_values

__all__ = ["Finding", "find_in_text", "find_secrets", "redact", "scan", "secret_env_values"]


@dataclass(frozen=True)
class Finding:
    """A secret-looking string: where (file, 1-based line) and what kind. No value."""

    file: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}"


def find_in_text(
    text: str, source: str = "<text>", environ: Mapping[str, str] | None = None
) -> list[Finding]:
    """Every secret-looking match in ``text``, by position."""
    hits = pattern_hits(text) + env_hits(text, environ)
    found = {Finding(source, text.count("\n", 0, pos) + 1, kind) for pos, kind in hits}
    return sorted(found, key=lambda f: (f.line, f.kind))


def find_secrets(
    run_dir: str, environ: Mapping[str, str] | None = None, *, skip: Iterable[str] = ()
) -> list[Finding]:
    """Findings in every file under ``run_dir`` but ``skip`` (read as Latin-1, so binary
    files are scanned too)."""
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
