"""The one place that calls papermill (:func:`run_notebook`): parameter names are checked
(papermill only warns on a misspelling; secret-looking ones are refused), and every save
of the executed notebook, also of a failed one, goes through :mod:`storage` (redacted).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from perfgate_lib import bundled
from perfgate_lib.errors import PerfgateError, UsageError
from perfgate_lib.io import rundir, storage

NOTEBOOKS_DIR = bundled("notebooks")
KERNEL = "python3"
_SECRET_NAME = re.compile(r"token|secret|password|passwd|api_?key|credential", re.I)
REDACTING_SCHEME = "perfgate-redacted::"  # papermill output paths through RedactingWriter


class RedactingWriter:
    """A papermill I/O handler: ``perfgate-redacted::<path or URL>`` is read and written
    with :mod:`storage`, so saved notebooks are redacted."""

    @staticmethod
    def write(buf: str, path: str) -> None:
        storage.write_text(path[len(REDACTING_SCHEME) :], buf.replace(REDACTING_SCHEME, ""))

    @staticmethod
    def read(path: str) -> str:
        return storage.read_text(path[len(REDACTING_SCHEME) :])

    @staticmethod
    def pretty_path(path: str) -> str:
        return path[len(REDACTING_SCHEME) :]

    @staticmethod
    def listdir(path: str) -> list[str]:
        return storage.listdir(path[len(REDACTING_SCHEME) :])


class NotebookFailed(PerfgateError):
    """A cell raised; the executed notebook (with the traceback) is in the output folder."""

    def __init__(self, notebook: str, output: str, detail: str) -> None:
        self.notebook = notebook
        self.output = output
        super().__init__(f"notebook {notebook} failed: {detail} (executed copy: {output})")


def notebook_path(name: str) -> pathlib.Path:
    """The bundled notebook ``name`` (``compare`` or ``compare.ipynb``)."""
    file = name if name.endswith(".ipynb") else f"{name}.ipynb"
    path = NOTEBOOKS_DIR / file
    if not path.is_file():
        raise UsageError(f"no notebook {file} in {NOTEBOOKS_DIR}")
    return path


def notebook_parameters(name: str) -> dict[str, Any]:
    """The parameters cell of a bundled notebook: name -> papermill's description."""
    import papermill

    return papermill.inspect_notebook(str(notebook_path(name)))


def check_parameters(name: str, parameters: Mapping[str, Any]) -> None:
    """Unknown or secret-looking parameter names raise UsageError naming them."""
    known = notebook_parameters(name)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise UsageError(
            f"notebook {name}: unknown parameter(s) {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(known))}"
        )
    secret = sorted(p for p in parameters if _SECRET_NAME.search(p))
    if secret:
        raise UsageError(
            f"notebook {name}: parameter(s) {', '.join(secret)} look like secrets; "
            "secrets come from the environment, never from notebook parameters"
        )


@contextlib.contextmanager
def _kernel_env() -> Iterator[type]:
    """Kernel set-up: no MPLBACKEND (it would remove inline charts), and a kernel manager
    on local IPC sockets in a private temp folder (no TCP ports) that skips the SIGINT
    jupyter_client sends before a shutdown (why: ``docs/development.md``, Patched internals).
    """
    from jupyter_client.manager import AsyncKernelManager

    saved = os.environ.pop("MPLBACKEND", None)
    with tempfile.TemporaryDirectory(prefix="perfgate-kernel-") as sockets:

        class IpcKernelManager(AsyncKernelManager):
            def __init__(self, **kwargs: Any) -> None:
                kwargs.setdefault("transport", "ipc")
                kwargs.setdefault("ip", os.path.join(sockets, "kernel"))
                super().__init__(**kwargs)

            async def _async_interrupt_kernel(self) -> None:
                if self.shutting_down:
                    return  # shutdown_kernel's interrupt: see _kernel_env
                await super()._async_interrupt_kernel()

            interrupt_kernel = _async_interrupt_kernel

        try:
            yield IpcKernelManager
        finally:
            if saved is not None:
                os.environ["MPLBACKEND"] = saved


def run_notebook(
    name: str,
    out_dir: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    output_name: str | None = None,
) -> str:
    """Execute bundled notebook ``name`` into ``out_dir``; returns the executed copy's path."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from papermill.iorw import papermill_io

    parameters = dict(parameters or {})
    source = notebook_path(name)
    check_parameters(name, parameters)
    storage.makedirs(out_dir)
    rundir.note_run_dir(out_dir)  # a crash's traceback goes here
    output = storage.join(out_dir, output_name or source.name)
    target = rundir.absolute(output)  # papermill changes the working folder while it runs
    if not any(scheme == REDACTING_SCHEME for scheme, _ in papermill_io._handlers):
        papermill_io.register(REDACTING_SCHEME, RedactingWriter)
    try:
        with _kernel_env() as manager:
            papermill.execute_notebook(
                str(source),
                REDACTING_SCHEME + target,
                parameters=parameters,
                kernel_name=KERNEL,
                cwd=str(NOTEBOOKS_DIR),
                progress_bar=False,
                log_output=False,
                report_mode=False,
                kernel_manager_class=manager,
            )
    except PapermillExecutionError as exc:
        raise NotebookFailed(source.name, output, f"{exc.ename}: {exc.evalue}") from exc
    return output
