"""Reading untyped data (JSON, YAML) into typed models with pydantic, one error per problem.

:func:`read_model` validates ``data`` as a dataclass (stdlib or pydantic) and turns the
first problem into the caller's error, with the field's path named the way the data
spells it: ``intervals.fuzzy_dups.call``, ``local_checks[1].run``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pydantic

FORBID_EXTRA = pydantic.ConfigDict(extra="forbid")
"""A model's config when a key it does not name is an error (a typo must not pass)."""
Number = Annotated[float, pydantic.Strict()]
"""A JSON number (an int is taken as a float; a bool or a string is refused)."""
Whole = Annotated[int, pydantic.Strict()]
"""A JSON whole number (a float, a bool or a string is refused)."""
Text = Annotated[str, pydantic.Strict()]
"""A JSON string (a number is refused, not turned into text)."""
NonEmptyText = Annotated[Text, pydantic.StringConstraints(strip_whitespace=True, min_length=1)]
"""A required string, stripped, not empty."""
PositiveNumber = Annotated[Number, pydantic.Field(gt=0)]
"""A positive number (an int is taken as a float; a bool or a string is refused)."""
PositiveWhole = Annotated[Whole, pydantic.Field(gt=0)]
"""A positive whole number (a float, a bool or a string is refused)."""


def one_of(*choices: str) -> Any:
    """A field's check that its value is one of ``choices``:
    ``Annotated[str, one_of("iris", "replay")]``."""

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return pydantic.AfterValidator(check)


UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("intervals", "fuzzy_dups", "call")`` -> ``intervals.fuzzy_dups.call``;
    list positions as ``[1]``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def read_model[T](model: type[T], data: Any, fail: Callable[[str | None, str], Exception], /) -> T:
    """``data`` as ``model``; the first problem raises ``fail(field, problem)`` (``field``
    None for the whole value). The problem is pydantic's own words and the value given:
    ``input should be 'pass', 'warn', 'fail' or 'undecided', got 'PASS'``."""
    try:
        return pydantic.TypeAdapter(model).validate_python(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        said = first["msg"]
        if first["type"] == "missing":
            problem = "missing"
        elif first["type"] in UNKNOWN_KEY:
            problem = "unknown key"
        else:
            problem = f"{said[0].lower()}{said[1:]}, got {first.get('input')!r}"
        raise fail(field_path(first["loc"]) or None, problem) from exc
