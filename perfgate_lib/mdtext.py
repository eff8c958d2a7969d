"""Markdown text helpers: escaping untrusted strings (the rule: ``docs/security.md``) and
formatting figures.
"""

from __future__ import annotations

import math
import re
import unicodedata

_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;", "@": "&#64;"}
_MD_ESCAPES = str.maketrans(
    {**_ENTITY, **{ch: "\\" + ch for ch in "\\*_[]~"}, "\r": " ", "\n": " ", "\t": " "}
)
_NOT_PLAIN = ("Cc", "Cf", "Zl", "Zp")  # controls, format characters, line separators
WORD_JOINER = "\u2060"  # invisible: between ``<`` and ``!``, echoed text cannot open ``<!--``


def no_html_comment(text: str) -> str:
    """``text`` with every ``<!`` broken by a word joiner: it cannot open an HTML comment
    (nor ``<!DOCTYPE``, CDATA) in a raw comment body, and renders the same."""
    return text.replace("<!", "<" + WORD_JOINER + "!")


def md_escape(text: object) -> str:
    """Untrusted text for inline markdown (tables included) on one line: pipes, backticks,
    HTML, markdown punctuation and ``@mentions`` neutralised."""
    return str(text).translate(_MD_ESCAPES)


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def md_code(text: object) -> str:
    """Inline code span that cannot be broken out of (one line, no ``<!``, table-safe)."""
    value = no_html_comment(re.sub(r"[\r\n]", " ", str(text))).replace("|", "\u2758")
    ticks = "`" * (_longest_backticks(value) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def md_fence(text: str, lang: str = "") -> str:
    """Fenced code block whose fence is longer than any backtick run inside (no ``<!``)."""
    text = no_html_comment(text)
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def fmt_duration(seconds: float | None) -> str:
    """``12s``, ``0.4s``, ``14m 05s``, ``1h 02m 03s``; a dash for None."""
    if seconds is None:
        return "—"
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.1f}s"
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def fmt_age(hours: float | None) -> str:
    """Baseline age: ``40m``, ``5h 12m``, ``3d 4h``; ``unknown`` for None."""
    if hours is None:
        return "unknown"
    scaled = hours * 60  # past about 3e306 hours, infinite: whole hours are exact there
    minutes = int(round(scaled)) if math.isfinite(scaled) else int(hours) * 60
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        hours_part, mins = divmod(minutes, 60)
        return f"{hours_part}h" if mins == 0 else f"{hours_part}h {mins:02d}m"
    days, rem = divmod(minutes // 60, 24)
    return f"{days}d {rem}h"


def fmt_pct(delta_pct: float | None) -> str:
    """Signed percent with one decimal: ``+2.8%``; a dash for None."""
    if delta_pct is None:
        return "—"
    text = f"{delta_pct:+.1f}%"
    return "+0.0%" if text == "-0.0%" else text


def fmt_number(value: float | None) -> str:
    """A count or MB figure: integers without decimals; a dash for None."""
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def fmt_counts(counts: dict[str, int]) -> str:
    """``succeeded=81, killed=27`` (escaped); ``(none)`` when empty or all zero."""
    items = [f"{md_escape(k)}={v}" for k, v in counts.items() if v]
    return ", ".join(items) if items else "(none)"


def plain(text: object) -> str:
    """One line of plain text: control and format characters (newlines, bidi overrides,
    line separators, escape sequences) replaced, in a comment or on a terminal."""
    out = []
    for ch in str(text):
        cat = unicodedata.category(ch)
        out.append(" " if ch in "\r\n\t" else "\ufffd" if cat in _NOT_PLAIN else ch)
    return "".join(out)


def md_rich(text: object) -> str:
    """Escape ``text`` for markdown, rendering its `backticked` parts as code spans."""
    parts = re.split(r"`([^`\n]*)`", plain(text))
    return "".join(md_code(p) if i % 2 else md_escape(p) for i, p in enumerate(parts))
