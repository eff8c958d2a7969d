"""The demo sandbox on more than one marin-zephyr (perfgate_lib.local.sandbox, issue 28).

0.2.20's package comes from the stored release history (``tests/fixtures/zephyr_releases``,
no network); 0.2.227's is the kit's installed one (pinned in pyproject.toml).
"""

from __future__ import annotations

import importlib.metadata as md
import tomllib
from pathlib import Path

import pytest

from perfgate_lib.errors import PerfgateError
from perfgate_lib.local.sandbox import (
    ROUTE_HASH_CHANGE,
    SCATTER_PICKLE_CHANGE,
    SUB_BATCH_CHANGE,
    ZSTD_LEVEL_CHANGE,
    build_sandbox,
    default_change,
    diff_text,
    installed_zephyr_dir,
    release_pyproject,
    zephyr_pyproject,
)
from tests.marin_layout import ZSRC
from tests.zephyr_releases import release_repo


@pytest.fixture(scope="module")
def zephyr_0_2_20(tmp_path_factory) -> Path:
    """The ``zephyr`` package of marin-zephyr 0.2.20, rebuilt from the stored history."""
    repo = release_repo(tmp_path_factory.mktemp("releases") / "repo")
    repo.git("checkout", "-q", "0.2.20")
    return repo.root / ZSRC


def test_the_demo_change_of_each_release_touches_its_scatter_path(tmp_path, zephyr_0_2_20):
    assert installed_zephyr_dir().joinpath("context.py").is_file()  # 0.2.42 on
    assert default_change(zephyr_0_2_20) is ZSTD_LEVEL_CHANGE
    assert default_change() is ROUTE_HASH_CHANGE  # today's: the Parquet scatter

    old = diff_text(build_sandbox(tmp_path / "old", zephyr_dir=zephyr_0_2_20))
    assert "-_ZSTD_COMPRESS_LEVEL = 3" in old and "+_ZSTD_COMPRESS_LEVEL = 6" in old
    old_batch = diff_text(
        build_sandbox(tmp_path / "old-batch", SUB_BATCH_CHANGE, zephyr_dir=zephyr_0_2_20)
    )
    assert "+_SUB_BATCH_SIZE = 1\n" in old_batch

    today = build_sandbox(tmp_path / "today")
    assert today.head == ROUTE_HASH_CHANGE.branch
    assert "+        hash_encoded_key(encode_key(key))\n" in diff_text(today)
    pickled = diff_text(build_sandbox(tmp_path / "today-pickle", SCATTER_PICKLE_CHANGE))
    assert "+        return cloudpickle.dumps(item)\n" in pickled
    old_hash = diff_text(
        build_sandbox(tmp_path / "old-hash", ROUTE_HASH_CHANGE, zephyr_dir=zephyr_0_2_20)
    )
    assert "+            deterministic_hash(key)\n" in old_hash
    batch = diff_text(build_sandbox(tmp_path / "today-batch", SUB_BATCH_CHANGE))
    assert "+_DATAFRAME_ROW_COUNT = 1\n" in batch
    zstd = diff_text(build_sandbox(tmp_path / "today-zstd", ZSTD_LEVEL_CHANGE))
    assert 'compression="zstd", compression_level=19' in zstd


def test_a_release_without_either_line_is_named(tmp_path):
    (edit,) = ZSTD_LEVEL_CHANGE.edits.values()
    with pytest.raises(PerfgateError, match="neither a `_ZSTD_COMPRESS_LEVEL = 3` line nor"):
        edit("def scatter():\n    pass\n")
    for change in (SUB_BATCH_CHANGE, SCATTER_PICKLE_CHANGE, ROUTE_HASH_CHANGE):
        (edit,) = change.edits.values()
        with pytest.raises(PerfgateError, match="0.2.20 ... 0.2.227"):
            edit("def scatter():\n    pass\n")


def test_the_sandbox_takes_the_release_requires_python(tmp_path):
    """Issue 28: the sandbox said ">=3.11" while 0.2.227's dependencies need >=3.12, so uv
    could not resolve it."""
    text = zephyr_pyproject(md.version("marin-zephyr"))
    project = tomllib.loads(text)["project"]
    assert project["requires-python"] == md.metadata("marin-zephyr")["Requires-Python"]
    assert "3.12" in project["requires-python"]


def test_a_wheel_metadata_becomes_a_uv_project_with_its_own_dependencies():
    metadata = (
        "Metadata-Version: 2.4\n"
        "Name: marin-zephyr\n"
        "Version: 0.2.20.dev202606180959\n"
        "Requires-Python: <3.13,>=3.11\n"
        "Requires-Dist: marin-fray==0.2.20.dev202606180959\n"
        "Requires-Dist: numpy>=2.0\n"
        'Requires-Dist: pytest; extra == "test"\n'
        "\n"
    )
    project = tomllib.loads(release_pyproject(metadata, ("numpy==2.4.6",)))
    assert project["project"]["requires-python"] == "<3.13,>=3.11"
    assert project["project"]["dependencies"] == [
        "marin-fray==0.2.20.dev202606180959",
        "numpy>=2.0",
    ]
    assert project["tool"]["uv"]["constraint-dependencies"] == ["numpy==2.4.6"]
    with pytest.raises(ValueError, match="not marin-zephyr"):
        release_pyproject(metadata.replace("Name: marin-zephyr", "Name: marin-iris"))
    with pytest.raises(ValueError, match="no Version field"):
        release_pyproject("Name: marin-zephyr\n\n")
