"""Applies order events from the Redis stream (or a local spool) to the database.

A message is acknowledged only after its transaction committed, so a database
outage leaves it pending and it is retried with backoff. The service applies
each event id once, so replaying the stream or the spool creates no duplicates.

Every controller's consumer reads under a name of its own in one group
(`worker.consumer_name`); entries a consumer read but never acknowledged (it died, or
its controller was killed) are claimed by another after `claim_idle_ms`, and
a consumer name left with nothing pending for `forget_idle_ms` is removed from
the group. Claiming from a consumer that was only slow costs a second attempt
at a batch, never a second application: the event ids see to that.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from .errors import WorkOrderError
from .events import OrderEvent
from .outbox import DEAD_STREAM, STREAM, Spool, drain_spool

log = logging.getLogger(__name__)

GROUP = "work-orders"


class EventApplier(Protocol):
    async def apply(self, event: OrderEvent) -> bool: ...


LINGER_S = 0.25  # the running consumers' top-up wait (see OutboxConsumer)


def _count(response: list | None) -> int:
    return sum(len(messages) for _stream, messages in response or ())


class OutboxConsumer:
    def __init__(
        self,
        redis: Any,
        service: EventApplier,
        *,
        stream: str = STREAM,
        group: str = GROUP,
        consumer: str = "work-orders-1",
        dead_stream: str = DEAD_STREAM,
        batch: int = 100,
        block_ms: int = 1000,
        max_attempts: int = 5,
        claim_idle_ms: int = 10_000,
        forget_idle_ms: int = 3_600_000,
        backoff: tuple[float, float] = (0.1, 5.0),
        monotonic: Callable[[], float] = time.monotonic,
        linger_s: float = 0.0,
    ) -> None:
        self._redis = redis
        self._service = service
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._dead_stream = dead_stream
        self._batch = batch
        self._block_ms = block_ms
        self._max_attempts = max_attempts
        self._claim_idle_ms = claim_idle_ms
        self._forget_idle_ms = forget_idle_ms
        self._monotonic = monotonic
        self._next_prune = 0.0
        self._backoff = backoff
        # after a read that did not fill a batch, wait this long and top it up: under a
        # steady trickle (a few events per call, tens of calls a second) each transaction
        # then carries tens of events, not two or three; orders reach the database that
        # much later
        self._linger_s = linger_s
        self._attempts: dict[str, int] = {}
        self._group_ready = False
        self.applied = 0
        self.duplicates = 0
        self.dead = 0

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def run_once(self, block: bool = True) -> int:
        """One round: retry this consumer's pending messages, claim stale ones, read new ones.

        Database and Redis errors propagate with the message left pending.
        """
        await self.ensure_group()
        handled = await self._handle(await self._read("0"))
        claimed = await self._redis.xautoclaim(
            self._stream, self._group, self._consumer, self._claim_idle_ms, "0-0",
            count=self._batch,
        )  # fmt: skip
        if claimed[1]:
            log.info("order events: %d claimed from a silent consumer", len(claimed[1]))
        handled += await self._handle([(self._stream, claimed[1])] if claimed[1] else [])
        fresh = await self._read(">", self._block_ms if block else None)
        got = _count(fresh)
        if self._linger_s and 0 < got < self._batch:
            await asyncio.sleep(self._linger_s)
            more = await self._read(">", None, self._batch - got)
            fresh = [(stream, [*messages, *(m for s, ms in more if s == stream for m in ms)])
                     for stream, messages in fresh]
        handled += await self._handle(fresh)
        await self._prune()
        return handled

    async def _prune(self) -> None:
        """Remove consumers gone quiet with nothing pending (each restart names a new one);
        checked at most once per claim interval."""
        now = self._monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + self._claim_idle_ms / 1000
        for info in await self._redis.xinfo_consumers(self._stream, self._group):
            name = _text(info.get("name", b""))
            if (name != self._consumer and int(info.get("pending", 0)) == 0
                    and int(info.get("idle", 0)) >= self._forget_idle_ms):
                await self._redis.xgroup_delconsumer(self._stream, self._group, name)
                log.info("order events: forgot consumer %s (idle, nothing pending)", name)

    async def _read(self, start: str, block: int | None = None, count: int | None = None) -> list:
        return await self._redis.xreadgroup(
            self._group, self._consumer, {self._stream: start}, count=count or self._batch,
            block=block)

    async def _handle(self, response: list) -> int:
        handled = 0
        committed: list[str] = []
        try:
            batch: list[tuple[str, str, OrderEvent]] = []
            for _stream, messages in response or ():
                for message_id, fields in messages:
                    message_id = _text(message_id)
                    if fields is None:  # trimmed away while pending
                        committed.append(message_id)
                        continue
                    raw = _text(fields.get(b"event") or fields.get("event") or b"")
                    try:
                        batch.append((message_id, raw, OrderEvent.from_json(raw)))
                    except (ValueError, KeyError, TypeError) as exc:
                        await self._bury(message_id, raw, f"unreadable event: {exc!r}")
                        handled += 1
            handled += await self._apply(batch, committed)
        finally:
            # One XACK for the batch, and only for what the database committed.
            if committed:
                await self._redis.xack(self._stream, self._group, *committed)
                for message_id in committed:
                    self._attempts.pop(message_id, None)
        return handled

    async def _apply(self, batch: list[tuple[str, str, OrderEvent]], committed: list[str]) -> int:
        """Apply in one transaction where the service can; each event alone otherwise."""
        apply_many = getattr(self._service, "apply_many", None)
        if apply_many is None or not batch:
            return sum([await self._handle_one(message_id, raw, event, committed)
                        for message_id, raw, event in batch])
        results = await apply_many([event for _, _, event in batch])
        handled = 0
        for (message_id, raw, event), result in zip(batch, results, strict=True):
            handled += await self._settle(message_id, raw, event, result, committed)
        return handled

    async def _handle_one(self, message_id: str, raw: str, event: OrderEvent,
                          committed: list[str]) -> int:
        try:
            result: bool | WorkOrderError = await self._service.apply(event)
        except WorkOrderError as exc:
            result = exc
        return await self._settle(message_id, raw, event, result, committed)

    async def _settle(self, message_id: str, raw: str, event: OrderEvent,
                      result: bool | WorkOrderError, committed: list[str]) -> int:
        if isinstance(result, WorkOrderError):
            # Often an ordering effect (an event about an order not opened yet):
            # leave it pending for a few rounds before setting it aside.
            attempts = self._attempts.get(message_id, 0) + 1
            self._attempts[message_id] = attempts
            if attempts < self._max_attempts:
                log.info(
                    "event %s refused (%s), attempt %d", event.event_id, result.error_id, attempts
                )
                return 0
            await self._bury(message_id, raw, f"{result.error_id}: {result.message}")
            return 1
        committed.append(message_id)
        if result:
            self.applied += 1
        else:
            self.duplicates += 1
        return 1

    async def _ack(self, message_id: str) -> None:
        await self._redis.xack(self._stream, self._group, message_id)
        self._attempts.pop(message_id, None)

    async def _bury(self, message_id: str, raw: str, reason: str) -> None:
        """Move an event that can never apply to the dead-letter stream, for a person to read."""
        log.error("order event %s set aside: %s", message_id, reason)
        await self._redis.xadd(
            self._dead_stream, {"event": raw, "reason": reason, "message_id": message_id}
        )
        await self._ack(message_id)
        self.dead += 1

    async def run(self) -> None:
        """Consume until cancelled; outages of the database or Redis mean backoff, not loss."""
        delay = self._backoff[0]
        while True:
            try:
                await self.run_once()
                delay = self._backoff[0]
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                # OSError too: asyncpg reports a refused database connection as one.
                log.warning(
                    "order events: redis or database unavailable (%s); retry in %.1fs", exc, delay
                )
                self._group_ready = False
            except SQLAlchemyError as exc:
                log.warning(
                    "order events: database unavailable (%s); retry in %.1fs",
                    type(exc).__name__,
                    delay,
                )
            except Exception:
                # A bug must not stop the consumer: the message stays pending for a fix.
                log.exception("order events: unexpected error; retry in %.1fs", delay)
            else:
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])


async def apply_spool(spool: Spool | Path, service: EventApplier) -> int:
    """Apply spooled events straight to the database (embedded mode, or Redis long gone).

    Events the service refuses are written to the spool's `.rejected` file; a
    database error stops here and keeps the rest for the next call.
    """
    spool = spool if isinstance(spool, Spool) else Spool(spool)

    def reject(line: str, exc: Exception) -> None:
        log.error("spooled order event refused: %r", exc)
        with spool.rejected.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"event": line, "reason": repr(exc)}) + "\n")

    async def apply_lines(lines: list[str]) -> None:
        readable: list[tuple[str, OrderEvent]] = []
        for line in lines:
            try:
                readable.append((line, OrderEvent.from_json(line)))
            except (ValueError, KeyError, TypeError) as exc:
                reject(line, exc)
        apply_many = getattr(service, "apply_many", None)
        if apply_many is not None:   # one transaction for the chunk
            results = await apply_many([event for _, event in readable])
        else:
            results = [await _apply_alone(service, event) for _, event in readable]
        for (line, _), result in zip(readable, results, strict=True):
            if isinstance(result, WorkOrderError):
                reject(line, result)

    return await drain_spool(spool, apply_lines, batch=50)


async def _apply_alone(service: EventApplier, event: OrderEvent) -> bool | WorkOrderError:
    try:
        return await service.apply(event)
    except WorkOrderError as exc:
        return exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
