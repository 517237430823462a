"""Nothing lost: PostgreSQL stops while citizens are calling; every call is
still answered, and once the database is back every call's order exists
exactly once."""
from __future__ import annotations

import asyncio
import os
import time

import pytest

from services.work_orders import db
from services.work_orders.levels import Calendar
from services.work_orders.service import WorkOrderService
from telephony.lab.sipp import free_udp_port, register_seat, start_sipp
from tests.integration.conftest import CITIZEN_IP, SEAT_IP, report, wait_until
from tests.support.postgres import PgCluster, pg_bin

pytestmark = [pytest.mark.integration, pytest.mark.drill]

CALLS = 6


@pytest.fixture
def postgres():
    bin_dir = pg_bin()
    assert bin_dir is not None, "PostgreSQL binaries missing: ./run installs postgresql"
    cluster = PgCluster(bin_dir, fast=False)
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def controller_on(lab, settings):
    """Restart the lab's controller on another database; restore it afterwards."""
    def switch(url: str | None) -> None:
        lab.stop_controller()
        if url:
            os.environ["HOTLINE_DB_URL"] = url
        else:
            os.environ.pop("HOTLINE_DB_URL", None)
        lab.start_controller()
        lab.wait_controller()
    yield switch
    switch(None)


async def test_postgres_outage_during_calls_loses_no_order_and_duplicates_none(
        lab, settings, postgres, controller_on):
    from datetime import UTC, datetime

    await db.upgrade_async(postgres.url)
    controller_on(postgres.url)
    await wait_until(lambda: (lab.health() or {}).get("orders", {}).get("database"), 20,
                     what="controller's order database ready")
    site = settings.site("12345")
    port = free_udp_port(SEAT_IP)
    for seat in ("1001", "1002", "1003"):   # three seats share one answering UA
        await register_seat(seat, settings.credentials.seat_password(seat),
                            f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP,
                            contact_port=port)
    await wait_until(lambda: list((lab.health() or {}).get("seats", {}).get("12345", {})
                                  .values()).count("available") >= 3, 10, what="seats on duty")
    seats = await start_sipp("seat_answer.xml", "", local_ip=SEAT_IP, local_port=port,
                             service="1001", calls=CALLS, timeout_s=90, name="outage-seats")
    citizens = await start_sipp("citizen.xml", f"{site.address}:{site.sip_port}",
                                local_ip=CITIZEN_IP, service="12345", calls=CALLS,
                                variables={"citizen": "13700137000"},
                                extra=["-d", "2500", "-r", "1", "-l", "3"], timeout_s=90)
    try:
        await wait_until(lambda: len(seats.received("INVITE")) >= 2, 20, what="first calls up")
        postgres.stop("fast")                       # the database goes away mid-calls
        await wait_until(lambda: len(seats.received("INVITE")) >= 4, 20,
                         what="calls answered while the database is down")
        await asyncio.sleep(1.0)                    # events pile up in the outbox
        postgres.start()
        assert await citizens.wait(90) == 0, citizens.output()
        assert await seats.wait(90) == 0, seats.output()
    finally:
        seats.stop()
        citizens.stop()
        for seat in ("1001", "1002", "1003"):
            await register_seat(seat, settings.credentials.seat_password(seat),
                                f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP,
                                contact_port=port, expires=0)

    order_ids = [m.header("X-Work-Order") for m in seats.received("INVITE")]
    assert len(order_ids) == CALLS and len(set(order_ids)) == CALLS
    engine = db.make_engine(postgres.url)
    service = WorkOrderService(db.make_session_factory(engine), clock=lambda: datetime.now(UTC),
                               calendar=Calendar())
    try:
        async def all_there():
            rows = await service.list_orders(limit=1000)
            return rows if len(rows) >= CALLS else None
        back = time.monotonic()
        rows = await wait_until(all_there, 30, interval=0.5, what="every order written")
        assert sorted(r["order_id"] for r in rows) == sorted(order_ids)   # each exactly once
        report("PostgreSQL outage", CALLS, 0, 0, time.monotonic() - back,
               "stopped mid-calls; every order written exactly once")
    finally:
        await engine.dispose()
