"""Reading untyped data (JSON, YAML) into typed models with pydantic: strict JSON field
types, and one error per problem naming the field's path as the data spells it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pydantic

FORBID_EXTRA = pydantic.ConfigDict(extra="forbid")  # a key the model does not name: an error
# Strict: a bool or a string is never a number, a number never text; an int is a float.
Number = Annotated[float, pydantic.Strict()]
Whole = Annotated[int, pydantic.Strict()]
Text = Annotated[str, pydantic.Strict()]
NonEmptyText = Annotated[Text, pydantic.StringConstraints(strip_whitespace=True, min_length=1)]
PositiveNumber = Annotated[Number, pydantic.Field(gt=0)]
PositiveWhole = Annotated[Whole, pydantic.Field(gt=0)]


def one_of(*choices: str) -> Any:
    """A field's check that its value is one of ``choices``: ``one_of("iris", "replay")``."""

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return pydantic.AfterValidator(check)


UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("checks", 1, "run")`` -> ``checks[1].run``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def read_model[T](model: type[T], data: Any, fail: Callable[[str | None, str], Exception], /) -> T:
    """``data`` as ``model``; the first problem raises ``fail(field or None, problem)``,
    the problem in pydantic's words with the value given (``input should be ..., got 'X'``)."""
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
