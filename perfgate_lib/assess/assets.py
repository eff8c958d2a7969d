"""What a non-Python file in the Zephyr package is (``docs/assessment.md``, "Non-Python files")."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

STATIC_SUFFIXES = frozenset(
    {".html", ".htm", ".js", ".mjs", ".cjs", ".css", ".map", ".svg", ".png", ".jpg", ".jpeg"}
    | {".gif", ".ico", ".webp", ".woff", ".woff2", ".ttf", ".eot"}
)
# JSON/text beside the pages (a manifest, a bundled data file) is static only there.
STATIC_DIRS = ("static", "dashboard", "assets", "templates", "web", "www", "ui")
DATA_SUFFIXES = frozenset({".json", ".txt", ".csv"})


@dataclass(frozen=True)
class AssetKind:
    """``kind`` is ``static``, ``protocol`` or ``unknown``; ``what`` describes it."""

    kind: str
    what: str


def asset_kind(path: str) -> AssetKind:
    """The kind of one non-Python file under ``lib/zephyr/src/zephyr/``."""
    name = posixpath.basename(path).lower()
    suffix = posixpath.splitext(name)[1]
    folders = path.lower().split("/")[:-1]
    in_static_dir = any(part in STATIC_DIRS for part in folders)
    if suffix in STATIC_SUFFIXES:
        return AssetKind("static", f"a static {suffix[1:]} asset of the dashboard (browser side)")
    if suffix in DATA_SUFFIXES and in_static_dir:
        return AssetKind("static", f"a {suffix[1:]} file among the dashboard's static assets")
    if suffix == ".proto":
        return AssetKind("protocol", "an RPC schema (.proto): the actor/RPC protocol")
    return AssetKind("unknown", f"a {suffix or 'extension-less'} file")
