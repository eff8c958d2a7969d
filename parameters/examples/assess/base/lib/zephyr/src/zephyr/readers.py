"""Readers: JSONL and parquet."""

import json


def read_jsonl(path: str) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh]
