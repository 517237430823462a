"""JSON lines in and out: one entry per line, the fields `export_records` writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .errors import InvalidEntry

SEED = Path(__file__).with_name("data") / "seed_kb.jsonl"
MAX_LINE = 64 * 1024


def read_jsonl(stream: IO[str]) -> Iterator[dict[str, Any]]:
    """Records from a JSON-lines stream; blank lines skipped; a bad line names its number."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            raise InvalidEntry(f"line {number} is longer than {MAX_LINE} characters", line=number)
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InvalidEntry(f"line {number} is not JSON: {exc}"[:200], line=number) from None
        if not isinstance(record, dict):
            raise InvalidEntry(f"line {number} is not a JSON object", line=number)
        yield record


def write_jsonl(records: Iterable[Mapping[str, Any]], stream: IO[str]) -> int:
    count = 0
    for record in records:
        stream.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


def seed_records(path: Path = SEED) -> list[dict[str, Any]]:
    """The lab city's seed knowledge base (洛阳市, 410300)."""
    with path.open(encoding="utf-8") as stream:
        return list(read_jsonl(stream))
