import asyncio
import json
import socket
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from services.work_orders.consumer import OutboxConsumer, apply_spool
from services.work_orders.events import OrderEvent, StatusChanged, SummaryUpdated
from services.work_orders.models import AuditEntry, Order
from services.work_orders.outbox import (
    DEAD_STREAM,
    STREAM,
    MemoryOutbox,
    Outbox,
    Spool,
    gather_batch,
    make_redis,
    unpublished,
)

from .helpers import opened


def events_for(service, clock, n=3):
    """An order's life as the controller would emit it: opened, summary, assigned."""
    out = []
    for _ in range(n):
        event = opened(service)
        out += [
            event,
            SummaryUpdated(order_id=event.order_id, actor="agent", at=clock.now, summary="s"),
            StatusChanged(
                order_id=event.order_id,
                to_status="assigned",
                actor="agent",
                at=clock.now,
                department="d",
            ),
        ]
    return out


async def counts(service):
    async with service._sessions() as session:
        orders = await session.scalar(select(func.count()).select_from(Order))
        entries = await session.scalar(select(func.count()).select_from(AuditEntry))
    return orders, entries


async def test_published_events_reach_the_database_through_the_stream(
    service, clock, redis, tmp_path
):
    outbox = Outbox(redis, tmp_path / "spool")
    for event in events_for(service, clock):
        assert await outbox.publish(event) == "stream"
    consumer = OutboxConsumer(redis, service, block_ms=10)
    assert await consumer.run_once() == 9
    assert await counts(service) == (3, 9)
    assert await redis.xpending(STREAM, "work-orders") == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_replaying_the_stream_twice_creates_no_duplicates(service, clock, redis, tmp_path):
    outbox = Outbox(redis, tmp_path / "spool")
    for event in events_for(service, clock):
        await outbox.publish(event)
    consumer = OutboxConsumer(redis, service, block_ms=10)
    await consumer.run_once()
    before = await counts(service)
    for _ in range(2):
        await redis.xgroup_setid(STREAM, "work-orders", "0")  # replay from the start
        assert await consumer.run_once(block=False) == 9
    # And the same events appended to the stream again.
    for _, fields in await redis.xrange(STREAM):
        await redis.xadd(STREAM, fields)
    assert await consumer.run_once(block=False) == 9
    assert await counts(service) == before
    assert (consumer.applied, consumer.duplicates) == (9, 27)


async def test_redis_down_spools_events_and_drains_them_when_it_returns(
    service, clock, redis, redis_server, tmp_path
):
    outbox = Outbox(redis, tmp_path / "spool", timeout=0.25)
    events = events_for(service, clock)
    assert await outbox.publish(events[0]) == "stream"
    redis_server.stop()
    assert await outbox.publish(events[1]) == "spool"
    # once spooling, later events go straight to the spool: no call waits on Redis again
    assert outbox.spooling
    assert [await outbox.publish(e) for e in events[2:]] == ["spool"] * 7
    lines = (tmp_path / "spool" / "order-events.spool.jsonl").read_text().splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [e.event_id for e in events[1:]]
    assert await outbox.drain() == 0  # still down: nothing lost, nothing moved
    redis_server.start()
    # Redis is back, but the spool is not drained yet: order is kept.
    late = StatusChanged(
        order_id=events[0].order_id, to_status="in_progress", actor="d", at=clock.now
    )
    assert await outbox.publish(late) == "spool"
    assert await outbox.drain() == 9
    assert not outbox.spooling and not outbox.spool.pending()
    assert (
        await outbox.publish(
            StatusChanged(order_id=events[0].order_id, to_status="replied", actor="d", at=clock.now)
        )
        == "stream"
    )
    stream_ids = [json.loads(f[b"event"])["event_id"] for _, f in await redis.xrange(STREAM)]
    assert stream_ids == [e.event_id for e in events] + [late.event_id] + stream_ids[-1:]
    consumer = OutboxConsumer(redis, service, block_ms=10)
    assert await consumer.run_once(block=False) == 11
    assert await counts(service) == (3, 11)
    assert (await service.record(events[0].order_id))["status"] == "replied"


async def test_events_spooled_before_a_restart_go_first(service, clock, redis, tmp_path):
    events = events_for(service, clock, n=1)
    Spool(tmp_path / "spool").append(events[0].to_json())
    outbox = Outbox(redis, tmp_path / "spool")
    assert outbox.spooling
    assert await outbox.publish(events[1]) == "spool"
    assert await outbox.drain() == 2
    consumer = OutboxConsumer(redis, service, block_ms=10)
    await consumer.run_once(block=False)
    assert (await service.record(events[0].order_id))["summary"] == "s"


