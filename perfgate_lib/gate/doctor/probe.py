"""The doctor's edge: each function gathers one input for :mod:`.checks`, every process
with a timeout, and never raises for a broken environment (a missing file is ``None``, a
process that does not finish is a :class:`~.checks.Help` with ``exit_code=None``)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perfgate_lib.gate.doctor.checks import Help
from perfgate_lib.gate.doctor.helptext import help_commands, help_options, source_options

HELP_TIMEOUT_S = 120.0  # one process asking for help (marin-iris 0.2.227 starts in ~4 s CPU)
IRIS_VERBS_WITH_OPTIONS = ("list", "logs", "run")  # verbs whose flags the kit needs
HELP_PATHS = ((), ("job",), *(("job", v) for v in IRIS_VERBS_WITH_OPTIONS))  # iris ... --help
# Environment variables a checkout's tools never get from the doctor (tokens, keys).
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|CREDENTIAL|_KEY$|^GITHUB_PAT$", re.I)


def read_text(path: Path) -> str | None:
    """A file's text, or None when it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def zephyr_requires_python(checkout: Path) -> str | None:
    """``project.requires-python`` of ``lib/zephyr/pyproject.toml`` (None when absent)."""
    try:
        toml = tomllib.loads(read_text(checkout / "lib" / "zephyr" / "pyproject.toml") or "")
    except tomllib.TOMLDecodeError:
        return None
    value = toml.get("project", {}).get("requires-python")
    return str(value) if value else None


def kit_python_version() -> str:
    """The version of the Python running the kit ("3.12.1")."""
    return ".".join(str(n) for n in sys.version_info[:3])


def module_sources(roots: list[Path], modules: set[str]) -> dict[str, str | None]:
    """``{module: its source}`` for dotted ``modules`` (``<root>/a/b.py`` or
    ``<root>/a/b/__init__.py``) under the first root that has it (None: under none)."""

    def source(rel: Path) -> str | None:
        paths = [
            p for root in roots for p in (root / rel.with_suffix(".py"), root / rel / "__init__.py")
        ]
        return next((text for p in paths if (text := read_text(p)) is not None), None)

    return {module: source(Path(*module.split("."))) for module in modules}


def checkout_python(checkout: Path) -> Path | None:
    """The checkout's own environment's interpreter (``.venv/bin/python``), if any."""
    path = checkout / ".venv" / "bin" / "python"
    return path if path.exists() else None


def which(command: str) -> str | None:
    """Where the program of a configured command (``"uv"``, ``"uv run iris"``) is, on PATH."""
    words = shlex.split(command or "")
    return shutil.which(words[0]) if words else None


def run_help(
    argv: Sequence[str], timeout_s: float = HELP_TIMEOUT_S, cwd: Path | None = None
) -> Help:
    """Run ``argv`` (ending in ``--help``) with a timeout and no secrets; never raises."""
    env = {k: v for k, v in os.environ.items() if not _SECRET_NAME.search(k)}
    env.update(COLUMNS="80", NO_COLOR="1")
    env.pop("PYTHONPATH", None)
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Help(tuple(argv), None, error=f"no answer within {timeout_s:g} s")
    except OSError as exc:
        return Help(tuple(argv), None, error=str(exc))
    return Help(tuple(argv), done.returncode, done.stdout, done.stderr)


def iris_command(checkout: Path, configured: str) -> list[str] | None:
    """The checkout's ``.venv/bin/iris``, else ``iris_command`` when its program is on PATH."""
    own = checkout / ".venv" / "bin" / "iris"
    if own.exists():
        return [str(own)]
    words = shlex.split(configured or "iris")
    return words if words and shutil.which(words[0]) else None


# Runs a console script's code once per argument list in ONE interpreter, as its own
# process would (same sys.argv, same click code path, same text), so a CLI whose imports
# take seconds starts once. Prints {"<args>": [exit code, stdout, stderr tail]}.
_WALKER = r"""
import contextlib, io, json, runpy, sys, traceback
script, paths = sys.argv[1], json.loads(sys.argv[2])
answers = {}
for path in paths:
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [script, *path, "--help"]
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    answers[" ".join(path)] = [code, out.getvalue(), err.getvalue()[-4000:]]
sys.__stdout__.write(json.dumps(answers))
"""


