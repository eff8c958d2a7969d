"""Click options shared by several sub-commands (one definition each)."""

from __future__ import annotations

import click

from perfgate_lib.corpus import CorpusSpec
from perfgate_lib.sideenv import ENV_MODES

repeats_option = click.option(
    "--repeats",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Local A/B: interleaved mini-ferry runs per side; medians are compared.",
)
docs_option = click.option(
    "--docs",
    default=CorpusSpec.docs,
    show_default=True,
    type=click.IntRange(10, 10_000_000),
    help="Local A/B: documents in the generated corpus.",
)
env_option = click.option(
    "--env",
    "env_mode",
    default="auto",
    show_default=True,
    type=click.Choice(ENV_MODES),
    help=(
        "Local A/B: each side's Python environment: uv (the worktree's own uv project, "
        "cached by dependency digest), kit (this kit's venv), auto (uv when the worktree "
        "has a uv project for zephyr)."
    ),
)
