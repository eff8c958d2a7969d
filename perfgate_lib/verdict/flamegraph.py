"""A differential flame graph of one gate-0 stage (matplotlib): red grew, blue shrank.

Input: each side's folded Python stacks (root first -> exclusive instructions); widths
and colours are instructions (``docs/attribution.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Stacks = Mapping[tuple[str, ...], int]
GREY, RED, BLUE = (0.86, 0.86, 0.86), (0.95, 0.25, 0.25), (0.25, 0.4, 0.95)


@dataclass
class Frame:
    """One frame of the merged tree: inclusive and exclusive instructions per side."""

    name: str
    inclusive: dict[str, int] = field(default_factory=lambda: {"control": 0, "treatment": 0})
    exclusive: dict[str, int] = field(default_factory=lambda: {"control": 0, "treatment": 0})
    children: dict[str, Frame] = field(default_factory=dict)


def merge(control: Stacks, treatment: Stacks) -> Frame:
    """Both sides' stacks in one tree under a root frame ``all``."""
    root = Frame("all")
    for side, stacks in (("control", control), ("treatment", treatment)):
        for stack, cost in stacks.items():
            node = root
            node.inclusive[side] += cost
            for name in stack:
                node = node.children.setdefault(name, Frame(name))
                node.inclusive[side] += cost
            node.exclusive[side] += cost
    return root


def _rects(node: Frame, base: str, x: float, depth: int, out: list) -> None:
    out.append((x, depth, node))
    for name in sorted(node.children):
        child = node.children[name]
        if child.inclusive[base] > 0:
            _rects(child, base, x, depth + 1, out)
            x += child.inclusive[base]


def draw(control: Stacks, treatment: Stacks, title: str, base: str = "treatment"):
    """The figure (matplotlib); ``base`` names the side whose widths are drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    from perfgate_lib.verdict.charts import chart_text

    root = merge(control, treatment)
    rects: list = []
    _rects(root, base, 0.0, 0, rects)
    changes = [abs(n.exclusive["treatment"] - n.exclusive["control"]) for _, _, n in rects]
    scale = max(max(changes, default=0) / 4, 1)
    width = max(root.inclusive[base], 1)
    depth = max((d for _, d, _ in rects), default=0) + 1
    fig, ax = plt.subplots(figsize=(14, max(3.0, 0.28 * depth + 1.2)))
    patches, colours = [], []
    for x, d, node in rects:
        delta = node.exclusive["treatment"] - node.exclusive["control"]
        strength = min(1.0, abs(delta) / scale)
        target = RED if delta > 0 else BLUE
        colour = tuple(g + (t - g) * strength for g, t in zip(GREY, target, strict=True))
        w = node.inclusive[base]
        patches.append(Rectangle((x, d), w, 0.95))
        colours.append(colour)
        if w / width > 0.06:
            label = chart_text(node.name.split(" (")[0][: int(140 * w / width)])
            ax.text(x + w * 0.005, d + 0.45, label, va="center", fontsize=7, clip_on=True)
    ax.add_collection(
        PatchCollection(patches, facecolors=colours, edgecolors="white", linewidths=0.3)
    )
    ax.set_xlim(0, width)
    ax.set_ylim(0, depth)
    ax.set_yticks([])
    ax.set_xlabel(f"instructions ({base}: frame width = inclusive instructions)")
    other = "control" if base == "treatment" else "treatment"
    ax.set_title(
        f"{chart_text(title)} — widths: {base}; colour: own instructions, treatment − control "
        f"(red grew, blue shrank; {other}-only code is in the {other} graph)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def save(control: Stacks, treatment: Stacks, title: str, stem: str) -> list[str]:
    """Both orientations as PNG and SVG: ``<stem>-treatment.png`` ... ; returns the paths."""
    import matplotlib.pyplot as plt

    paths = []
    for base in ("treatment", "control"):
        fig = draw(control, treatment, title, base)
        for ext in ("png", "svg"):
            path = f"{stem}-{base}.{ext}"
            fig.savefig(path, dpi=110)
            paths.append(path)
        plt.close(fig)
    return paths
