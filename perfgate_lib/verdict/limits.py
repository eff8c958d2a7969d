"""Size bounds on a perf report (``parameters/limits.yaml``), checked right after its JSON
is read and before any model is built."""

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
    """``obj`` (a decoded report) unchanged within bounds, else ReportTooLarge: the size
    (characters of its text), every top-level map's and list's entries, every stage name."""
    lim = limits or load_limits()

    def check(field: str | None, value: int, what: str, limit: str) -> None:
        if value > getattr(lim, limit):
            raise ReportTooLarge(source, field, what, limit, getattr(lim, limit))

    if size is not None:
        check(None, size, f"{size} bytes", "report_max_bytes")
    if not isinstance(obj, dict):
        return obj
    check(None, len(obj), f"{len(obj)} top-level fields", "report_max_stages")
    for name, value in obj.items():
        if not isinstance(value, dict | list):
            continue
        field = str(name)[:80]
        check(field, len(value), f"{len(value)} entries", "report_max_stages")
        if name == "warnings":
            continue
        for stage in value:  # an object's keys, a list's items
            if isinstance(stage, str):
                what = f"a name of {len(stage)} characters"
                check(field, len(stage), what, "stage_name_max_chars")
    return obj
