"""Zephyr: dataset pipelines on fray."""

from zephyr.dataset import Dataset
from zephyr.execution import ZephyrContext

__all__ = ["Dataset", "ZephyrContext"]
