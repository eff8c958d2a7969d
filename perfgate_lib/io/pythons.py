"""Installed Python interpreters: find one that satisfies a ``requires-python`` specifier.

Looks on ``PATH``, then under pyenv; each candidate runs once to report its version. Of
those that satisfy the specifier, the oldest release line wins and within it the newest
patch, so both sides of gate 0 get the same one for the same specifier. The search
order: ``docs/zephyr-releases.md``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_MINORS = range(8, 21)  # python3.8 ... python3.20
_VERSION_CODE = "import platform; print(platform.python_version())"


@dataclass(frozen=True)
class Interpreter:
    """One working interpreter: its path (as found, not resolved) and version."""

    path: str
    version: str  # "3.12.1"
    source: str  # "PATH" or "pyenv"


def parse_requires(requires: str | None) -> SpecifierSet:
    """The specifier set of a ``requires-python`` value ("" or None: any version).

    Raises ValueError naming the bad value.
    """
    try:
        return SpecifierSet(requires or "")
    except InvalidSpecifier as exc:
        raise ValueError(f"requires-python {requires!r} is not a version specifier") from exc


def candidate_paths(
    path_env: str | None = None, pyenv_root: str | None = None
) -> list[tuple[str, str]]:
    """``(path, source)`` of every interpreter file to try, PATH first, without duplicates.

    ``path_env`` defaults to ``$PATH``; ``pyenv_root`` to ``$PYENV_ROOT`` or ``~/.pyenv``.
    """
    found: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: Path, source: str) -> None:
        if not (path.is_file() and os.access(path, os.X_OK)):
            return
        key = os.path.realpath(path)  # /bin/python3 and /usr/bin/python3 are one file
        if key not in seen:
            seen.add(key)
            found.append((str(path), source))

    path_value = os.environ.get("PATH", "") if path_env is None else path_env
    names = [f"python3.{minor}" for minor in reversed(_MINORS)] + ["python3"]
    for folder in filter(None, path_value.split(os.pathsep)):
        for name in names:
            add(Path(folder) / name, "PATH")
    root = pyenv_root or os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    versions = Path(root) / "versions"
    if versions.is_dir():
        for install in sorted(versions.iterdir(), key=_name_key, reverse=True):
            add(install / "bin" / "python3", "pyenv")
    return found


def _name_key(path: Path) -> tuple[int, ...]:
    """Sort key of a versioned name ("3.13.0" after "3.9.18")."""
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


def _could_satisfy(path: str, spec: SpecifierSet) -> bool:
    """False when the name alone (``python3.11``, ``versions/3.11.7/bin/python3``) says
    the interpreter's line cannot satisfy ``spec``; True when the name does not tell."""
    match = re.search(r"python(3\.\d+)$", path) or re.search(
        r"/versions/(3\.\d+)(?:\.\d+)?[^/]*/bin/python3$", path
    )
    if not match:
        return True
    return _line_can_satisfy(match.group(1), spec)


def _line_can_satisfy(line: str, spec: SpecifierSet) -> bool:
    """Whether some release ``line.P`` (P in 0..99) satisfies ``spec``."""
    return any(spec.contains(Version(f"{line}.{patch}"), prereleases=True) for patch in range(100))


def interpreter_version(path: str, timeout_s: float = 20.0) -> str | None:
    """The version ``path`` reports ("3.12.1"), or None when it does not run."""
    try:
        done = subprocess.run(
            [path, "-I", "-c", _VERSION_CODE],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\S*", text) else None


def installed_pythons(
    path_env: str | None = None, pyenv_root: str | None = None, requires: str | None = None
) -> list[Interpreter]:
    """Every working interpreter among :func:`candidate_paths`, in search order; with
    ``requires``, names that cannot satisfy it (``python3.11`` for ">=3.12") are not run."""
    spec = parse_requires(requires)
    found: list[Interpreter] = []
    for path, source in candidate_paths(path_env, pyenv_root):
        if not _could_satisfy(path, spec):
            continue
        version = interpreter_version(path)
        if version:
            found.append(Interpreter(path, version, source))
    return found


def choose(interpreters: list[Interpreter], requires: str | None) -> Interpreter | None:
    """The interpreter satisfying ``requires`` of the oldest release line (3.12 before
    3.13: the line a project is most surely tested on), newest patch within it; ties go to
    the first found."""
    spec = parse_requires(requires)
    best: tuple[tuple[int, int], Version, Interpreter] | None = None
    for item in interpreters:
        try:
            version = Version(item.version)
        except InvalidVersion:
            continue
        if not spec.contains(version, prereleases=True):
            continue
        line = (version.major, version.minor)
        if best is None or line < best[0] or (line == best[0] and version > best[1]):
            best = (line, version, item)
    return best[2] if best else None


def find_python(
    requires: str | None, path_env: str | None = None, pyenv_root: str | None = None
) -> Interpreter | None:
    """An installed interpreter satisfying ``requires`` (see the module docstring)."""
    return choose(installed_pythons(path_env, pyenv_root, requires), requires)


def suggested_minor(requires: str | None) -> str | None:
    """The oldest ``3.N`` release line that satisfies ``requires`` ("3.12"), if any."""
    spec = parse_requires(requires)
    for minor in _MINORS:
        if _line_can_satisfy(f"3.{minor}", spec):
            return f"3.{minor}"
    return None


def install_hint(requires: str | None, where: str = "") -> str:
    """One line: no installed Python satisfies ``requires``, and what to install."""
    minor = suggested_minor(requires)
    of = f" of {where}" if where else ""
    looked = "looked on PATH for python3.N and python3, and under pyenv ($PYENV_ROOT or ~/.pyenv)"
    if minor is None:
        return f"no Python release satisfies requires-python {requires!r}{of} ({looked})"
    return (
        f"no installed Python satisfies requires-python {requires!r}{of} ({looked}): "
        f"install Python {minor}, e.g. `pyenv install {minor}` or `uv python install {minor}`, "
        f"or your system's python{minor} package"
    )
