"""Checks on comment markdown: HTML outside code must be the kit's own few tags."""

from __future__ import annotations

import re

ALLOWED_TAGS = ("<details>", "</details>", "<summary>", "</summary>", "<br>")
ALLOWED_COMMENTS = (
    "<!-- zephyr-perf-gate -->",
    "<!-- perfgate-state:",
    "<!-- perfgate-verdict -->",
    "<!-- /perfgate-verdict -->",
)
_FENCE = re.compile(r"^(`{3,})[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def outside_code(markdown: str) -> str:
    """``markdown`` without fenced blocks and inline code spans (their text is literal)."""
    return _SPAN.sub(" ", _FENCE.sub(" ", markdown))


def unescaped_html(markdown: str) -> list[str]:
    """Raw HTML outside code that the kit did not write itself (should be empty)."""
    text = outside_code(markdown)
    found = []
    for match in re.finditer(r"<[A-Za-z/!?]", text):
        rest = text[match.start() :]
        if not rest.startswith(ALLOWED_TAGS + ALLOWED_COMMENTS):
            found.append(rest[:40])
    return found