async def test_unresponsive_redis_spools_the_event_after_the_timeout(tmp_path):
    """A Redis that accepts and never answers: the publish gives up on it (the outbox's
    own timeout, not socket_timeout's 2 s) and the event is in the spool."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    client = make_redis(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    outbox = Outbox(client, tmp_path, timeout=0.2)
    event = StatusChanged(order_id="WO-x", to_status="assigned", actor="a", at=datetime.now(UTC))
    assert await outbox.publish(event) == "spool"
    assert outbox.spooling
    lines = (tmp_path / "order-events.spool.jsonl").read_text().splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [event.event_id]
    silent.close()
    await client.aclose()


async def test_database_outage_leaves_events_pending_until_it_returns(
    service, clock, redis, tmp_path
):
    class Outage:
        down = True

        async def apply(self, event):
            if self.down:
                raise OperationalError("INSERT", {}, ConnectionRefusedError("db down"))
            return await service.apply(event)

    outbox = Outbox(redis, tmp_path / "spool")
    for event in events_for(service, clock):
        await outbox.publish(event)
    flaky = Outage()
    consumer = OutboxConsumer(redis, flaky, block_ms=10, backoff=(0.01, 0.05))
    with pytest.raises(OperationalError):
        await consumer.run_once()
    assert (await redis.xpending(STREAM, "work-orders"))["pending"] > 0
    # The run loop backs off and keeps trying; the database comes back.
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0.1)
    flaky.down = False
    for _ in range(200):
        if await counts(service) == (3, 9):
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert await counts(service) == (3, 9)
    assert (await redis.xpending(STREAM, "work-orders"))["pending"] == 0


async def test_real_unreachable_database_loses_nothing(service, clock, redis, tmp_path):
    from services.work_orders.db import make_engine, make_session_factory
    from services.work_orders.service import WorkOrderService

    from .conftest import free_port

    dead_engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    unreachable = WorkOrderService(make_session_factory(dead_engine), clock, service.calendar)
    outbox = Outbox(redis, tmp_path / "spool")
    for event in events_for(service, clock, n=1):
        await outbox.publish(event)
    with pytest.raises(OSError):
        await OutboxConsumer(redis, unreachable, block_ms=10).run_once()
    await dead_engine.dispose()
    # Same consumer name after a restart: its pending messages come first.
    assert await OutboxConsumer(redis, service, block_ms=10).run_once(block=False) == 3
    assert await counts(service) == (1, 3)


async def test_event_that_never_applies_goes_to_the_dead_letter_stream(
    service, clock, redis, tmp_path
):
    outbox = Outbox(redis, tmp_path / "spool")
    await outbox.publish(
        StatusChanged(
            order_id="WO-20261123-000000000000", to_status="assigned", actor="a", at=clock.now
        )
    )
    await redis.xadd(STREAM, {"event": "not json"})
    consumer = OutboxConsumer(redis, service, block_ms=10, max_attempts=3)
    for _ in range(3):
        await consumer.run_once(block=False)
    dead = await redis.xrange(DEAD_STREAM)
    assert len(dead) == 2 and consumer.dead == 2
    reasons = sorted(fields[b"reason"].decode() for _, fields in dead)
    assert reasons[0].startswith("order_not_found") and reasons[1].startswith("unreadable")
    assert (await redis.xpending(STREAM, "work-orders"))["pending"] == 0


async def test_event_about_an_order_opened_later_waits_for_it(service, clock, redis, tmp_path):
    first, second, _ = events_for(service, clock, n=1)
    outbox = Outbox(redis, tmp_path / "spool")
    await outbox.publish(second)
    await outbox.publish(first)
    consumer = OutboxConsumer(redis, service, block_ms=10)
    await consumer.run_once(block=False)  # second refused, first applied
    await consumer.run_once(block=False)  # second retried from pending
    assert (await service.record(first.order_id))["summary"] == "s"
    assert consumer.dead == 0


async def test_spool_applies_straight_to_the_database_once(service, clock, tmp_path):
    outbox = Outbox(None, tmp_path / "spool")  # embedded mode: no Redis at all
    for event in events_for(service, clock):
        assert await outbox.publish(event) == "spool"
    assert await apply_spool(outbox.spool, service) == 9
    assert await counts(service) == (3, 9)
    assert await apply_spool(outbox.spool, service) == 0
    assert await counts(service) == (3, 9)


async def test_spool_replayed_twice_creates_no_duplicates(service, clock, tmp_path):
    events = events_for(service, clock)
    for directory in ("a", "b"):
        spool = Spool(tmp_path / directory)
        for event in events:
            spool.append(event.to_json())
        await apply_spool(spool, service)
    assert await counts(service) == (3, 9)


async def test_drain_interrupted_midway_resumes_without_resending(tmp_path):
    spool = Spool(tmp_path)
    for n in range(5):
        spool.append(json.dumps({"n": n}))
    sent = []

    async def flaky_sink(lines):
        if len(sent) >= 2:
            raise ConnectionError("redis went away")
        sent.extend(lines)

    from services.work_orders.outbox import drain_spool

    with pytest.raises(ConnectionError):
        await drain_spool(spool, flaky_sink, batch=2)
    assert spool.pending()

    async def sink(lines):
        sent.extend(lines)

    assert await drain_spool(spool, sink, batch=2) == 3
    assert [json.loads(line)["n"] for line in sent] == [0, 1, 2, 3, 4]
    assert not spool.pending()


async def test_torn_last_line_is_set_aside_and_the_next_event_survives(tmp_path):
    spool = Spool(tmp_path)
    spool.append(json.dumps({"n": 1}))
    with spool.path.open("a") as f:
        f.write('{"n": 2, "tor')  # crash mid-write
    spool = Spool(tmp_path)  # restart
    spool.append(json.dumps({"n": 3}))
    got = []

    async def sink(lines):
        got.extend(json.loads(line)["n"] for line in lines)

    from services.work_orders.outbox import drain_spool

    await drain_spool(spool, sink)
    assert got == [1, 3]
    assert "tor" in spool.rejected.read_text()


async def test_memory_outbox_keeps_events_in_order(clock):
    outbox = MemoryOutbox()
    event = StatusChanged(order_id="WO-1", to_status="assigned", actor="a", at=clock.now)
    assert await outbox.publish(event) == "memory"
    assert outbox.events == [event]
    assert OrderEvent.from_json(event.to_json()) == event


async def test_a_refused_event_inside_a_batch_rolls_back_alone(service, clock, redis, tmp_path):
    events = events_for(service, clock)
    stray = StatusChanged(order_id="WO-20261123-000000000000", to_status="assigned", actor="a",
                          at=clock.now)   # about an order nobody opened
    outbox = Outbox(redis, tmp_path / "spool")
    for event in events[:4] + [stray] + events[4:]:
        await outbox.publish(event)
    consumer = OutboxConsumer(redis, service, block_ms=10)
    assert await consumer.run_once(block=False) == 9     # one transaction, the stray left out
    assert await counts(service) == (3, 9)
    for event in events[::3]:                            # every audit trail whole, in order
        seqs = [entry["seq"] for entry in (await service.record(event.order_id))["history"]]
        assert len(seqs) >= 3 and seqs == list(range(1, len(seqs) + 1))
    assert (await redis.xpending(STREAM, "work-orders"))["pending"] == 1


async def test_a_batch_goes_to_the_stream_in_order_or_all_of_it_to_the_spool(
    service, clock, redis, redis_server, tmp_path
):
    """What the controller's publishers send under load: many events, one round trip."""
    outbox = Outbox(redis, tmp_path / "spool", timeout=0.5)
    events = events_for(service, clock)
    assert await outbox.publish_many(events[:5]) == "stream"

    def text(value):
        return value.decode() if isinstance(value, bytes) else value

    entries = await redis.xrange(STREAM)
    assert [text(fields[b"event_id"] if b"event_id" in fields else fields["event_id"])
            for _, fields in entries] == [e.event_id for e in events[:5]]
    redis_server.stop()
    assert await outbox.publish_many(events[5:]) == "spool"
    lines = (tmp_path / "spool" / "order-events.spool.jsonl").read_text().splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [e.event_id for e in events[5:]]
    redis_server.start()
    assert await outbox.drain() == 4
    assert await OutboxConsumer(redis, service, block_ms=10).run_once() == 9
    assert await counts(service) == (3, 9)


