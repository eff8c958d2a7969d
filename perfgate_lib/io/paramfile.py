"""Parameter files (``parameters/*.yaml``, read into typed settings, docs/configuration.md)
and JSON inputs; every problem names the file (or argument) and the field.
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
from perfgate_lib.typed import read_model

PARAMETERS_DIR = Path(os.environ.get("PERFGATE_PARAMETERS") or bundled("parameters"))
"""The bundled ``parameters/`` or ``$PERFGATE_PARAMETERS`` (never the checkout's: a PR's)."""
EXAMPLES_DIR = bundled("parameters") / "examples"
"""The bundled example data (reports, the assessment's offline example)."""


def kit_path(path: str) -> str:
    """A relative default found wherever the kit is installed: ``path`` when it exists (or
    is empty, a URL or absolute); else, without a leading ``../`` or ``./``, in the bundled
    parameters, then under the kit's checkout; else ``path`` unchanged."""
    if not path or storage.is_url(path) or os.path.isabs(path) or os.path.exists(path):
        return path
    stripped = path.removeprefix("../").removeprefix("./")
    candidates = [PROJECT_ROOT / path, PROJECT_ROOT / stripped]
    if stripped.startswith("parameters/"):
        candidates.insert(0, bundled("parameters") / stripped.removeprefix("parameters/"))
    return next((str(c) for c in candidates if c.exists()), path)


def read_file_text(path: str, error: Callable[[str], Exception]) -> str:
    """The UTF-8 text of the file at a path or URL, else ``error(problem)``: not found, a
    folder, unreadable or not UTF-8."""
    try:
        return storage.read_text(path)
    except FileNotFoundError as exc:
        raise error("file not found") from exc
    except IsADirectoryError as exc:
        raise error("a folder, not a file") from exc
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise error(f"cannot read ({exc.strerror or exc})") from exc


def load_yaml(source: str) -> Any:
    """The decoded YAML document at a path or fsspec URL."""
    text = read_file_text(source, lambda problem: ConfigError(source, None, problem))
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, f"not valid YAML: {exc}") from exc
    except RecursionError as exc:  # PyYAML composes nested collections recursively
        raise ConfigError(source, None, "YAML nested too deeply") from exc


def mapping(doc: Any, source: str) -> dict[str, Any]:
    """``doc`` when it is a mapping at the top level."""
    if not isinstance(doc, dict):
        raise ConfigError(source, None, "expected a mapping at the top level")
    return doc


def read_settings[T](model: type[T], doc: Any, source: str, /, **given: Any) -> T:
    """A parameters file's mapping ``doc``, plus ``given``, as ``model`` (a pydantic
    dataclass); the first problem is a :class:`ConfigError` naming the file and field."""
    data = {**mapping(doc, source), **given}
    return read_model(model, data, lambda field, problem: ConfigError(source, field, problem))


def json_object(text: str, error: Callable[[str], Exception]) -> dict[str, Any]:
    """The JSON object in ``text``; ``error(problem)`` is raised when it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    except RecursionError as exc:
        raise error("JSON nested too deeply") from exc
    if not isinstance(data, dict):
        raise error("expected a JSON object")
    return data


def read_json_object(path: str, error: Callable[[str], Exception]) -> dict[str, Any]:
    """The JSON object in the file at a path or URL, else ``error(problem)``."""
    return json_object(read_file_text(path, error), error)


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
