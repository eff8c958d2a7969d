"""A generated text corpus shaped like the tier-2 ferry's input, at laptop scale: a pure
function of :class:`CorpusSpec` (byte-identical files). Sizes are bytes of UTF-8 text.
The shape and why: ``docs/gate0.md``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from perfgate_lib.errors import UsageError, require_valid

MANIFEST = "corpus.json"


@dataclass(frozen=True)
class CorpusSpec:
    """Shape of a generated corpus. Sizes are bytes; fractions are shares of ``docs``."""

    docs: int = 3000
    seed: int = 0
    body_median_bytes: int = 5000
    body_sigma: float = 0.6
    tail_fraction: float = 0.03
    tail_alpha: float = 1.5
    tail_min_bytes: int = 20_000
    tail_max_bytes: int = 200_000
    large_docs: int = 3
    large_doc_bytes: int = 400_000
    near_dup_fraction: float = 0.1
    vocabulary: int = 4000

    def __post_init__(self) -> None:
        checks = {
            "docs": self.docs >= 1,
            "body_median_bytes": self.body_median_bytes >= 16,
            "body_sigma": self.body_sigma >= 0,
            "tail_fraction": 0 <= self.tail_fraction <= 1,
            "tail_alpha": self.tail_alpha > 0,
            "tail_min_bytes": 16 <= self.tail_min_bytes <= self.tail_max_bytes,
            "large_docs": 0 <= self.large_docs <= self.docs,
            "large_doc_bytes": self.large_doc_bytes >= 16,
            "near_dup_fraction": 0 <= self.near_dup_fraction < 1,
            "vocabulary": self.vocabulary >= 10,
        }
        require_valid(self, checks, "corpus spec")


_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


def _vocabulary(rng: random.Random, size: int) -> tuple[list[str], list[float]]:
    """Distinct pseudo-words and their Zipf cumulative weights."""
    words: dict[str, None] = {}  # insertion-ordered set
    while len(words) < size:
        words["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4)))] = None
    return list(words), list(itertools.accumulate(1.0 / rank for rank in range(1, size + 1)))


def _text(rng: random.Random, words: list[str], cum: list[float], target_bytes: int) -> str:
    """Sentences of Zipf-drawn words, with paragraph breaks and stray whitespace, ~target bytes."""
    drawn = rng.choices(words, cum_weights=cum, k=max(4, target_bytes // 6))
    parts: list[str] = []
    size = i = 0
    while size < target_bytes and i < len(drawn):
        n = rng.randint(6, 18)
        sentence = drawn[i : i + n]  # not empty: i < len(drawn)
        i += n
        sentence[0] = sentence[0].capitalize()
        piece = " ".join(sentence) + rng.choice((". ", ".  ", "! ", "? ", ".\n\n", ",\t"))
        parts.append(piece)
        size += len(piece)
    return "".join(parts)[:target_bytes]


def _mutate(rng: random.Random, text: str, words: list[str], rate: float = 0.03) -> str:
    """A near-duplicate: about ``rate`` of the words replaced."""
    tokens = text.split(" ")
    for _ in range(max(1, int(len(tokens) * rate))):
        tokens[rng.randrange(len(tokens))] = rng.choice(words)
    return " ".join(tokens)


def _sizes(spec: CorpusSpec, rng: random.Random) -> list[int]:
    """Body size in bytes per document: log-normal, Pareto tail, a few large documents."""
    mu = math.log(spec.body_median_bytes)
    sizes: list[int] = []
    for _ in range(spec.docs):
        if rng.random() < spec.tail_fraction:
            size = spec.tail_min_bytes * rng.paretovariate(spec.tail_alpha)
            size = min(size, spec.tail_max_bytes)
        else:
            size = rng.lognormvariate(mu, spec.body_sigma)
        sizes.append(max(64, int(size)))
    for index in rng.sample(range(spec.docs), spec.large_docs):
        sizes[index] = int(spec.large_doc_bytes * rng.uniform(1.0, 2.0))
    return sizes


def generate(spec: CorpusSpec) -> Iterator[dict]:
    """Yield the corpus records ``{"id", "text", "source"}`` in a fixed order."""
    rng = random.Random(spec.seed)
    words, cum = _vocabulary(rng, spec.vocabulary)
    sizes = _sizes(spec, rng)
    originals: list[str] = []
    for index, size in enumerate(sizes):
        if originals and size < spec.tail_min_bytes and rng.random() < spec.near_dup_fraction:
            text = _mutate(rng, rng.choice(originals), words)
        else:
            text = _text(rng, words, cum, size)
            if size < spec.tail_min_bytes and len(originals) < 500:
                originals.append(text)
        yield {"id": f"doc-{index:07d}", "text": text, "source": "perfgate-synthetic"}


def write_corpus(spec: CorpusSpec, out_dir: str | Path, shards: int = 8) -> list[Path]:
    """Write ``part-NNNNN.jsonl`` files (round-robin) and ``corpus.json`` (the spec, docs,
    bytes), or reuse them when it records the same spec and shards; the data files."""
    if shards < 1:
        raise UsageError(f"corpus shards must be >= 1, got {shards}")
    out = Path(out_dir)
    paths = [out / f"part-{i:05d}.jsonl" for i in range(shards)]
    manifest_path = out / MANIFEST
    wanted = {"spec": asdict(spec), "shards": shards}
    if manifest_path.exists() and all(p.exists() for p in paths):
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            manifest = {}
        if {k: manifest.get(k) for k in wanted} == wanted:
            return paths
    out.mkdir(parents=True, exist_ok=True)
    total_bytes = count = 0
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(p.open("w", encoding="utf-8")) for p in paths]
        for record in generate(spec):
            handles[count % shards].write(json.dumps(record) + "\n")  # round-robin
            total_bytes += len(record["text"].encode("utf-8"))
            count += 1
    manifest_path.write_text(json.dumps({**wanted, "docs": count, "bytes": total_bytes}, indent=2))
    return paths