async def test_a_lingering_consumer_applies_a_trickle_in_one_batch(service, clock, redis, tmp_path):
    """Events that arrive while the consumer lingers join its batch: one transaction."""
    outbox = Outbox(redis, tmp_path / "spool")
    events = events_for(service, clock)
    batches: list[int] = []
    apply_many = service.apply_many

    async def counting(batch):
        batches.append(len(batch))
        return await apply_many(batch)

    service.apply_many = counting
    consumer = OutboxConsumer(redis, service, block_ms=10, linger_s=1.0)
    await consumer.ensure_group()
    await outbox.publish(events[0])

    async def trickle():
        for event in events[1:]:
            await asyncio.sleep(0.01)
            await outbox.publish(event)

    feeding = asyncio.ensure_future(trickle())
    assert await consumer.run_once() == 9
    await feeding
    assert batches == [9]
    assert await counts(service) == (3, 9)


async def test_publishers_queued_behind_a_round_trip_share_the_next_one(
    service, clock, redis, tmp_path
):
    """Group commit: while one publish is in flight, the others queue, and the next
    round trip carries all of theirs, each publisher's events in order and together."""
    outbox = Outbox(redis, tmp_path / "spool", timeout=0.5)
    trips = []
    send = outbox._pipelined

    def counted(entries):
        trips.append([event_id for _, event_id, _ in entries])
        return send(entries)

    outbox._pipelined = counted
    events = events_for(service, clock)
    a, b, c = events[:3], events[3:6], events[6:]
    assert await asyncio.gather(outbox.publish_many(a), outbox.publish_many(b),
                                outbox.publish_many(c)) == ["stream"] * 3
    assert trips == [[e.event_id for e in a], [e.event_id for e in b + c]]
    entries = await redis.xrange(STREAM)
    assert len(entries) == 9
    assert await OutboxConsumer(redis, service, block_ms=10).run_once() == 9


