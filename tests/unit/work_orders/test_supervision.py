from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.work_orders.db import make_session_factory
from services.work_orders.levels import Calendar, Pause
from services.work_orders.reports import SupervisionPolicy
from services.work_orders.service import WorkOrderService
from services.work_orders.supervision import SupervisionScheduler

from .helpers import drive, open_order

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("level", "period"),
    [
        ("2h", timedelta(hours=2)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("15d", timedelta(days=15)),
    ],
)
async def test_stored_deadline_follows_each_level(service, clock, level, period):
    order_id = await open_order(service, level=level)
    record = await service.record(order_id)
    assert datetime.fromisoformat(record["deadline_at"]) == clock.now + period


async def test_stored_deadline_skips_holidays_for_day_levels(engine, clock):
    # Opened Monday 23 Nov; 25-27 Nov declared holidays.
    holidays = frozenset(date(2026, 11, d) for d in (25, 26, 27))
    service = WorkOrderService(make_session_factory(engine), clock, Calendar(holidays=holidays))
    general = await service.record(await open_order(service, level="7d"))
    urgent = await service.record(await open_order(service, level="2h"))
    assert datetime.fromisoformat(general["deadline_at"]) == clock.now + timedelta(days=10)
    assert datetime.fromisoformat(urgent["deadline_at"]) == clock.now + timedelta(hours=2)


async def test_order_is_overdue_only_after_its_deadline_without_reply(service, clock):
    late = await open_order(service, level="2h")
    on_time = await open_order(service, level="2h")
    await drive(service, on_time, "replied")
    clock.advance(hours=1, minutes=59)
    assert not await service.overdue(late)
    clock.advance(minutes=2)
    assert await service.overdue(late)
    assert not await service.overdue(on_time)
    await drive_from_received_to_reply(service, late)
    assert await service.overdue(late)  # replied late stays overdue in the record


async def drive_from_received_to_reply(service, order_id):
    await service.assign(order_id, "d", "a")
    await service.transition(order_id, "in_progress", "d")
    await service.transition(order_id, "replied", "d", outcome="done")


async def test_supervise_issues_a_notice_once_the_deadline_passes(service, clock):
    order_id = await open_order(service, level="2h")
    assert await service.supervise() == []
    clock.advance(hours=2, seconds=1)
    notices = await service.supervise()
    assert [(n.order_id, n.tier, n.escalated) for n in notices] == [(order_id, 1, False)]
    assert await service.supervise() == []  # not issued twice
    board = await service.board()
    assert [(b.order_id, b.tier) for b in board] == [(order_id, 1)]
    assert (await service.record(order_id))["history"][-1]["kind"] == "supervision"


async def test_notice_escalates_after_a_second_period(service, clock):
    order_id = await open_order(service, level="24h")
    clock.advance(hours=25)
    assert [n.tier for n in await service.supervise()] == [1]
    clock.advance(hours=23)  # 48 h since opening, exactly at the escalation time
    assert await service.supervise() == []
    clock.advance(hours=1, seconds=1)
    escalated = await service.supervise()
    assert [(n.order_id, n.tier, n.escalated) for n in escalated] == [(order_id, 2, True)]
    assert (await service.board())[0].tier == 2


async def test_escalation_periods_are_configurable_and_capped(engine, clock):
    policy = SupervisionPolicy(max_tier=2, escalate_after={"7d": timedelta(days=1)})
    service = WorkOrderService(make_session_factory(engine), clock, Calendar(), supervision=policy)
    await open_order(service, level="7d")
    clock.advance(days=30)
    assert [n.tier for n in await service.supervise()] == [1, 2]
    assert await service.supervise() == []


async def test_replied_transferred_and_closed_orders_are_not_supervised(service, clock):
    replied = await open_order(service, level="2h")
    await drive(service, replied, "replied")
    transferred = await open_order(service, level="2h")
    await service.transfer(transferred, "handover", "agent-1")
    duplicate = await open_order(service, level="2h")
    await service.mark_duplicate(duplicate, replied, "agent-1")
    clock.advance(hours=3)
    notices = await service.supervise()
    # Only the linked 110 order that the transfer opened is still waiting.
    assert {n.platform for n in notices} == {"110"}
    assert replied not in {n.order_id for n in notices}


async def test_board_drops_an_order_once_it_is_replied(service, clock):
    order_id = await open_order(service, level="2h")
    clock.advance(hours=3)
    await service.supervise()
    await drive_from_received_to_reply(service, order_id)
    assert await service.board() == []


async def test_no_notices_during_a_pause_and_the_pause_extends_the_deadline(engine, clock):
    pause = Pause(clock.now + timedelta(hours=1), clock.now + timedelta(hours=5), "系统维护")
    service = WorkOrderService(make_session_factory(engine), clock, Calendar(pauses=(pause,)))
    order_id = await open_order(service, level="2h")
    record = await service.record(order_id)
    assert datetime.fromisoformat(record["deadline_at"]) == clock.now + timedelta(hours=6)
    clock.advance(hours=4)
    assert await service.supervise() == []
    clock.advance(hours=2, seconds=1)
    assert [n.tier for n in await service.supervise()] == [1]


async def test_scheduler_runs_supervision_and_hands_notices_on(service, clock):
    await open_order(service, level="2h")
    clock.advance(hours=3)
    seen = []

    async def on_notices(notices):
        seen.extend(notices)

    scheduler = SupervisionScheduler(service, interval=0.01, on_notices=on_notices)
    assert len(await scheduler.run_once()) == 1
    assert len(seen) == 1


async def test_scheduler_survives_a_database_error(clock):
    calls = []

    class BrokenService:
        async def supervise(self):
            calls.append(1)
            raise OSError("database is down")

    scheduler = SupervisionScheduler(BrokenService(), interval=0.01)
    assert await scheduler.run_once() == []
    assert calls
