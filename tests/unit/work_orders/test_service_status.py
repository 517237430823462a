import itertools
from datetime import timedelta

import pytest
from sqlalchemy import text

from services.work_orders.errors import IllegalTransition, InvalidOrder, OrderNotFound
from services.work_orders.status import TRANSITIONS, Status

from .helpers import CITIZEN, drive, open_order


async def test_every_call_opens_a_received_order_with_a_deadline(service, clock):
    order_id = await open_order(service, category="heat")
    record = await service.record(order_id)
    assert record["status"] == "received"
    assert record["citizen_number"] == CITIZEN
    assert record["level"] == "24h"
    assert record["deadline_at"] == (clock.now + timedelta(hours=24)).isoformat()
    assert [(e["from_status"], e["to_status"]) for e in record["history"]] == [(None, "received")]


async def test_every_legal_and_illegal_move_on_the_database(service):
    failures = []
    for current, target in itertools.product(Status, Status):
        order_id = await open_order(service)
        await drive(service, order_id, current)
        legal = target in TRANSITIONS[current]
        try:
            await service.transition(
                order_id,
                target,
                "agent-2",
                note="test",
                department="d",
                next_steps="n",
                outcome="o",
            )
        except IllegalTransition:
            if legal:
                failures.append(f"{current}->{target} refused")
            record = await service.record(order_id)
            if record["status"] != current:
                failures.append(f"{current}->{target} refused but status changed")
            continue
        if not legal:
            failures.append(f"{current}->{target} allowed")
        record = await service.record(order_id)
        last = record["history"][-1]
        if (record["status"], last["from_status"], last["to_status"], last["actor"]) != (
            target,
            current,
            target,
            "agent-2",
        ):
            failures.append(f"{current}->{target} not recorded: {last}")
    assert not failures, failures


async def test_every_change_writes_an_audit_entry_with_actor_time_and_note(service, clock):
    order_id = await open_order(service)
    clock.advance(minutes=5)
    await service.assign(order_id, "城关区住建局", "agent-9", note="属地管理")
    entry = (await service.record(order_id))["history"][-1]
    assert entry == {
        "seq": 2,
        "kind": "status",
        "actor": "agent-9",
        "at": clock.now.isoformat(),
        "from_status": "received",
        "to_status": "assigned",
        "note": "属地管理",
        "data": None,
    }


async def test_audit_log_refuses_updates_and_deletes(service, engine):
    await open_order(service)
    for statement in ("UPDATE order_audit SET note = 'forged'", "DELETE FROM order_audit"):
        with pytest.raises(Exception, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))


async def test_assigning_needs_a_department(service):
    order_id = await open_order(service)
    with pytest.raises(InvalidOrder):
        await service.transition(order_id, "assigned", "agent-1")


async def test_complex_order_reply_must_report_next_steps(service):
    order_id = await open_order(service, level="15d")
    await service.assign(order_id, "市信访局", "agent-1")
    await service.transition(order_id, "in_progress", "dept")
    with pytest.raises(InvalidOrder, match="next steps"):
        await service.transition(order_id, "replied", "dept", outcome="研究中")
    await service.transition(order_id, "replied", "dept", next_steps="下周联合现场会商")
    assert (await service.record(order_id))["next_steps"] == "下周联合现场会商"


async def test_unknown_order_is_a_clear_error(service):
    with pytest.raises(OrderNotFound):
        await service.transition("WO-20261123-000000000000", "assigned", "a", department="d")


async def test_agent_changes_summary_and_category_and_deadline_follows(service, clock):
    order_id = await open_order(service, category=None)
    assert (await service.record(order_id))["level"] == "7d"
    await service.update_details(order_id, "agent-1", summary="小区停暖三天", category="heat")
    record = await service.record(order_id)
    assert (record["summary"], record["category"], record["level"]) == (
        "小区停暖三天",
        "heat",
        "24h",
    )
    assert record["history"][-1]["kind"] == "details"
    await service.update_details(order_id, "agent-1", level="2h")
    await service.update_details(order_id, "agent-1", category="water")
    assert (await service.record(order_id))["level"] == "2h"  # set by hand: kept


async def test_replaying_an_event_applies_it_once(service):
    from .helpers import opened

    event = opened(service)
    assert await service.apply(event) is True
    assert await service.apply(event) is False
    assert len((await service.record(event.order_id))["history"]) == 1
