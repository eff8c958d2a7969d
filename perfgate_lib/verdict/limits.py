"""Size bounds on a perf report, checked right after its JSON is read and before any
model is built (a 100,000-stage report or a 1 MB stage name stops here, at once).

The bounds are in ``parameters/limits.yaml`` (:mod:`perfgate_lib.io.limits`).
"""

from __future__ import annotations

from typing import Any

from perfgate_lib.errors import ReportError
from perfgate_lib.io.limits import LIMITS_FILE, Limits, load_limits


class ReportTooLarge(ReportError):
    """A report past a bound of limits.yaml (exit 4); names the file, field and limit."""

    def __init__(self, source: str, field: str | None, what: str, limit: str, bound: int) -> None:
        self.limit = limit
        super().__init__(
            source, field, f"{what} is over the limit {limit}={bound} (parameters/{LIMITS_FILE})"
        )


def check_report_bounds(
    obj: Any, source: str, size: int | None = None, limits: Limits | None = None
) -> Any:
    """``obj`` (a decoded report) unchanged when it is within bounds, else ReportTooLarge.

    Bounded: the file's size (``size``: characters of its text, = bytes for ASCII JSON), the number of entries of every map and list at the
    top level (stages), and the length of every stage name (characters)."""
    lim = limits or load_limits()
    if size is not None and size > lim.report_max_bytes:
        raise ReportTooLarge(
            source, None, f"{size} bytes", "report_max_bytes", lim.report_max_bytes
        )
    if not isinstance(obj, dict):
        return obj
    if len(obj) > lim.report_max_stages:
        raise ReportTooLarge(
            source, None, f"{len(obj)} top-level fields", "report_max_stages", lim.report_max_stages
        )
    for name, value in obj.items():
        if not isinstance(value, dict | list):
            continue
        field = str(name)[:80]
        if len(value) > lim.report_max_stages:
            raise ReportTooLarge(
                source, field, f"{len(value)} entries", "report_max_stages", lim.report_max_stages
            )
        if name == "warnings":
            continue
        names = value.keys() if isinstance(value, dict) else value
        for stage in names:
            if isinstance(stage, str) and len(stage) > lim.stage_name_max_chars:
                raise ReportTooLarge(
                    source,
                    field,
                    f"a name of {len(stage)} characters",
                    "stage_name_max_chars",
                    lim.stage_name_max_chars,
                )
    return obj
