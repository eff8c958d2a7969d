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
"""

from __future__ import annotations

import re
import subprocess
import tarfile
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