async def test_a_failed_round_trip_fails_every_publisher_it_carried(tmp_path):
    """The spool could not be written either: each publisher carried is told (and
    retries its own events), none is left waiting."""
    outbox = Outbox(None, tmp_path / "spool")

    def broken(payloads):
        raise OSError("disk full")

    outbox._spool.append_many = broken
    event = StatusChanged(order_id="WO-x", to_status="assigned", actor="a", at=datetime.now(UTC))
    # the first leads a round trip alone; the second leads the next, carrying the third
    results = await asyncio.gather(*(outbox.publish_many([event]) for _ in range(3)),
                                   return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["OSError", "OSError", "OutboxError"]


async def test_a_publisher_takes_what_comes_within_its_window_in_one_batch():
    """Events that trickle in (one a call, 40 calls a second) leave in one round trip."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    queue.put_nowait(1)

    async def later() -> None:   # runs only once the publisher waits: no clock involved
        queue.put_nowait(2)
        queue.put_nowait(3)

    feeder = asyncio.create_task(later())
    assert await gather_batch(queue, window_s=0.01) == [1, 2, 3]
    await feeder
    queue.put_nowait(4)
    assert await gather_batch(queue, window_s=0) == [4]   # no window: what is queued now


async def test_a_full_batch_does_not_wait_for_its_window():
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(5):
        queue.put_nowait(n)
    batch = await asyncio.wait_for(gather_batch(queue, window_s=3600, limit=5), 5)
    assert batch == [0, 1, 2, 3, 4]


async def test_kept_events_wait_in_the_spool_and_go_first_at_the_next_start(
    service, clock, redis, tmp_path
):
    """A graceful stop keeps what was only in memory; the next process sends it before
    anything newer, and the consumer applies each event once."""
    events = events_for(service, clock)
    stopping = Outbox(redis, tmp_path / "spool")
    assert await stopping.publish(events[0]) == "stream"
    stopping.keep(events[:4])   # events[0] was in a batch in hand: it may go twice
    assert stopping.spooling

    started = Outbox(redis, tmp_path / "spool")
    assert started.spooling   # the kept events go first
    assert await started.publish(events[4]) == "spool"
    assert await started.drain() == 5
    assert [json.loads(f[b"event"])["event_id"] for _, f in await redis.xrange(STREAM)] == [
        e.event_id for e in [events[0], *events[:5]]]
    assert await started.publish_many(events[5:]) == "stream"
    consumer = OutboxConsumer(redis, service, block_ms=10)
    await consumer.run_once()
    assert await counts(service) == (3, 9)
    assert (consumer.applied, consumer.duplicates) == (9, 1)


def test_keeping_nothing_leaves_no_spool(tmp_path):
    outbox = Outbox(None, tmp_path / "spool")
    outbox.keep([])
    assert not outbox.spool.pending()


async def test_a_cancelled_gather_leaves_its_batch_in_hand():
    queue, hand = asyncio.Queue(), []
    for item in (1, 2, 3):
        queue.put_nowait(item)
    task = asyncio.create_task(gather_batch(queue, window_s=3600, limit=10, hand=hand))
    while not hand:
        await asyncio.sleep(0)
    queue.put_nowait(4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert unpublished(hand, queue) == [1, 2, 3, 4]
    assert not hand and queue.empty()
