"""The call-log API and service levels: filters, paging, CSV, roles, site scope, the
number search's audit, and hostile query strings."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.api import API_PREFIX, ApiDeps
from services.call_log.events import CallArrivalLogged, CallEndLogged, CallStepLogged
from tests.unit.api.conftest import CITIZEN, MASKED, START, auth, mount

OTHER = "13900139000"


@pytest.fixture
def audit() -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def client(deps: ApiDeps, audit: list[dict[str, Any]]) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(mount(replace(deps, audit=audit.append)))) as test_client:
        yield test_client


async def get(client: TestClient, user: str, path: str) -> tuple[int, Any]:
    resp = await client.get(API_PREFIX + path, headers=auth(user))
    return resp.status, await resp.json()


async def log_call(orders, call_id: str, site: str, *, answer: float | None, end: float,
                   number: str = CITIZEN, seat: str = "1001",
                   order: str = "WO-20261123-000000000001", minute: int = 0) -> None:
    t0 = START + timedelta(minutes=minute)
    events: list = [CallArrivalLogged(
        call_id=call_id, site=site, platform="110" if site == "110" else "12345",
        origin_site=site, via_trunk=False, citizen_number=number, order_id=order,
        linked_order_id="PO-20261123-000000000001", at=t0)]
    if answer is not None:
        events.append(CallStepLogged(call_id=call_id, step="seat_answered", seat=seat,
                                     at=t0 + timedelta(seconds=answer)))
    events.append(CallEndLogged(call_id=call_id, at=t0 + timedelta(seconds=end), by="citizen",
                                state="connected" if answer is not None else "waiting"))
    for event in events:
        assert await orders.apply(event)


@pytest.fixture
async def calls(orders) -> None:
    await log_call(orders, "a1", "12345", answer=3, end=63)
    await log_call(orders, "a2", "12345", answer=None, end=21, number=OTHER, minute=5)
    await log_call(orders, "a3", "12345", answer=18, end=48, seat="1002", minute=10,
                   order="WO-20261123-000000000003")
    await log_call(orders, "b1", "110", answer=2, end=12, seat="2001", number=OTHER,
                   order="PO-20261123-000000000007", minute=20)


async def test_lists_pages_and_totals_newest_first(client, calls):
    status, body = await get(client, "sup", "/call-log?limit=2")
    assert status == 200 and body["total"] == 4 and body["next"] == 2
    assert [i["call_id"] for i in body["items"]] == ["b1", "a3"]
    _, last = await get(client, "sup", "/call-log?limit=2&offset=2")
    assert [i["call_id"] for i in last["items"]] == ["a2", "a1"] and last["next"] is None
    first = last["items"][1]
    assert (first["wait_s"], first["handled_s"], first["seat"], first["ended_by"],
            first["outcome"], first["citizen_number"]) == (3.0, 60.0, "1001", "citizen",
                                                           "answered", CITIZEN)


@pytest.mark.parametrize("query, expected", [
    ("site=110", ["b1"]), ("seat=1002", ["a3"]), ("outcome=abandoned", ["a2"]),
    ("outcome=answered,abandoned&site=12345", ["a1", "a2", "a3"]),
    ("order=WO-20261123-000000000003", ["a3"]),
    ("order=PO-20261123-000000000001", ["a1", "a2", "a3", "b1"]),
    (f"number=%2B86{CITIZEN}", ["a1", "a3"]),
    ("since=2026-11-23T01:04:00Z&until=2026-11-23T01:15:00Z", ["a2", "a3"]),
])
async def test_filters(client, calls, query, expected):
    status, body = await get(client, "sup", f"/call-log?{query}")
    assert status == 200, body
    assert sorted(i["call_id"] for i in body["items"]) == expected
    assert body["total"] == len(expected)


async def test_site_scope_and_roles(client, calls):
    _, own = await get(client, "sup12345", "/call-log")
    assert {i["site"] for i in own["items"]} == {"12345"} and own["total"] == 3
    status, body = await get(client, "sup12345", "/call-log?site=110")
    assert status == 403 and body["error_id"] == "other_site"
    status, _ = await get(client, "agent1001", "/call-log")
    assert status == 403
    status, body = await get(client, "ops", f"/call-log?number={CITIZEN}")
    assert status == 403 and body["error_id"] == "number_search_forbidden"
    _, masked = await get(client, "ops", "/call-log?site=12345&outcome=answered")
    assert {i["citizen_number"] for i in masked["items"]} == {MASKED}
    status, _ = await get(client, "sup12345", "/call-log/b1")
    assert status == 404
    status, one = await get(client, "sup12345", "/call-log/a1")
    assert status == 200 and [s["step"] for s in one["steps"]] == ["seat_answered", "ended"]


async def test_number_searches_are_audited_without_the_number(client, calls, audit):
    await get(client, "sup", f"/call-log?number={CITIZEN}")
    resp = await client.get(API_PREFIX + f"/call-log/export?number={CITIZEN}",
                            headers=auth("sup"))
    await resp.read()
    await get(client, "sup", "/call-log")     # no number: no audit line
    assert [(a["what"], a["orders_shown"]) for a in audit] == [
        ("call_log_search", 2), ("call_log_export", 2)]
    assert CITIZEN not in repr(audit)


async def test_csv_export_streams_every_match(client, calls):
    resp = await client.get(API_PREFIX + "/call-log/export?site=12345", headers=auth("sup"))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["X-Call-Count"] == "3"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert sorted(r["call_id"] for r in rows) == ["a1", "a2", "a3"]
    assert {r["call_id"]: r["outcome"] for r in rows}["a2"] == "abandoned"


@pytest.mark.parametrize("query", [
    "site=", "seat=10a1", "number=abc", "outcome=won", "order=../../etc", "limit=0",
    "since=yesterday", "limit=99999999999999", "site=" + "x" * 40, "offset=-1"])
async def test_hostile_queries_are_400_with_a_json_error(client, query):
    status, body = await get(client, "sup", f"/call-log?{query}")
    assert status == 400 and body["error_id"] == "bad_query"


async def test_service_levels_by_hand(client, calls):
    status, body = await get(
        client, "sup", "/reports/service-levels?since=2026-11-23T01:00:00Z"
        "&until=2026-11-23T03:00:00Z&site=12345")
    assert status == 200, body
    first, empty = body["rows"]
    # a1 waited 3 s (answered, 60 s handled), a2 left after 21 s, a3 waited 18 s (30 s)
    assert (first["offered"], first["answered"], first["abandoned"]) == (3, 2, 1)
    assert first["answer_rate"] == round(2 / 3, 4)
    assert first["within_15s_rate"] == round(1 / 3, 4)
    assert first["within_20s_rate"] == round(2 / 3, 4)
    assert first["abandonment_rate"] == round(1 / 3, 4)
    assert first["average_wait_s"] == round((3 + 21 + 18) / 3, 3)
    assert first["p90_wait_s"] == 21.0
    assert first["average_handling_s"] == 45.0
    assert empty["offered"] == 0 and empty["answer_rate"] is None


async def test_service_levels_refuse_a_backwards_or_huge_range(client):
    for query in ("since=2026-11-23T03:00:00Z&until=2026-11-23T01:00:00Z",
                  "since=2026-01-01T00:00:00Z&until=2026-11-23T01:00:00Z"):
        status, body = await get(client, "sup", f"/reports/service-levels?{query}")
        assert status == 400 and body["error_id"] == "bad_range"
    status, _ = await get(client, "sup12345", "/reports/service-levels?site=110")
    assert status == 403
