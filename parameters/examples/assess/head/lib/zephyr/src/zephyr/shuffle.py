"""Scatter: route records to output shards through per-shard buffers."""

import hashlib
import logging

logger = logging.getLogger(__name__)

SCATTER_BUFFER_BYTES = 256 * 1024 * 1024


def shard_for(key: bytes, num_shards: int) -> int:
    """Stable hash routing of a key to a shard."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


def _flush(buffer: list, out: list) -> None:
    out.extend(buffer)
    buffer.clear()


def scatter(records: list[tuple[bytes, bytes]], num_shards: int) -> list[list]:
    """Scatter ``records`` (key, value) into ``num_shards`` lists."""
    outputs: list[list] = [[] for _ in range(num_shards)]
    buffers: list[list] = [[] for _ in range(num_shards)]
    sizes = [0] * num_shards
    for key, value in records:
        shard = shard_for(key, num_shards)
        buffers[shard].append(value)
        sizes[shard] += len(value)
        if sizes[shard] >= SCATTER_BUFFER_BYTES:
            _flush(buffers[shard], outputs[shard])
            sizes[shard] = 0
    for shard in range(num_shards):
        _flush(buffers[shard], outputs[shard])
    logger.info("scattered %d records into %d shards", len(records), num_shards)
    return outputs
