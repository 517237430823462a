"""Behind Sentinel an order event is published only once a replica holds it: a primary
that dies a moment after XADD must not take the event with it (real redis-servers)."""
from __future__ import annotations

from services.work_orders.outbox import STREAM, Outbox, make_redis

from tests.support.postgres import free_port

from .conftest import RedisServer
from .helpers import opened

REPLICATION = "user replication on >test-redis-pw +psync +replconf +ping"


async def test_with_no_replica_to_confirm_the_event_stays_in_the_spool(
        service, redis, tmp_path):
    outbox = Outbox(redis, tmp_path / "spool", min_replicas=1)
    event = opened(service)
    assert await outbox.publish(event) == "spool"
    assert outbox.spooling
    assert event.event_id in outbox.spool.path.read_text()


async def test_a_replicated_event_is_published_and_a_lagging_one_drains_once_a_replica_is_back(
        service, tmp_path):
    primary = RedisServer(free_port(), tmp_path / "primary", acl_extra=(REPLICATION,))
    (tmp_path / "primary").mkdir()
    primary.start()
    replica = RedisServer(free_port(), tmp_path / "replica", acl_extra=(REPLICATION,),
                          args=("--replicaof", "127.0.0.1", str(primary.port),
                                "--masteruser", "replication", "--masterauth", "test-redis-pw"))
    (tmp_path / "replica").mkdir()
    client = make_redis(primary.url)
    try:
        # a generous timeout: on a loaded machine a replica took over 400 ms to confirm,
        # and this test is about where events go, not how fast
        outbox = Outbox(client, tmp_path / "spool", min_replicas=1, timeout=3.0)
        assert await client.execute_command("WAIT", 1, 50) == 0, "a replica already attached"
        lagging = opened(service)
        assert await outbox.publish(lagging) == "spool"     # no replica yet
        replica.start()
        moved = 0
        for _ in range(100):   # the replica's first sync; the drain retries like run() does
            moved += await outbox.drain()
            if not outbox.spooling:
                break
            await client.execute_command("WAIT", 1, 100)
        assert moved == 1
        assert not outbox.spooling
        second = opened(service)
        assert await outbox.publish(second) == "stream"
        # the lagging event may be in the stream twice (taken, unconfirmed, sent again):
        # the consumer applies an event id once
        ids = {fields[b"event_id"].decode() for _, fields in await client.xrange(STREAM)}
        assert ids == {lagging.event_id, second.event_id}
    finally:
        await client.aclose()
        replica.stop()
        primary.stop()


class NoReplica:
    """What the Sentinels say after a failover, before the lost server is back."""

    async def present(self) -> bool:
        return False


async def test_with_no_live_replica_at_all_events_flow_on_the_primary_alone(
        service, redis, tmp_path, caplog):
    outbox = Outbox(redis, tmp_path / "spool", min_replicas=1, replicas=NoReplica(),
                    timeout=2.0)
    event = opened(service)
    assert await outbox.publish(event) == "stream"
    assert not outbox.spooling
    assert "no live replica" in caplog.text
