"""Counters reported by workers."""

import logging

logger = logging.getLogger(__name__)


class Counters:
    """Named integer counters."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def increment(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        self.values[name] = self.values.get(name, 0) + amount

    def total(self) -> int:
        return _sum_values(self.values)


def _sum_values(values: dict[str, int]) -> int:
    total = 0
    for value in values.values():
        total += value
    return total


def _legacy_report(counters: Counters) -> str:
    return ", ".join(f"{k}={v}" for k, v in counters.values.items())


def describe(counters: Counters) -> str:
    """One line for logs."""
    if not counters.values:
        raise ValueError("no counters")
    logger.info("describing %d counters", len(counters.values))
    return f"{len(counters.values)} counters"
