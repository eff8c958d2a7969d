"""External sort: sorted runs merged k-way."""

import heapq
from collections.abc import Iterable, Iterator


def sort_run(records: list) -> list:
    return sorted(records)


def merge_runs(runs: list[Iterable]) -> Iterator:
    """K-way merge of sorted runs."""
    yield from heapq.merge(*runs)
