"""Mirrors to Redis converge after an outage, writing only the latest state."""
from __future__ import annotations

import asyncio

from services.latest_writer import LatestWriter


async def test_writes_the_latest_value_and_retries_until_the_store_is_back():
    written: list[tuple[str, int]] = []
    failures = [ConnectionError("down"), ConnectionError("still down")]

    async def write(batch: list[tuple[str, int]]) -> None:
        if failures:
            raise failures.pop(0)
        written.extend(batch)

    tasks = []
    writer = LatestWriter(write, lambda coro: tasks.append(asyncio.ensure_future(coro)),
                          "test", backoff=(0.001, 0.002))
    writer.put("seat:1001", 1)
    writer.put("seat:1001", 2)      # supersedes 1 while the store is away
    writer.put("seat:1002", 7)
    await asyncio.gather(*tasks)
    assert written == [("seat:1001", 2), ("seat:1002", 7)]
    assert writer.pending == 0


async def test_what_piles_up_is_written_in_batches_and_a_value_put_meanwhile_is_kept():
    batches: list[list[tuple[str, int]]] = []
    writer: LatestWriter[int]

    async def write(batch):
        batches.append(batch)
        if len(batches) == 1:
            writer.put("a", 99)   # changes while the first batch is on its way
        await asyncio.sleep(0)

    tasks = []
    writer = LatestWriter(write, lambda coro: tasks.append(asyncio.ensure_future(coro)),
                          "test", batch=2)
    for i, key in enumerate("abc"):
        writer.put(key, i)
    await asyncio.gather(*tasks)
    assert batches == [[("a", 0), ("b", 1)], [("a", 99), ("c", 2)]]
    assert writer.pending == 0


async def test_changes_made_while_gathering_go_in_the_same_batch():
    batches: list[list[tuple[str, int]]] = []

    async def write(batch):
        batches.append(batch)

    tasks = []
    writer = LatestWriter(write, lambda coro: tasks.append(asyncio.ensure_future(coro)),
                          "test", gather_s=0.01)
    writer.put("call:1", 1)
    await asyncio.sleep(0)          # the flush has started and is gathering
    writer.put("seat:1001", 2)
    writer.put("call:1", 3)
    await asyncio.gather(*tasks)
    assert batches == [[("call:1", 3), ("seat:1001", 2)]]
