"""The kit's PR comments as jinja2 templates, ``perfgate_lib/templates/<kind>.md.j2``
(partials start with ``_``); every value is escaped unless :class:`Trusted`
(``docs/security.md``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from perfgate_lib import SENTINEL
from perfgate_lib.mdtext import md_code, md_escape, md_fence, md_rich, plain

TEMPLATES = Path(__file__).resolve().parent / "templates"


class Trusted(str):
    """Markdown the kit built (any untrusted part already escaped): printed as it is."""

    __slots__ = ()


def escape(value: object) -> str:
    """Every template's ``finalize``: :class:`Trusted` as is, anything else escaped."""
    return value if isinstance(value, Trusted) else md_escape(value)


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment: strict about undefined names, blocks trimmed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        finalize=escape,
        autoescape=False,  # markdown, not HTML: ``escape`` above does the escaping
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = lambda value: Trusted(md_code(value))
    env.filters["fence"] = lambda value, lang="": Trusted(md_fence(str(value), lang))
    env.filters["rich"] = lambda value: Trusted(md_rich(value))
    env.filters["plain"] = plain
    env.globals["sentinel"] = Trusted(SENTINEL)
    return env


def render(kind: str, /, **context: Any) -> str:
    """The comment ``kind`` (``templates/<kind>.md.j2``) rendered with ``context``."""
    return environment().get_template(f"{kind}.md.j2").render(**context)
