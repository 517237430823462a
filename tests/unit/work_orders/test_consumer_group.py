"""One consumer group, a name per controller: what a dead consumer read is claimed by
another, applied once; names left with nothing pending are forgotten."""
import os
import socket

from sqlalchemy.exc import OperationalError

from services.work_orders.consumer import OutboxConsumer
from services.work_orders.outbox import STREAM, Outbox
from services.work_orders.worker import consumer_name

from .test_outbox import counts, events_for

GROUP = "work-orders"


class Dead:
    """A consumer's database that fails after the stream was read: it dies holding them."""

    async def apply(self, event):
        raise OperationalError("INSERT", {}, ConnectionRefusedError("killed"))

    async def apply_many(self, events):
        raise OperationalError("INSERT", {}, ConnectionRefusedError("killed"))


async def names(redis) -> dict[str, int]:
    return {(c["name"].decode() if isinstance(c["name"], bytes) else c["name"]): c["pending"]
            for c in await redis.xinfo_consumers(STREAM, GROUP)}


async def test_what_a_dead_consumer_read_is_claimed_by_another_after_the_idle_bound(
        service, clock, redis, tmp_path):
    outbox = Outbox(redis, tmp_path / "spool")
    for event in events_for(service, clock):
        await outbox.publish(event)
    dead = OutboxConsumer(redis, Dead(), consumer="orders-ctl-a", block_ms=10)
    try:
        await dead.run_once(block=False)
    except OperationalError:
        pass
    assert (await names(redis))["orders-ctl-a"] == 9
    patient = OutboxConsumer(redis, service, consumer="orders-ctl-b", block_ms=10,
                             claim_idle_ms=3_600_000)
    assert await patient.run_once(block=False) == 0          # not idle long enough: left alone
    assert (await names(redis))["orders-ctl-a"] == 9
    claiming = OutboxConsumer(redis, service, consumer="orders-ctl-b", block_ms=10,
                              claim_idle_ms=0)
    assert await claiming.run_once(block=False) == 9
    assert await counts(service) == (3, 9)
    assert (await redis.xpending(STREAM, GROUP))["pending"] == 0
    assert await claiming.run_once(block=False) == 0         # and applied once
    assert (claiming.applied, claiming.duplicates) == (9, 0)


async def test_a_consumer_name_with_nothing_pending_is_forgotten_after_the_bound(
        service, clock, redis, tmp_path):
    outbox = Outbox(redis, tmp_path / "spool")
    await outbox.publish(events_for(service, clock, n=1)[0])
    gone = OutboxConsumer(redis, service, consumer="orders-old-pid", block_ms=10)
    assert await gone.run_once(block=False) == 1
    keeper = OutboxConsumer(redis, service, consumer="orders-new-pid", block_ms=10,
                            forget_idle_ms=3_600_000)
    await keeper.run_once(block=False)
    assert set(await names(redis)) == {"orders-old-pid", "orders-new-pid"}
    forgetting = OutboxConsumer(redis, service, consumer="orders-new-pid", block_ms=10,
                                forget_idle_ms=0)
    await forgetting.run_once(block=False)
    assert set(await names(redis)) == {"orders-new-pid"}


async def test_a_consumer_holding_pending_entries_is_never_forgotten(
        service, clock, redis, tmp_path):
    outbox = Outbox(redis, tmp_path / "spool")
    await outbox.publish(events_for(service, clock, n=1)[0])
    try:
        await OutboxConsumer(redis, Dead(), consumer="orders-dead", block_ms=10).run_once()
    except OperationalError:
        pass
    await OutboxConsumer(redis, service, consumer="orders-live", block_ms=10,
                         claim_idle_ms=3_600_000, forget_idle_ms=0).run_once(block=False)
    assert (await names(redis))["orders-dead"] == 1


def test_each_controller_names_its_own_consumer():
    assert consumer_name("ctl-7") == "orders-ctl-7"
    assert consumer_name() == f"orders-{socket.gethostname()}-{os.getpid()}"


def test_the_controller_id_setting_names_the_consumer():
    from telephony.order_db import OrderDatabase
    from telephony.settings import load_settings

    settings = load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_CONTROLLER_ID": "hl-east-2"})
    database = OrderDatabase(settings, outbox=None, publish=lambda data: None)
    assert database.consumer_name == "orders-hl-east-2"
    assert database.consumer_state()["name"] == "orders-hl-east-2"
    unnamed = OrderDatabase(load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_API_PORT": "8093"}),
                            outbox=None, publish=lambda data: None)
    assert unnamed.consumer_name == f"orders-{socket.gethostname()}-8093"   # same after a restart
