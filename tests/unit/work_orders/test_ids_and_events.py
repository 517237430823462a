import re
from datetime import UTC, datetime

import pytest

from services.call_log.events import CallArrivalLogged, CallEndLogged, CallStepLogged
from services.work_orders.events import (
    EVENT_TYPES,
    NegotiationRecorded,
    OrderEvent,
    OrderOpened,
    OrderTransferred,
    StatusChanged,
    SummaryUpdated,
    TransferFailed,
)
from services.work_orders.ids import is_order_id, new_event_id, new_order_id, platform_of

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def test_work_and_police_order_ids_carry_platform_and_date():
    wo, po = new_order_id("12345", NOW), new_order_id("110", NOW)
    assert re.fullmatch(r"WO-20261122-[0-9A-Z]{12}", wo)
    assert re.fullmatch(r"PO-20261122-[0-9A-Z]{12}", po)
    assert platform_of(wo) == "12345" and platform_of(po) == "110"


def test_order_ids_are_unique_without_a_database():
    ids = {new_order_id("12345", NOW) for _ in range(20000)}
    assert len(ids) == 20000


def test_order_ids_of_a_day_sort_by_time():
    early = new_order_id("12345", NOW)
    late = new_order_id("12345", NOW.replace(hour=10))
    assert early < late


def test_order_id_is_safe_in_a_sip_header():
    assert re.fullmatch(r"[A-Za-z0-9-]+", new_order_id("110", NOW))
    assert is_order_id(new_order_id("110", NOW)) and not is_order_id("WO-1; evil")


def test_unknown_platform_is_refused():
    with pytest.raises(ValueError):
        new_order_id("119", NOW)


def test_event_ids_are_time_ordered_and_unique():
    ids = [new_event_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 26 for i in ids)


EVENTS = [
    OrderOpened(
        order_id="WO-20261122-000000000001",
        platform="12345",
        call_id="c1",
        citizen_number="13800138000",
        region_code="620102",
        channel="phone",
        opened_at=NOW,
        suggestion={"target": "110", "reasons": ["threat"]},
        category="dispute",
        level="7d",
    ),
    OrderTransferred(
        source_order_id="WO-20261122-000000000001",
        target_order_id="PO-20261122-000000000001",
        target_platform="110",
        mode="three_way",
        actor="agent-7",
        at=NOW,
    ),
    NegotiationRecorded(order_id="WO-20261122-000000000001", actor="agent-7", key="2", at=NOW),
    TransferFailed(order_id="WO-20261122-000000000001", reason="busy", at=NOW),
    SummaryUpdated(order_id="WO-20261122-000000000001", actor="agent-7", at=NOW, summary="s"),
    StatusChanged(order_id="WO-20261122-000000000001", to_status="assigned", actor="a", at=NOW),
    # the call log rides the same outbox (services/call_log/events.py registers these)
    CallArrivalLogged(call_id="c1", site="12345", platform="12345", origin_site="12345",
                      via_trunk=False, citizen_number="13800138000",
                      order_id="WO-20261122-000000000001",
                      linked_order_id="PO-20261122-000000000001", at=NOW),
    CallStepLogged(call_id="c1", step="transfer_failed", at=NOW, detail={"reason": "busy"}),
    CallEndLogged(call_id="c1", at=NOW, by="citizen", state="connected", taken_by="12345"),
]


def test_every_event_kind_is_covered():
    assert {type(e) for e in EVENTS} == set(EVENT_TYPES.values())


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_event_json_round_trip_keeps_id_and_fields(event):
    again = OrderEvent.from_json(event.to_json())
    assert again == event and again.event_id == event.event_id


def test_opened_event_id_is_natural_so_repeats_collapse():
    first, second = EVENTS[0], OrderEvent.from_json(EVENTS[0].to_json().replace("c1", "c2"))
    assert first.event_id == second.event_id == "WO-20261122-000000000001:opened"


def test_status_events_get_distinct_ids():
    kwargs = {"order_id": "WO-1", "to_status": "assigned", "actor": "a", "at": NOW}
    assert StatusChanged(**kwargs).event_id != StatusChanged(**kwargs).event_id


def test_event_repr_masks_the_citizen_number():
    assert "13800138000" not in repr(EVENTS[0]) and "138****8000" in repr(EVENTS[0])


def test_naive_times_and_unknown_modes_are_refused():
    with pytest.raises(ValueError):
        TransferFailed(order_id="x", reason="r", at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        OrderTransferred(
            source_order_id="a",
            target_order_id="b",
            target_platform="110",
            mode="teleport",
            actor="x",
            at=NOW,
        )


def test_unknown_fields_from_a_newer_producer_are_ignored():
    data = EVENTS[3].to_dict() | {"new_field": 1}
    assert OrderEvent.from_dict(data) == EVENTS[3]
