"""Mirrors to Redis converge after an outage, writing only the latest state."""
from __future__ import annotations

import asyncio

from services.latest_writer import LatestWriter


async def test_writes_the_latest_value_and_retries_until_the_store_is_back():
    written: list[tuple[str, int]] = []
    failures = [ConnectionError("down"), ConnectionError("still down")]

    async def write(key: str, value: int) -> None:
        if failures:
            raise failures.pop(0)
        written.append((key, value))

    tasks = []
    writer = LatestWriter(write, lambda coro: tasks.append(asyncio.ensure_future(coro)),
                          "test", backoff=(0.001, 0.002))
    writer.put("seat:1001", 1)
    writer.put("seat:1001", 2)      # supersedes 1 while the store is away
    writer.put("seat:1002", 7)
    await asyncio.gather(*tasks)
    assert written == [("seat:1001", 2), ("seat:1002", 7)]
    assert writer.pending == 0
