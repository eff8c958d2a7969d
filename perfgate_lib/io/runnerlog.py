"""Output a GitHub Actions runner cannot read as workflow commands (pure, no I/O).

The runner reads every line a step prints: a line starting with ``::`` after leading
blanks (``::add-mask::``, ``::stop-commands::``, ``::error ...::``) or holding ``##[``
anywhere (the legacy ``##[set-output name=...]``) is a command. The kit prints none; a
string from a report or a PR (a stage name with a newline, say) must not start one.
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"  # not blank to the runner's TrimStart, invisible in the log
_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # where the runner or Python ends a line
_LINE_HEAD = re.compile(rf"([{_BREAKS}][^\S{_BREAKS}]*):")
_LEGACY = "##["
_TAIL_MAX = 1000


class RunnerSafe:
    """Feed it the text written to one stream, write by write: each piece comes back with
    a word joiner before the ``:`` that opens a line and inside each ``##[``. It remembers
    the end of the last piece, so a command split over two writes is caught too."""

    def __init__(self) -> None:
        self._tail = "\n"  # the stream starts at a line start

    def __call__(self, text: str) -> str:
        combined = self._tail + text
        safe = combined.replace(_LEGACY, "##" + WORD_JOINER + "[")
        safe = _LINE_HEAD.sub(lambda m: m.group(1) + WORD_JOINER + ":", safe)
        out = safe[len(self._tail) :]  # insertions all fall in the new text
        last = max(safe.rfind(c) for c in _BREAKS)
        line = safe[last:] if last >= 0 else ""
        blank = line and not line[1:].strip() and len(line) < _TAIL_MAX
        self._tail = line if blank else safe[-2:]
        return out
