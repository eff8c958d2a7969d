"""The public Dataset API."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from zephyr.plan import Op


class Dataset:
    """A lazy pipeline of operations over shards."""

    def __init__(self, source: Iterable, ops: list[Op] | None = None) -> None:
        self.source = source
        self.ops = ops or []

    def _with_op(self, op: Op) -> Dataset:
        return Dataset(self.source, [*self.ops, op])

    def map(self, fn: Callable) -> Dataset:
        """Apply ``fn`` to every record."""
        return self._with_op(Op("map", fn))

    def filter(self, predicate: Callable) -> Dataset:
        """Keep records where ``predicate`` is true."""
        return self._with_op(Op("filter", predicate))

    def reshard(self, num_shards: int) -> Dataset:
        return self._with_op(Op("reshard", num_shards))
