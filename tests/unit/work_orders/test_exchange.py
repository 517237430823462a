import io
import json
from datetime import datetime

import pytest

from services.work_orders.db import make_engine, make_session_factory
from services.work_orders.errors import InvalidOrder
from services.work_orders.exchange import CSV_COLUMNS, ORDER_FIELDS, SCHEMA_PATH, record_problems
from services.work_orders.service import WorkOrderService

from .helpers import CITIZEN, open_order

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


async def populate(service, clock):
    """Orders touching every part of a record: transfer, feedback, visit, notice, duplicate."""
    wo = await open_order(
        service, category="dispute", summary='噪音扰民, 多次协调无果, 含逗号,和"引号"'
    )
    po = await service.transfer(wo, "three_way", "agent-7")
    await service.assign(po, "城关派出所", "agent-110")
    clock.advance(days=8)
    await service.supervise()
    await service.transition(po, "in_progress", "police")
    await service.transition(po, "replied", "police", outcome="已调解\n双方签字")
    await service.record_visit(po, "visitor", resolved=True, satisfied=False, note="嫌慢")
    dup = await open_order(service)
    await service.mark_duplicate(dup, wo, "agent-7")
    await service.submit_online(
        "12345",
        citizen_number="+8613900139000",
        region_code="620102001",
        summary="online",
        level="15d",
    )
    return wo, po, dup


async def export(service, fmt):
    buffer = io.StringIO()
    count = await service.export(buffer, fmt)
    return buffer.getvalue(), count


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_export_import_round_trip_rebuilds_the_same_orders(service, clock, new_database, fmt):
    await populate(service, clock)
    text, count = await export(service, fmt)
    assert count == 4
    engine = make_engine(await new_database())
    try:
        other = WorkOrderService(make_session_factory(engine), clock, service.calendar)
        counts = await other.import_stream(io.StringIO(text), fmt)
        assert counts["orders"] == 4
        again, _ = await export(other, fmt)
        assert again == text
        # Importing twice adds nothing.
        assert await other.import_stream(io.StringIO(text), fmt) == {
            "orders": 0,
            "skipped": 4,
            "entries": 0,
        }
        assert (await export(other, fmt))[0] == text
        # The imported history still drives the service.
        wo = next(r["order_id"] for r in await other.list_orders(status="transferred"))
        assert (await other.view(wo, "agent_12345"))["linked"][0]["status"] == "visited"
    finally:
        await engine.dispose()


async def test_every_exported_record_follows_the_schema(service, clock):
    await populate(service, clock)
    records = [r async for r in service.iter_records()]
    assert len(records) == 4
    for record in records:
        assert record_problems(record) == []


def test_schema_documents_exactly_the_exported_fields():
    assert set(SCHEMA["required"]) == set(SCHEMA["properties"]) == set(CSV_COLUMNS)
    assert set(ORDER_FIELDS) < set(SCHEMA["properties"])
    for name, prop in SCHEMA["properties"].items():
        assert name == "schema" or "description" in prop or "$ref" in prop, name


def test_schema_checker_catches_a_bad_record():
    bad = {"schema": "hotline-link/order/v1", "order_id": "WO-1", "level": "3d", "extra": 1}
    found = record_problems(bad)
    assert {"/order_id", "/level"} <= {e["path"] for e in found}
    assert any("'extra' was unexpected" in e["message"] for e in found)
    assert any("'summary' is a required property" in e["message"] for e in found)


async def test_export_holds_the_whole_number_and_views_mask_it(service, clock):
    await populate(service, clock)
    text, _ = await export(service, "jsonl")
    assert CITIZEN in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "other/v9"}, "/schema"),
        ({"status": "lost"}, "/status"),
        ({"level": "3d"}, "/level"),
        ({"platform": "110"}, "disagree"),
        ({"region_code": "62"}, "/region_code"),
        ({"opened_at": "2026-11-23T09:00:00"}, "offset"),
        ({"summary": None}, "/summary"),
        ({"history": [{"seq": "one"}]}, "/history/0"),
    ],
)
async def test_import_refuses_records_that_break_the_template(service, clock, change, message):
    await open_order(service)
    (record,) = [r async for r in service.iter_records()]
    with pytest.raises(InvalidOrder) as refused:
        await service.import_records([record | change])
    said = [refused.value.message, *(p["path"] for p in refused.value.details.get("problems", []))]
    assert any(message in text for text in said), said


async def test_import_rejects_non_json_lines_with_the_line_number(service):
    with pytest.raises(InvalidOrder, match="line 2"):
        await service.import_stream(io.StringIO("\n{not json\n"), "jsonl")


async def test_open311_services_list_every_category():
    services = WorkOrderService(None, None, None).open311_services()
    assert {
        "service_code": "heat",
        "service_name": "供热",
        "description": "供热 (24h)",
        "metadata": False,
        "type": "realtime",
        "keywords": "暖气,供暖",
        "group": "水电气热",
    } in services


async def test_open311_requests_expect_the_deadline_and_hide_the_citizen(service, clock):
    wo, po, dup = await populate(service, clock)
    requests = {r["service_request_id"]: r for r in await service.open311_requests()}
    police = requests[po]
    assert police["status"] == "open"
    assert police["agency_responsible"] == "城关派出所"
    record = await service.record(po)
    assert datetime.fromisoformat(police["expected_datetime"]) == datetime.fromisoformat(
        record["deadline_at"]
    )
    assert police["expected_datetime"].endswith("+08:00")
    assert requests[wo]["status"] == "closed" and requests[dup]["status"] == "closed"
    assert CITIZEN not in json.dumps(list(requests.values()), ensure_ascii=False)
    assert [r["service_request_id"] for r in await service.open311_requests(ids=[po])] == [po]
    assert {r["status"] for r in await service.open311_requests(status="open")} == {"open"}
    assert all(
        r["service_code"] == "dispute"
        for r in await service.open311_requests(service_code="dispute")
    )
