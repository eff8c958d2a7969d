"""Parameter files (``parameters/*.yaml``) and JSON inputs: reading them, checking fields.

A parameter file's error is a :class:`~perfgate_lib.errors.ConfigError` naming the file
and field; a JSON input (:func:`read_json_object`) raises the caller's error, which names
the file or argument.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from perfgate_lib import PROJECT_ROOT, bundled
from perfgate_lib.errors import ConfigError, UsageError
from perfgate_lib.io import storage

PARAMETERS_DIR = Path(os.environ.get("PERFGATE_PARAMETERS") or bundled("parameters"))
"""The parameter files: the bundled ``parameters/``, or the operator's own folder named by
``$PERFGATE_PARAMETERS`` (never a folder of the checkout under test, which a PR controls)."""
EXAMPLES_DIR = bundled("parameters") / "examples"
"""The bundled example data (reports, the assessment's offline example)."""


def kit_path(path: str) -> str:
    """A notebook's or command's relative default, found wherever the kit is installed.

    ``path`` as given when it exists (or is empty, a URL or absolute). Else, with a leading
    ``../`` or ``./`` dropped: ``parameters/...`` inside the bundled parameters (a wheel or
    a clone), then the same path under the kit's checkout. Else ``path`` unchanged, so the
    caller's error names what the user gave.
    """
    if not path or storage.is_url(path) or os.path.isabs(path) or os.path.exists(path):
        return path
    stripped = path.removeprefix("../").removeprefix("./")
    candidates = [PROJECT_ROOT / path, PROJECT_ROOT / stripped]
    if stripped.startswith("parameters/"):
        candidates.insert(0, bundled("parameters") / stripped.removeprefix("parameters/"))
    return next((str(c) for c in candidates if c.exists()), path)


def load_yaml(source: str) -> Any:
    """The decoded YAML document at a path or fsspec URL."""
    try:
        text = storage.read_text(source)
    except FileNotFoundError as exc:
        raise ConfigError(source, None, "file not found") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, f"not valid YAML: {exc}") from exc


def mapping(doc: Any, source: str) -> dict[str, Any]:
    """``doc`` when it is a mapping at the top level."""
    if not isinstance(doc, dict):
        raise ConfigError(source, None, "expected a mapping at the top level")
    return doc


def strings(doc: dict[str, Any], names: tuple[str, ...], source: str) -> dict[str, str]:
    """Required non-empty strings, stripped."""
    values = {}
    for name in names:
        value = doc.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(source, name, f"expected a non-empty string, got {value!r}")
        values[name] = value.strip()
    return values


def positive_numbers(
    doc: dict[str, Any], names: tuple[str, ...], source: str, *, whole: bool = False
) -> dict[str, Any]:
    """Required positive numbers (floats, or ints with ``whole``)."""
    values: dict[str, Any] = {}
    for name in names:
        value = doc.get(name)
        kinds = int if whole else int | float
        if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
            what = "a positive whole number" if whole else "a positive number"
            raise ConfigError(source, name, f"expected {what}, got {value!r}")
        values[name] = value if whole else float(value)
    return values


def json_object(text: str, error: Callable[[str], Exception]) -> dict[str, Any]:
    """The JSON object in ``text``; ``error(problem)`` is raised when it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise error("expected a JSON object")
    return data


def read_json_object(path: str, error: Callable[[str], Exception]) -> dict[str, Any]:
    """The JSON object in the file at a path or fsspec URL; ``error(problem)`` is raised
    when it is missing (``file not found``) or holds no JSON object."""
    try:
        text = storage.read_text(path)
    except FileNotFoundError as exc:
        raise error("file not found") from exc
    return json_object(text, error)


def parse_json_arg(value: str | dict | None, what: str) -> dict[str, Any]:
    """A JSON object given inline, as a path/URL to a JSON file, or empty."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    text = value.strip()
    if text.startswith("{"):
        return json_object(text, lambda problem: UsageError(f"{what}: {problem}"))
    return read_json_object(text, lambda problem: UsageError(f"{what} {text}: {problem}"))
