"""The durable outbox: order events leave the call path here and are never lost.

`Outbox.publish` appends to a Redis stream with a short timeout. When Redis is
slow or down it appends to a local spool instead (JSONL, fsync'd) and keeps
spooling, so events stay in order, until `drain` has moved the spool into the
stream. Without Redis (embedded mode) the spool is applied to the database by
`consumer.apply_spool`. Replays are harmless: every event carries an id the
consumer applies once.

No SQLAlchemy here: the controller imports this on its hot path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from .events import OrderEvent

log = logging.getLogger(__name__)

STREAM = "hotline:order-events"
DEAD_STREAM = "hotline:order-events:dead"
SPOOL_NAME = "order-events.spool.jsonl"
# where the controller's full publish queue spills (telephony/orders.py), before the outbox
OVERFLOW_NAME = "order-events.overflow.jsonl"


class NotReplicated(RedisError):
    """The primary took a write but no replica confirmed it in time: not durable yet."""


REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)
PUBLISH_BATCH = 100   # events a publisher takes off its queue for one round trip
PUBLISH_GATHER_S = 0.02   # how long a publisher waits for more events to send with one


async def publish_until_safe(publish: Callable[[list[OrderEvent]], Awaitable[object]],
                             events: list[OrderEvent], what: str,
                             retry_s: float = 0.5) -> None:
    """Publish `events` (the outbox spools when Redis is away), retrying anything else
    until they are safe: a publisher's next events wait, so they stay in order."""
    while True:
        try:
            await publish(events)
            return
        except Exception:  # the outbox spools on failure; this is a last resort
            log.exception("%d %s events (%s first) could not be published; retrying",
                          len(events), what, events[0].kind)
            await asyncio.sleep(retry_s)


async def gather_batch(queue: asyncio.Queue, window_s: float = PUBLISH_GATHER_S,
                       limit: int = PUBLISH_BATCH, hand: list | None = None) -> list:
    """The next event, then what else comes within `window_s`: at 40 new calls a second
    a publisher otherwise sent one or two events a round trip, and those round trips
    (one write to Redis each, and its reply) were the largest item of the controller's
    profile (13 % of its busy samples at 400 calls). An event waits `window_s` more
    before it is in the outbox, in this process's memory, as it already waited there
    for the round trip before it.

    `hand`, when given, is the list the batch is gathered into: what the publisher holds
    if it is cancelled in the window, for `unpublished`."""
    batch = [] if hand is None else hand
    batch.append(await queue.get())
    if window_s > 0 and queue.qsize() < limit - 1:
        await asyncio.sleep(window_s)
    return _take_queued(queue, batch, limit)


def take_batch(queue: asyncio.Queue, first: Any, limit: int = PUBLISH_BATCH) -> list:
    """`first` and whatever else is queued already, up to `limit`, in order: under load
    one pipelined round trip carries many events instead of one each."""
    return _take_queued(queue, [first], limit)


def _take_queued(queue: asyncio.Queue, batch: list, limit: int) -> list:
    while len(batch) < limit:
        try:
            batch.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            break
    return batch


def unpublished(hand: list, queue: asyncio.Queue) -> list:
    """What a stopped publisher had not made safe, in order: the batch in its hand (it
    may have reached the stream already; the consumer applies each id once), then its
    queue. Both are emptied."""
    events = list(hand)
    hand.clear()
    return _take_queued(queue, events, len(events) + queue.qsize())


