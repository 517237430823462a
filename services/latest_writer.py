"""Write the latest state of each key in the background, never holding the
caller, and keep retrying while the store is away: state converges once it is
back. Seats and live calls are mirrored to Redis this way.

Whatever piled up since the last write goes in one batch (one Redis pipeline):
under load one round trip carries many calls' changes. `gather_s` waits that long
before the first write of a burst, so the changes of the next few events join it
(a call's answer moves its call record and two seats within milliseconds)."""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
V = TypeVar("V")


class LatestWriter(Generic[V]):
    def __init__(self, write: Callable[[list[tuple[str, V]]], Awaitable[None]],
                 schedule: Callable[[Awaitable[None]], object], what: str,
                 backoff: tuple[float, float] = (0.5, 5.0), batch: int = 200,
                 gather_s: float = 0.0):
        self._write = write   # writes a batch of (key, latest value), all or nothing
        self._batch = batch
        self._gather_s = gather_s
        self._schedule = schedule
        self._what = what
        self._backoff = backoff
        self._pending: dict[str, V] = {}
        self._flushing = False

    def put(self, key: str, value: V) -> None:
        self._pending[key] = value
        if not self._flushing:
            self._flushing = True
            self._schedule(self._flush())

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def _flush(self) -> None:
        delay = self._backoff[0]
        try:
            if self._gather_s:
                await asyncio.sleep(self._gather_s)
            while self._pending:
                batch = list(itertools.islice(self._pending.items(), self._batch))
                try:
                    await self._write(batch)
                except Exception as exc:  # noqa: BLE001 - the store is away: wait, retry
                    log.warning("%s: write failed (%r); %d pending, retry in %.1fs",
                                self._what, exc, len(self._pending), delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._backoff[1])
                    continue
                delay = self._backoff[0]
                for key, value in batch:
                    if self._pending.get(key) is value:   # not superseded meanwhile
                        del self._pending[key]
        finally:
            self._flushing = False
