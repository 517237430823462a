"""Redis on Sentinel: the primary is SIGKILLed in the middle of calls. The replica is
promoted, no citizen is dropped, and every order is written exactly once.

The drill adds a replica and three Sentinels to the running lab (what `hotline lab up
--redis sentinel` starts), runs the controller through the Sentinels, and at the end
switches the primary back (a planned SENTINEL FAILOVER, the second failover the
controller rides through) and leaves the lab as it found it.
"""
from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from sqlalchemy import select

from telephony.lab.sipp import free_udp_port, register_seat, start_sipp
from tests.integration.conftest import (
    CITIZEN_IP,
    SEAT_IP,
    assert_site_clean,
    on_demand,
    report,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.drill]

CITIZEN = "13700137200"


async def _audit_kinds(settings, order_ids: set[str]) -> dict[str, Counter]:
    """Each order's history as a count of its kinds, read straight from the database."""
    from services.work_orders import db
    from services.work_orders.models import AuditEntry

    engine = db.make_engine(settings.db_url or db.default_url(settings.data_dir))
    try:
        async with db.make_session_factory(engine)() as session:
            rows = (await session.execute(
                select(AuditEntry.order_id, AuditEntry.kind)
                .where(AuditEntry.order_id.in_(order_ids)))).all()
    finally:
        await engine.dispose()
    kinds: dict[str, Counter] = {order_id: Counter() for order_id in order_ids}
    for order_id, kind in rows:
        kinds[order_id][kind] += 1
    return kinds


@on_demand
async def test_redis_primary_killed_during_calls_replica_promoted_no_call_dropped_orders_once(
        lab, settings, probes, orders):
    calls, per_time = 10, 5
    ha = lab.redis_ha
    site = settings.site("12345")
    target = f"{site.address}:{site.sip_port}"
    seat_ids = [str(1001 + i) for i in range(per_time)]
    port = free_udp_port(SEAT_IP)
    seats_ua = citizens = None
    lab.start_redis_ha()
    try:
        lab.stop_controller()
        lab.start_controller()          # now it finds the primary through the Sentinels
        lab.wait_controller()
        for seat in seat_ids:
            await register_seat(seat, settings.credentials.seat_password(seat), target,
                                contact_ip=SEAT_IP, contact_port=port)
        await wait_until(lambda: list((lab.health() or {}).get("seats", {}).get("12345", {})
                                      .values()).count("available") >= per_time,
                         15, what=f"{per_time} seats on duty")
        seats_ua = await start_sipp("seat_answer.xml", "", local_ip=SEAT_IP, local_port=port,
                                    service=seat_ids[0], calls=calls, timeout_s=150,
                                    name="sentinel-seats")
        citizens = await start_sipp(
            "citizen.xml", target, local_ip=CITIZEN_IP, service=site.service_number,
            calls=calls, variables={"citizen": CITIZEN},
            extra=["-d", "6000", "-r", "2", "-l", str(per_time)], timeout_s=150,
            name="sentinel-citizens")

        async def bridged() -> int:
            return sum(len(b["channels"]) == 2 for b in await probes["12345"].bridges())
        await wait_until(lambda: _at_least(bridged, 3), 20, what="calls bridged")

        before = ha.primary_address()
        assert before == f"{ha.primary.host}:{ha.primary.port}"
        lab.book.stop("redis", sig=signal.SIGKILL)        # the primary, mid-call
        t0 = time.monotonic()
        promoted = f"{ha.replica.host}:{ha.replica.port}"
        await wait_until(lambda: ha.primary_address() == promoted, 20, interval=0.1,
                         what="the replica promoted by the Sentinels")
        failover_s = time.monotonic() - t0

        assert await citizens.wait(120) == 0, citizens.output()   # every call completed
        assert await seats_ua.wait(120) == 0, seats_ua.output()
        order_ids = {m.header("X-Work-Order") for m in seats_ua.received("INVITE")}
        assert len(order_ids) == calls
        for order_id in order_ids:
            record = await orders(order_id, timeout=30)
            assert record["citizen_number"] == CITIZEN
        health = await wait_until(lambda: (h := lab.health() or {}) and not h["orders"]["spooling"]
                                  and h["orders"]["pending"] == 0 and h, 30,
                                  what="the outbox drained to the promoted primary")

        # the same call ten times: the same history ten times; an event applied twice
        # would show as one more line in one order, and they would never agree
        async def one_history():
            kinds = await _audit_kinds(settings, order_ids)
            return len({tuple(sorted(c.items())) for c in kinds.values()}) == 1 and kinds
        kinds = await wait_until(one_history, 30, interval=0.5, what="one history per call")
        assert all(counter["status"] >= 1 for counter in kinds.values()), kinds
        assert health["orders"]["pending"] == 0

        # the old primary comes back as a replica; then a planned switch back to it
        lab.restart_redis_member("redis")
        await wait_until(lambda: ha.replicas_seen() >= 1 and _replica_synced(ha), 30,
                         interval=0.5, what="the old primary back as a replica")
        ha.failover()
        await wait_until(lambda: ha.primary_address() == before, 30, interval=0.2,
                         what="the primary switched back")
        citizen = await start_sipp("citizen.xml", target, local_ip=CITIZEN_IP,
                                   service=site.service_number, calls=1,
                                   variables={"citizen": CITIZEN}, extra=["-d", "500"],
                                   timeout_s=60, name="sentinel-after")
        seats_after = await start_sipp("seat_answer.xml", "", local_ip=SEAT_IP,
                                       local_port=port, service=seat_ids[0], calls=1,
                                       timeout_s=60, name="sentinel-seats-after")
        assert await citizen.wait(60) == 0, citizen.output()
        assert await seats_after.wait(60) == 0, seats_after.output()
        after = seats_after.received("INVITE")[0].header("X-Work-Order")
        await orders(after, timeout=30)
    finally:
        for ua in (seats_ua, citizens):
            if ua is not None:
                ua.stop()
        for seat in seat_ids:
            await register_seat(seat, settings.credentials.seat_password(seat), target,
                                contact_ip=SEAT_IP, contact_port=port, expires=0)
        lab.stop_controller()
        ha.stop()
        if not lab.book.running("redis"):
            lab.start_redis()
        lab.start_controller()
        lab.wait_controller()
    await assert_site_clean(probes["12345"])
    report("Redis primary SIGKILL (Sentinel)", calls, 0, 0, failover_s,
           f"replica promoted; {calls} calls completed, each order's history written once")


async def _at_least(count, n: int) -> bool:
    return await count() >= n


def _replica_synced(ha) -> bool:
    import redis

    client = redis.Redis(host=ha.primary.host, port=ha.primary.port,
                         username=ha.sentinel_user, password=ha.password, socket_timeout=1.0)
    try:
        with client:
            role = client.execute_command("ROLE")
            return role[0] in (b"slave", "slave") and role[3] in (b"connected", "connected")
    except redis.RedisError:
        return False