class Spool:
    """An append-only JSONL file of events waiting for Redis (or for the database).

    Draining renames the file aside first, so new events append to a fresh file
    while the old one is sent, and records its progress so a crash mid-drain
    resends at most one batch (which the consumer's idempotency absorbs).

    `durable=False` skips the fsync of each line: for a spill of events that were
    only in memory a moment before (the write reaches the OS, so a crash of the
    process loses nothing; the call that wrote it never waits on the disk).
    """

    def __init__(self, directory: Path, name: str = SPOOL_NAME, *, durable: bool = True) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / name
        self.draining = directory / f"{name}.draining"
        self.progress = directory / f"{name}.draining.offset"
        self.rejected = directory / f"{name}.rejected"
        self._lock = threading.Lock()
        self._durable = durable
        self._repair_torn_tail()

    def _repair_torn_tail(self) -> None:
        # A crash mid-append can leave half a line; never glue the next event onto it.
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb+") as spool:
                spool.seek(-1, os.SEEK_END)
                if spool.read(1) != b"\n":
                    spool.write(b"\n")

    def append(self, line: str) -> None:
        self.append_many([line])

    def append_many(self, lines: list[str]) -> None:
        """Every line, in order, with one write and one fsync."""
        with self._lock:
            created = not self.path.exists()
            with self.path.open("a", encoding="utf-8") as spool:
                spool.write("".join(line + "\n" for line in lines))
                spool.flush()
                if self._durable:
                    os.fsync(spool.fileno())
            if created and self._durable:
                _fsync_dir(self.path.parent)

    def pending(self) -> bool:
        with self._lock:
            return self.draining.exists() or (self.path.exists() and self.path.stat().st_size > 0)

    def rotate(self) -> bool:
        """Set the current spool aside for draining; False when nothing is waiting."""
        with self._lock:
            if self.draining.exists():
                return True
            if not self.path.exists() or not self.path.stat().st_size:
                return False
            os.replace(self.path, self.draining)
            _write_atomic(self.progress, "0")
            _fsync_dir(self.path.parent)
            return True

    def read_draining(self) -> tuple[list[str], int]:
        lines = []
        with self.draining.open(encoding="utf-8") as spool:
            for raw in spool:
                line = raw.strip()
                if not line:
                    continue
                try:
                    json.loads(line)
                except json.JSONDecodeError:
                    log.warning("spool: setting aside a torn line of %d bytes", len(line))
                    with self.rejected.open("a", encoding="utf-8") as bad:
                        bad.write(line + "\n")
                    continue
                lines.append(line)
        offset = int(self.progress.read_text() or 0) if self.progress.exists() else 0
        return lines, offset

    def advance(self, offset: int) -> None:
        _write_atomic(self.progress, str(offset))

    def finish(self) -> None:
        with self._lock:
            self.draining.unlink(missing_ok=True)
            self.progress.unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def drain_spool(
    spool: Spool, sink: Callable[[list[str]], Awaitable[None]], batch: int = 200
) -> int:
    """Hand every spooled line to `sink` in order, a batch at a time; returns how many.

    An exception from `sink` stops the drain with the progress so far kept.
    """
    total = 0
    while await asyncio.to_thread(spool.rotate):
        lines, offset = await asyncio.to_thread(spool.read_draining)
        while offset < len(lines):
            chunk = lines[offset : offset + batch]
            await sink(chunk)
            offset += len(chunk)
            total += len(chunk)
            await asyncio.to_thread(spool.advance, offset)
        await asyncio.to_thread(spool.finish)
    return total


class OutboxError(RuntimeError):
    """The round trip that carried these events failed in a way the spool did not
    catch (the spool itself could not be written): the publisher retries them."""


@dataclass
class _Group:
    """One publisher's events, waiting for the round trip that carries them."""
    events: list[OrderEvent]
    payloads: list[str]
    result: str | BaseException | None = None


