"""Parameter files (``parameters/*.yaml``) and JSON inputs: reading them, checking fields.

A parameters file is read into a pydantic dataclass (:func:`read_settings`): the types
and bounds are declared on its fields (:mod:`perfgate_lib.typed`'s ``NonEmptyText``,
``PositiveNumber``, ``PositiveWhole``), and the first problem becomes a
:class:`~perfgate_lib.errors.ConfigError` naming the file and the field. A JSON input
(:func:`read_json_object`) raises the caller's error, which names the file or argument.
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
"""The parameter files: the bundled ``parameters/``, or the operator's own folder named by
``$PERFGATE_PARAMETERS`` (never a folder of the checkout under test, which a PR controls)."""
EXAMPLES_DIR = bundled("parameters") / "examples"
"""The bundled example data (reports, the assessment's offline example)."""


def kit_path(path: str) -> str:
    """A notebook's or command's relative default, found wherever the kit is installed:
    ``path`` when it exists (or is empty, a URL or absolute); else, without a leading
    ``../`` or ``./``, ``parameters/...`` in the bundled parameters, then the path under the
    kit's checkout; else ``path`` unchanged, so the caller's error names what was given."""
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


def read_settings[T](model: type[T], doc: Any, source: str, /, **given: Any) -> T:
    """A parameters file's mapping ``doc`` as ``model`` (a pydantic dataclass), with the
    fields in ``given`` added. Keys the model does not name are left to other readers.
    The first problem is a :class:`ConfigError` naming the file and the field, e.g.
    ``local_checks[1].run``."""
    data = {**mapping(doc, source), **given}
    return read_model(model, data, lambda field, problem: ConfigError(source, field, problem))


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
