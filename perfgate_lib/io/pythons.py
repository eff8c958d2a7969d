"""Installed Python interpreters: the one a ``requires-python`` specifier asks for, on
``PATH`` or under pyenv (the search and the choice: ``docs/zephyr-releases.md``).
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
    """The specifier set of a ``requires-python`` value ("" or None: any version)."""
    try:
        return SpecifierSet(requires or "")
    except InvalidSpecifier as exc:
        raise ValueError(f"requires-python {requires!r} is not a version specifier") from exc


def candidate_paths(
    path_env: str | None = None, pyenv_root: str | None = None
) -> list[tuple[str, str]]:
    """``(path, source)`` of every interpreter file to try, PATH first, without duplicates."""
    path_value = os.environ.get("PATH", "") if path_env is None else path_env
    names = [f"python3.{minor}" for minor in reversed(_MINORS)] + ["python3"]
    folders = filter(None, path_value.split(os.pathsep))
    tries = [(Path(folder) / name, "PATH") for folder in folders for name in names]
    root = pyenv_root or os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    if (Path(root) / "versions").is_dir():
        installs = sorted((Path(root) / "versions").iterdir(), key=_name_key, reverse=True)
        tries += [(install / "bin" / "python3", "pyenv") for install in installs]
    found: dict[str, tuple[str, str]] = {}  # by real path: /bin/python3 is /usr/bin/python3
    for path, source in tries:
        if path.is_file() and os.access(path, os.X_OK):
            found.setdefault(os.path.realpath(path), (str(path), source))
    return list(found.values())


def _name_key(path: Path) -> tuple[int, ...]:
    """Sort key of a versioned name ("3.13.0" after "3.9.18")."""
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


def _could_satisfy(path: str, spec: SpecifierSet) -> bool:
    """False when the name alone (``python3.11``) says its line cannot satisfy ``spec``."""
    match = re.search(r"python(3\.\d+)$|/versions/(3\.\d+)(?:\.\d+)?[^/]*/bin/python3$", path)
    return not match or _line_can_satisfy(match.group(1) or match.group(2), spec)


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
    """Every working interpreter, in search order; names that cannot satisfy ``requires``
    are not run."""
    spec = parse_requires(requires)
    found: list[Interpreter] = []
    for path, source in candidate_paths(path_env, pyenv_root):
        version = interpreter_version(path) if _could_satisfy(path, spec) else None
        if version:
            found.append(Interpreter(path, version, source))
    return found


def choose(interpreters: list[Interpreter], requires: str | None) -> Interpreter | None:
    """The interpreter satisfying ``requires`` of the oldest release line (the one a project
    is most surely tested on), newest patch within it; ties go to the first found."""
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
    """An installed interpreter satisfying ``requires``, else None."""
    return choose(installed_pythons(path_env, pyenv_root, requires), requires)


def suggested_minor(requires: str | None) -> str | None:
    """The oldest ``3.N`` release line that satisfies ``requires`` ("3.12"), if any."""
    spec = parse_requires(requires)
    return next((f"3.{n}" for n in _MINORS if _line_can_satisfy(f"3.{n}", spec)), None)


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