class Outbox:
    """Where the controller publishes order events; never blocks a call for long."""

    def __init__(
        self,
        redis: Any | None,
        spool_dir: Path,
        *,
        stream: str = STREAM,
        timeout: float = 0.25,
        retry_interval: float = 1.0,
        min_replicas: int = 0,
        replicas: Any | None = None,
    ) -> None:
        self._redis = redis
        # behind Sentinel an event counts as published only once a replica holds it
        # (WAIT): a primary lost a moment after XADD must not take the event with it.
        # `replicas` (services.redis_link.ReplicaWatch) says when there is no replica to
        # wait for at all.
        self._min_replicas = min_replicas
        self._replicas = replicas
        self._alone = False
        self._spool = Spool(spool_dir)
        self._stream = stream
        self._timeout = timeout
        self._retry_interval = retry_interval
        self._lock = asyncio.Lock()     # one round trip at a time (see publish_many)
        self._waiting: list[_Group] = []  # publishers queued behind it
        self._drain_lock = asyncio.Lock()
        # Events spooled by an earlier run go first: keep spooling until they are drained.
        self._spooling = redis is None or self._spool.pending()

    @property
    def spool(self) -> Spool:
        return self._spool

    @property
    def spooling(self) -> bool:
        return self._spooling

    async def publish(self, event: OrderEvent) -> str:
        """Append `event` to the stream, or to the spool; returns "stream" or "spool"."""
        return await self.publish_many([event])

    async def publish_many(self, events: list[OrderEvent]) -> str:
        """Append `events`, in order, to the stream in one pipelined round trip (and one
        replica wait), or all of them to the spool; returns "stream" or "spool". Should
        the stream take only some, the spool has them all again: the consumer applies
        each id once.

        Group commit: publishers that call while a round trip is in flight queue behind
        it, and the next one carries all their events at once (the order events and
        the call log, under load, share one round trip instead of one each). Each
        caller's events stay in order and together; a caller returns when its own are
        safe, with where they went."""
        if not events:
            return "stream"
        mine = _Group(events, [event.to_json() for event in events])
        self._waiting.append(mine)
        async with self._lock:
            if mine.result is None:   # no earlier round trip carried ours: lead one
                group, self._waiting = self._waiting, []
                result: str | BaseException = "spool"
                try:
                    result = await self._send([e for g in group for e in g.events],
                                              [p for g in group for p in g.payloads])
                except BaseException as exc:
                    result = exc
                    raise
                finally:
                    for other in group:
                        other.result = result
        if isinstance(mine.result, BaseException):
            raise OutboxError(f"publishing failed: {mine.result!r}") from mine.result
        return mine.result

    async def _send(self, events: list[OrderEvent], payloads: list[str]) -> str:
        if not self._spooling:
            try:
                # asyncio.timeout, not wait_for: wait_for wraps the call in a task of
                # its own (Python 3.11), once per publish
                async with asyncio.timeout(self._timeout):
                    await self._xadd(events, payloads)
                return "stream"
            except REDIS_DOWN as exc:
                log.warning("redis unavailable (%s); spooling order events", type(exc).__name__)
                self._spooling = True
        await asyncio.to_thread(self._spool.append_many, payloads)
        return "spool"

    async def _xadd(self, events: list[OrderEvent], payloads: list[str]) -> None:
        await self._pipelined([(payload, event.event_id, event.kind)
                               for event, payload in zip(events, payloads, strict=True)])
        await self._replicated()

    def _pipelined(self, entries: list[tuple[str, str, str]]) -> Awaitable[Any]:
        """(payload, event id, kind) of each event, appended in order in one round trip:
        what a publish and a spool drain both send."""
        assert self._redis is not None
        pipe = self._redis.pipeline(transaction=False)
        for payload, event_id, kind in entries:
            pipe.xadd(self._stream, {"event": payload, "event_id": event_id, "kind": kind})
        return pipe.execute()

    async def _replicated(self) -> None:
        """Wait (within the publish timeout) until `min_replicas` replicas hold every write
        so far; else raise, and the caller keeps the event in the spool. A spooled event
        that the stream also got is sent again later: the consumer applies an id once."""
        if not self._min_replicas:
            return
        alone = self._replicas is not None and not await self._replicas.present()
        if alone != self._alone:
            self._alone = alone
            if alone:
                log.warning("redis primary has no live replica: order events rely on its "
                            "append-only file until a replica is back")
            else:
                log.info("redis replica back: order events wait for its copy again")
        if alone:
            return
        wait_ms = max(1, int(self._timeout * 1000 * 0.8))
        copies = await self._redis.execute_command("WAIT", self._min_replicas, wait_ms)
        if int(copies) < self._min_replicas:
            raise NotReplicated(f"{copies} of {self._min_replicas} replicas within {wait_ms} ms")

    def keep(self, events: list[OrderEvent]) -> None:
        """At a graceful stop, append events that were only in memory to the spool (fsync'd):
        the next start sends them first, before anything newer. Blocking, and meant for
        the stop only, when no round trip runs any more."""
        if not events:
            return
        self._spool.append_many([event.to_json() for event in events])
        self._spooling = True
        log.info("%d unpublished events kept in the spool for the next start", len(events))

    async def drain(self) -> int:
        """Move spooled events into the stream; returns how many moved before any failure."""
        if self._redis is None:
            return 0
        async with self._drain_lock:
            moved = 0

            async def send(lines: list[str]) -> None:
                nonlocal moved
                entries = []
                for line in lines:
                    data = json.loads(line)
                    entries.append((line, data.get("event_id", ""), data.get("kind", "")))
                await asyncio.wait_for(self._pipelined(entries), max(1.0, self._timeout * 8))
                await self._replicated()
                moved += len(lines)

            try:
                await drain_spool(self._spool, send)
            except REDIS_DOWN as exc:
                log.warning("redis still unavailable (%s); %d events drained", exc, moved)
                return moved
            async with self._lock:
                if not await asyncio.to_thread(self._spool.pending):
                    self._spooling = False
                    log.info("order event spool drained (%d events); publishing to redis", moved)
            return moved

    async def run(self) -> None:
        """Background task: drain the spool whenever Redis is back. Cancel to stop."""
        while True:
            await asyncio.sleep(self._retry_interval)
            if self._spooling and self._redis is not None:
                await self.drain()


class MemoryOutbox:
    """An in-process outbox for tests and demos: keeps events in a list, in order."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []

    async def publish(self, event: OrderEvent) -> str:
        self.events.append(event)
        return "memory"

    async def publish_many(self, events: list[OrderEvent]) -> str:
        self.events.extend(events)
        return "memory"


def make_redis(url: str) -> Any:
    """A client with short socket timeouts, so an absent Redis fails fast."""
    from services import redis_link

    return redis_link.connect(url, socket_connect_timeout=0.5, socket_timeout=2.0)
