"""perfgate: the Zephyr performance gate kit (assess, run, compare, comment)."""

__version__ = "0.1.0"

SENTINEL = "<!-- zephyr-perf-gate -->"
"""First line of every comment the kit posts; re-runs find and replace it."""

MAX_COMMENT_CHARS = 65_536
"""GitHub's cap on an issue comment body, in characters."""
