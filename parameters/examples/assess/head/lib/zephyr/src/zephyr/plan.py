"""Planner: turn Dataset ops into stages, fusing what can run together."""

from dataclasses import dataclass
from typing import Any


@dataclass
class Op:
    kind: str
    arg: Any = None


FUSIBLE = {"map", "filter"}


def fuse_ops(ops: list[Op]) -> list[list[Op]]:
    """Group consecutive fusible ops into one stage."""
    stages: list[list[Op]] = []
    for op in ops:
        if stages and op.kind in FUSIBLE and stages[-1][-1].kind in FUSIBLE:
            stages[-1].append(op)
        else:
            stages.append([op])
    return stages