def console_script_python(path: str) -> str | None:
    """The interpreter of a pip/uv console script (``#!<python>`` ... ``sys.exit(main())``)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return None
    first = text.splitlines()[0] if text else ""
    if first.startswith("#!") and "python" in first and "sys.exit(main())" in text:
        python = first[2:].strip().split()[0]
        return python if Path(python).exists() else None
    return None


def _helps_in_one_process(
    python: str, script: str, paths: list[tuple[str, ...]], timeout_s: float
) -> dict[str, Help]:
    argv = [python, "-c", _WALKER, script, json.dumps([list(p) for p in paths])]
    done = run_help(argv, timeout_s)
    shown = {" ".join(p): ("iris", *p, "--help") for p in paths}
    try:
        answers = json.loads(done.stdout) if done.exit_code == 0 else None
    except json.JSONDecodeError:
        answers = None
    if not isinstance(answers, dict):
        return {k: Help(v, None, error=done.error or done.why_not()) for k, v in shown.items()}
    return {
        k: Help(shown[k], int(code), out, err)
        for k, (code, out, err) in answers.items()
        if k in shown
    }


def iris_helps(command: list[str], timeout_s: float = HELP_TIMEOUT_S) -> dict[str, Help]:
    """``--help`` of ``iris``, ``iris job`` and the verbs whose flags the kit uses, keyed
    ``""``, ``"job"``, ``"job list"``...; sub-commands only of a click help listing ``job``
    (a stand-in is never given arguments it would act on)."""
    exe = shutil.which(command[0]) or command[0]
    python = console_script_python(exe) if len(command) == 1 else None
    if python is not None:
        return _helps_in_one_process(python, exe, list(HELP_PATHS), timeout_s)

    def ask(path: tuple[str, ...]) -> tuple[str, Help]:
        got = run_help([*command, *path, "--help"], timeout_s)
        shown = ("iris", *path, "--help") if len(command) == 1 else got.argv
        return " ".join(path), Help(shown, got.exit_code, got.stdout, got.stderr, got.error)

    out = dict([ask(())])
    if "job" not in (help_commands(out[""].text) or ()):
        return out
    out.update([ask(("job",))])
    verbs = help_commands(out["job"].text) or frozenset()
    with ThreadPoolExecutor(max_workers=3) as pool:
        out.update(pool.map(ask, [("job", v) for v in IRIS_VERBS_WITH_OPTIONS if v in verbs]))
    return out


def admin_bands(iris: list[str] | None, checkout: Path) -> frozenset[str] | None:
    """Priority bands only admins may use, from the Iris source in ``lib/iris/src`` or beside
    the CLI; empty when that Iris has no such set (0.2.20), None when no source is found."""
    places: list[Path] = [checkout / "lib" / "iris" / "src" / "iris" / "rpc" / "proto_display.py"]
    if iris:
        env = Path(shutil.which(iris[0]) or iris[0]).parent.parent
        places += sorted(env.glob("lib/python3*/site-packages/iris/rpc/proto_display.py"))
    for place in places:
        text = read_text(place)
        if text is None:
            continue
        match = re.search(r"ADMIN_PRIORITY_BAND_VALUES\s*=\s*frozenset\(\((.*?)\)\)", text, re.S)
        if not match:
            return frozenset()
        return frozenset(n.lower() for n in re.findall(r"PRIORITY_BAND_([A-Z]+)", match.group(1)))
    return None


def script_options(
    script: Path, python: Path | None, cwd: Path
) -> tuple[frozenset[str] | None, str]:
    """``(long options, how they were read)`` of a marin script: its ``--help`` run with the
    checkout's Python, else (or when that fails) its source's declarations."""
    source = read_text(script)
    if source is None:
        return None, f"{script.name} is missing"
    if python is not None:
        options = help_options(run_help([str(python), str(script), "--help"], cwd=cwd).text)
        if options:
            return options, f"`{script.name} --help`"
    return source_options(source), f"{script.name}'s argparse/click declarations"


def helps_from_folder(folder: Path) -> dict[str, Help]:
    """Help texts recorded by :func:`save_helps`, keyed like :func:`iris_helps`: from
    ``helps.json`` (every outcome), else ``iris_job_list.txt``... (missing: exit 2)."""
    recorded = read_text(folder / "helps.json")
    if recorded is not None:
        return {
            key: Help(tuple(h["argv"]), h["exit_code"], h["stdout"], h["stderr"], h["error"])
            for key, h in json.loads(recorded).items()
        }
    out: dict[str, Help] = {}
    for path in HELP_PATHS:
        text = read_text(folder / _help_file(path))
        shown = ("iris", *path, "--help")
        out[" ".join(path)] = (
            Help(shown, 0, text) if text is not None else Help(shown, 2, "", "not recorded")
        )
    return out


def save_helps(helps: dict[str, Help], folder: Path) -> None:
    """Write each printed help text, and every call's outcome to ``helps.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, help_ in helps.items():
        if help_.text:
            (folder / _help_file(tuple(key.split()))).write_text(help_.text)
    outcomes = {key: dataclasses.asdict(h) for key, h in helps.items()}  # argv, exit_code, ...
    (folder / "helps.json").write_text(json.dumps(outcomes, indent=2) + "\n")


def _help_file(path: tuple[str, ...]) -> str:
    return "iris" + "".join(f"_{w}" for w in path) + ".txt"
