"""Click options shared by several sub-commands (one definition each)."""

from __future__ import annotations

import click

from perfgate_lib.corpus import CorpusSpec

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
