"""Bounds on the work one hostile input can cause (``parameters/limits.yaml``, with the
rule in ``docs/security.md``); past one, :class:`LimitExceeded` (exit 4) names it.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic.dataclasses import dataclass

from perfgate_lib.errors import PerfgateError
from perfgate_lib.io.paramfile import PARAMETERS_DIR, load_yaml, read_settings
from perfgate_lib.typed import PositiveWhole

LIMITS_FILE = "limits.yaml"


@dataclass(frozen=True)
class Limits:
    """The bounds (bytes, counts, characters, lines: see limits.yaml), each required."""

    report_max_bytes: PositiveWhole
    report_max_stages: PositiveWhole
    stage_name_max_chars: PositiveWhole
    diff_max_files: PositiveWhole
    parse_max_bytes: PositiveWhole
    parse_max_depth: PositiveWhole
    artifact_max_bytes: PositiveWhole
    artifact_member_max_bytes: PositiveWhole
    local_check_tail_lines: PositiveWhole
    local_check_tail_bytes: PositiveWhole
    source: str = ""


class LimitExceeded(PerfgateError):
    """An input is past one of the bounds in limits.yaml (exit 4)."""

    def __init__(self, limit: str, seen: Any, bound: Any, where: str, what: str = "") -> None:
        self.limit, self.seen, self.bound, self.where = limit, seen, bound, where
        detail = f"{what} " if what else ""
        super().__init__(
            f"{where}: {detail}{seen} is over the limit {limit}={bound} "
            f"(parameters/{LIMITS_FILE}); nothing more was done with it"
        )


def parse_limits(doc: Any, source: str) -> Limits:
    """``limits.yaml``'s mapping as :class:`Limits`."""
    return read_settings(Limits, doc, source, source=source)


@functools.cache
def _load(path: str) -> Limits:
    return parse_limits(load_yaml(path), path)


def load_limits(path: str | None = None) -> Limits:
    """The limits in ``path`` (default: ``limits.yaml`` of the parameters folder)."""
    return _load(str(path or PARAMETERS_DIR / LIMITS_FILE))


def check(limit: str, seen: int, where: str, what: str = "", limits: Limits | None = None) -> None:
    """Raise :class:`LimitExceeded` when ``seen`` is over the bound named ``limit``."""
    bound = getattr(limits or load_limits(), limit)
    if seen > bound:
        raise LimitExceeded(limit, seen, bound, where, what)
