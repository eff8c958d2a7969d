"""Published ``marin-zephyr`` releases as a real git history, for assessment tests.

``tests/fixtures/zephyr_releases/`` holds the ``zephyr`` package of release 0.2.5 (a
tarball of the wheel's ``zephyr/`` folder) and, for every later release whose package
differs from the one before, the ``git diff`` that turns one into the next (made from
the wheels that ``pip download --no-deps marin-zephyr==<version>`` fetches). Applying
them in version order rebuilds each release byte for byte.

:func:`release_repo` commits each release under ``lib/zephyr/src/zephyr/`` of one git
repository and tags it with its version, so a test assesses ``<release>...<release>``
with :class:`~perfgate_lib.assess.diffsource.LocalGitDiffSource`, and can also check out a
release and mix in files of another one (a partial PR built from real code).

For gate 0, :func:`release_checkout` builds a marin-shaped repository from one published
wheel (:data:`GATE0_RELEASES`: the oldest supported and the newest published):
``lib/zephyr/src/zephyr`` from the wheel, ``lib/zephyr/pyproject.toml`` from its
``METADATA`` (its own ``Requires-Python`` and ``Requires-Dist``), with the rest of the
dependency closure pinned by ``fixtures/zephyr_releases/<version>.pins`` (what a
``uv.lock`` would fix), so each side's uv environment is the release's own and the same
on every run. Wheels are downloaded once with pip into :func:`wheel_cache_dir`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tests.marin_layout import ZSRC, MarinRepo

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "zephyr_releases"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def release_versions() -> list[str]:
    """Every stored release, oldest first."""
    names = [p.name.removesuffix(".tar.xz") for p in FIXTURES.glob("*.tar.xz")]
    names += [p.stem for p in FIXTURES.glob("*.diff")]
    return sorted(names, key=_version_key)


def short(version: str) -> str:
    """``0.2.12.dev202606100934`` -> ``0.2.12``."""
    return version.split(".dev", 1)[0]


def full_version(version: str) -> str:
    """The stored release named by its full or short version."""
    for v in release_versions():
        if version in (v, short(v)):
            return v
    raise KeyError(f"no stored marin-zephyr release {version}")


def release_repo(root: Path) -> MarinRepo:
    """A git repository at ``root`` with one commit per release, tagged ``<short version>``
    (``0.2.12``); the working tree is left at the newest release on branch ``main``."""
    versions = release_versions()
    root.mkdir(parents=True, exist_ok=True)
    repo = MarinRepo(root)
    repo.git("init", "-q")
    pkg = root / ZSRC
    pkg.mkdir(parents=True)
    with tarfile.open(FIXTURES / f"{versions[0]}.tar.xz") as tar:
        tar.extractall(pkg, filter="data")
    repo.commit(f"marin-zephyr {versions[0]}")
    repo.git("tag", short(versions[0]))
    for version in versions[1:]:
        subprocess.run(
            ["git", "apply", "--directory", ZSRC, str(FIXTURES / f"{version}.diff")],
            cwd=root,
            check=True,
            capture_output=True,
        )
        repo.commit(f"marin-zephyr {version}")
        repo.git("tag", short(version))
    return repo


def consecutive_pairs() -> list[tuple[str, str]]:
    """(base, head) short versions of every stored release and the one before it."""
    versions = [short(v) for v in release_versions()]
    return list(zip(versions, versions[1:], strict=False))


# ---------------------------------------------------------------------------
# Published wheels, for gate 0 on more than one marin-zephyr
# ---------------------------------------------------------------------------

OLDEST_SUPPORTED = "0.2.20.dev202606180959"
NEWEST_PUBLISHED = "0.2.227.dev40316220070"
GATE0_RELEASES = (OLDEST_SUPPORTED, NEWEST_PUBLISHED)


def wheel_cache_dir() -> Path:
    """``PERFGATE_WHEEL_CACHE``, else ``~/.cache/perfgate/wheels``."""
    from perfgate_lib.local.sideenv import kit_cache_dir

    return kit_cache_dir("wheels", "PERFGATE_WHEEL_CACHE")


def release_wheel(version: str) -> Path:
    """The ``marin-zephyr==version`` wheel, downloaded once (pip, no dependencies)."""
    cache = wheel_cache_dir()
    pattern = f"marin_zephyr-{version}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            + ["--only-binary", ":all:", "-d", str(cache), f"marin-zephyr=={version}"],
            check=True,
            capture_output=True,
        )
        found = sorted(cache.glob(pattern))
    if not found:
        raise FileNotFoundError(f"pip downloaded no {pattern} into {cache}")
    return found[0]


def release_pins(version: str) -> tuple[str, ...]:
    """``name==version`` of the release's resolved dependency closure (fixture file)."""
    path = FIXTURES / f"{version}.pins"
    lines = path.read_text().splitlines() if path.is_file() else []
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def unpack_release(version: str, dest: Path) -> tuple[Path, str]:
    """``(folder holding zephyr/, METADATA text)`` of the release's wheel, under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(release_wheel(version)) as wheel:
        names = wheel.namelist()
        wheel.extractall(dest, [n for n in names if n.startswith("zephyr/")])
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = wheel.read(meta).decode()
    return dest, metadata


def release_checkout(version: str, root: Path, change):
    """A marin-shaped repository built from the release's wheel, with ``change`` (a
    :class:`perfgate_lib.local.sandbox.Change`) on its own branch (a Sandbox)."""
    from perfgate_lib.local.sandbox import build_sandbox, release_pyproject

    src, metadata = unpack_release(version, root.parent / f"{root.name}-wheel")
    pyproject = release_pyproject(metadata, release_pins(version))
    return build_sandbox(root, change, zephyr_dir=src / "zephyr", pyproject=pyproject)
