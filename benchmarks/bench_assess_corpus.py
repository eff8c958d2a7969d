"""Assessment judgment on the labeled corpus of real marin-zephyr release changes.

Rebuilds the published releases stored in ``tests/fixtures/zephyr_releases/`` as a git
history, assesses every consecutive release pair and compares each changed file's
``max_gate`` with its hand label in ``tests/assess_corpus.yaml`` (issue 12: agreement at
least 90%, no false skips). Prints figures and the disagreements; asserts nothing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.assess_corpus import score_corpus  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assess-corpus-") as tmp:
        score = score_corpus(Path(tmp) / "releases")
    print(f"corpus: {score.total} changed files between published marin-zephyr releases")
    print(
        f"max_gate agreement: {score.agreement:.1f}% "
        f"({score.total - len(score.over_gated) - len(score.under_gated)}/{score.total})"
    )
    print(f"false skips: {len(score.false_skips)}")
    print(f"over-gating: {len(score.over_gated)}")
    print(f"under-gating: {len(score.under_gated)}")
    for o in score.over_gated + score.under_gated:
        lb = o.label
        print(
            f"  {lb.base}->{lb.head} {lb.file}: label {lb.max_gate}, kit {o.got} "
            f"(kit yes: {', '.join(o.answers) or '-'}; label: {lb.why})"
        )


if __name__ == "__main__":
    main()
