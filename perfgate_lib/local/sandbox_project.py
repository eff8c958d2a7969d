"""The demo sandbox's ``lib/zephyr/pyproject.toml``: a minimal uv project for Zephyr.

The installed release's own dependencies pinned to the kit's versions, or
(:func:`release_pyproject`) any release's as published in its wheel's ``METADATA``. Why
the pins, and how uv resolves them: ``docs/gate0.md`` (The demo).
"""

from __future__ import annotations

import importlib.metadata as md
from email.parser import Parser

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ZEPHYR_DIST = "marin-zephyr"


def _applies(req: Requirement, extras: frozenset[str]) -> bool:
    """Whether ``req`` applies on this machine for a dist installed with ``extras``."""
    if req.marker is None:
        return True
    env = {key: str(value) for key, value in default_environment().items()}  # all str
    return any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""}))


def dependency_closure(root: str = ZEPHYR_DIST) -> dict[str, str]:
    """``{canonical name: installed version}`` of every dist ``root`` needs here."""
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        for text in md.requires(name) or []:
            req = Requirement(text)
            key = (canonicalize_name(req.name), frozenset(req.extras))
            if not _applies(req, extras) or key in seen:
                continue
            seen.add(key)
            found[key[0]] = md.version(key[0])
            todo.append(key)
    return dict(sorted(found.items()))


def _pinned(req: Requirement, version: str) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return f"{canonicalize_name(req.name)}{extras}=={version}{marker}"


def _project_toml(
    version: str, requires_python: str, deps: list[str], pins: list[str], origin: str
) -> str:
    lines = "".join(f'  "{d}",\n' for d in deps)
    text = (
        "[project]\n"
        'name = "marin-zephyr"\n'
        f'version = "{version}"\n'
        'description = "Lightweight dataset library for distributed data processing"\n'
        f'requires-python = "{requires_python}"\n'
        f"# {origin}\n"
        f"dependencies = [\n{lines}]\n"
    )
    if pins:
        pinned = "".join(f'  "{p}",\n' for p in pins)
        text += (
            "\n[tool.uv]\n"
            "# Their dependencies, pinned the same way (what a uv.lock would fix).\n"
            f"constraint-dependencies = [\n{pinned}]\n"
        )
    return text


def zephyr_pyproject(version: str) -> str:
    """The sandbox's ``lib/zephyr/pyproject.toml`` text (see the module docstring)."""
    closure = dependency_closure()
    direct = [Requirement(text) for text in md.requires(ZEPHYR_DIST) or []]
    direct = [req for req in direct if _applies(req, frozenset())]
    names = {canonicalize_name(req.name) for req in direct}
    deps = [_pinned(req, closure[canonicalize_name(req.name)]) for req in direct]
    pins = [f"{n}=={v}" for n, v in closure.items() if n not in names]
    requires = md.metadata(ZEPHYR_DIST).get("Requires-Python") or ">=3.11"
    origin = "The release's own dependencies, pinned to the versions the perfgate kit holds."
    return _project_toml(version, str(requires), deps, pins, origin)


def release_pyproject(metadata_text: str, pins: tuple[str, ...] = ()) -> str:
    """``lib/zephyr/pyproject.toml`` from a marin-zephyr wheel's ``METADATA`` text.

    Keeps ``Requires-Python`` and every ``Requires-Dist`` that applies without extras,
    as published (uv resolves them); ``pins`` (``name==version``) become
    ``[tool.uv] constraint-dependencies``, as a lockfile would fix them. Raises ValueError
    naming a missing field.
    """
    meta = Parser().parsestr(metadata_text)
    for field in ("Name", "Version"):
        if not meta.get(field):
            raise ValueError(f"wheel METADATA has no {field} field")
    if canonicalize_name(meta["Name"]) != ZEPHYR_DIST:
        raise ValueError(f"wheel METADATA names {meta['Name']!r}, not {ZEPHYR_DIST}")
    direct = [Requirement(text) for text in meta.get_all("Requires-Dist") or []]
    deps = [str(req) for req in direct if req.marker is None or _applies(req, frozenset())]
    requires = meta.get("Requires-Python") or ">=3.11"
    origin = f"marin-zephyr {meta['Version']}'s own Requires-Dist, as published."
    return _project_toml(str(meta["Version"]), str(requires), deps, list(pins), origin)
