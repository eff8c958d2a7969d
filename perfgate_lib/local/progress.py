"""Gate 0's progress: written as it happens to ``progress.log``, shown on the terminal.

Gate 0 runs inside a notebook kernel, so its messages never reach the command's terminal
on their own. :class:`ProgressLog` appends each one (``<elapsed seconds>\t<text>``) to
``<out_dir>/progress.log`` and passes it on; :func:`follow` shows the newest on a terminal
only.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console

LOG_NAME = "progress.log"
POLL_S = 0.5


class ProgressLog:
    """A progress callback that appends each message to ``path`` with the seconds since
    it was made, then calls ``also`` (e.g. ``print`` in a notebook) with the message."""

    def __init__(self, path: str | Path, also: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self.also = also
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        line = " ".join(str(message).split())  # one line per message
        with self.path.open("a") as log:
            log.write(f"{time.monotonic() - self.started:.1f}\t{line}\n")
        if self.also is not None:
            self.also(message)


def last_message(path: str | Path) -> str:
    """The newest message in a progress log ("" when there is none yet)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return ""
    return next((line.split("\t", 1)[-1] for line in reversed(lines) if line.strip()), "")


@contextlib.contextmanager
def follow(
    path: str | Path, what: str, *, console: Console | None = None
) -> Iterator[Callable[[], str]]:
    """While the block runs, show ``what`` with the newest message of the progress log at
    ``path`` and the elapsed time (rich spinner), refreshed every half second; on exit,
    one last line with the final message. Nothing is shown when ``console`` (default: the
    standard output) is not a terminal. Yields a function returning the newest message."""
    console = console or Console()
    newest = lambda: last_message(path)  # noqa: E731 - the yielded reader
    if not console.is_terminal:
        yield newest
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(what)
        done = threading.Event()

        def refresh() -> None:
            while not done.wait(POLL_S):
                bar.update(task, description=_line(what, newest()))

        thread = threading.Thread(target=refresh, name="perfgate-progress", daemon=True)
        thread.start()
        try:
            yield newest
        finally:
            done.set()
            thread.join()
            bar.update(task, description=_line(what, newest()))


def _line(what: str, message: str) -> str:
    from rich.markup import escape

    return escape(f"{what}: {message}" if message else what)
