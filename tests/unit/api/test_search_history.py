"""Order search (filters, totals, paging), caller history (whole-number match, role checks,
audit) and the catalogues the desk reads."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.api import API_PREFIX, ApiDeps
from services.work_orders.categories import DEFAULT_CATEGORIES
from services.work_orders.levels import ResponseLevel
from services.work_orders.search import Location, set_location
from tests.unit.api.conftest import CITIZEN, MASKED, auth, mount, open_order

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


async def orders_of(orders, clock, number: str, count: int, platform: str = "12345",
                    **fields: Any) -> list[str]:
    ids = []
    for _ in range(count):
        ids.append(await open_order(orders, platform, citizen_number=number, **fields))
        clock.advance(minutes=1)
    return ids


# ---- caller history -------------------------------------------------------------------------
async def test_history_matches_the_whole_number_in_every_written_form(client, orders, clock,
                                                                       desk):
    mine = await orders_of(orders, clock, CITIZEN, 2)
    mine += await orders_of(orders, clock, "+86" + CITIZEN, 1)
    # same masked form 138****8000, another caller: must not be shown
    await orders_of(orders, clock, "13811118000", 2)
    await orders_of(orders, clock, OTHER, 1)
    desk.add_call("c1", site="12345", seat="1001")
    status, body = await get(client, "agent1001", f"/callers/{CITIZEN}/history")
    assert status == 200
    assert {item["order_id"] for item in body["items"]} == set(mine)
    assert body["total"] == len(mine) and body["next"] is None


async def test_history_is_not_cut_at_the_latest_orders(client, orders, clock, desk):
    mine = await orders_of(orders, clock, CITIZEN, 3)
    await orders_of(orders, clock, OTHER, 30)     # newer orders of someone else
    status, body = await get(client, "sup", f"/callers/{CITIZEN}/history?limit=2")
    assert status == 200 and body["total"] == len(mine) and body["next"] == 2
    status, rest = await get(client, "sup", f"/callers/{CITIZEN}/history?limit=2&offset=2")
    assert {i["order_id"] for i in body["items"] + rest["items"]} == set(mine)
    assert rest["next"] is None


async def test_an_agent_looks_up_only_the_caller_on_their_call(client, orders, clock, desk):
    await orders_of(orders, clock, CITIZEN, 1)
    status, body = await get(client, "agent1001", f"/callers/{CITIZEN}/history")
    assert (status, body["error_id"]) == (403, "not_your_caller")
    desk.add_call("c9", site="12345", seat="1002")            # answered at another seat
    status, _ = await get(client, "agent1001", f"/callers/{CITIZEN}/history")
    assert status == 403
    desk.add_call("c1", site="12345", seat="1001")
    status, _ = await get(client, "agent1001", f"/callers/{CITIZEN}/history")
    assert status == 200
    status, _ = await get(client, "agent1001", f"/callers/{OTHER}/history")
    assert status == 403


async def test_history_keeps_to_the_users_platform_and_ops_gets_none(client, orders, clock,
                                                                    desk):
    twelve = await orders_of(orders, clock, CITIZEN, 1, "12345")
    police = await orders_of(orders, clock, CITIZEN, 1, "110")
    desk.add_call("c1", site="12345", seat="1001")
    _, body = await get(client, "agent1001", f"/callers/{CITIZEN}/history")
    assert [i["order_id"] for i in body["items"]] == twelve
    _, body = await get(client, "sup12345", f"/callers/{CITIZEN}/history")
    assert [i["order_id"] for i in body["items"]] == twelve
    _, body = await get(client, "sup", f"/callers/{CITIZEN}/history")
    assert {i["order_id"] for i in body["items"]} == set(twelve + police)
    status, _ = await get(client, "ops", f"/callers/{CITIZEN}/history")
    assert status == 403


async def test_every_lookup_leaves_an_audit_line_without_the_number(client, orders, clock,
                                                                    desk, audit):
    await orders_of(orders, clock, CITIZEN, 2)
    desk.add_call("c1", site="12345", seat="1001")
    await get(client, "agent1001", f"/callers/{CITIZEN}/history")
    await get(client, "sup", f"/callers/+86{CITIZEN}/history")
    await get(client, "sup", f"/orders/search?number={CITIZEN}")
    assert [(a["user"], a["what"], a["orders_shown"]) for a in audit] == [
        ("agent1001", "caller_history", 2), ("sup", "caller_history", 2),
        ("sup", "order_search", 2)]
    assert {a["number"] for a in audit} == {MASKED}
    assert len({a["number_sha256"] for a in audit}) == 1     # one number, however written
    assert CITIZEN not in repr(audit)


async def test_a_refused_lookup_is_not_audited_as_shown(client, orders, clock, audit):
    await orders_of(orders, clock, CITIZEN, 1)
    status, _ = await get(client, "agent1001", f"/callers/{CITIZEN}/history")
    assert status == 403 and audit == []


# ---- search ---------------------------------------------------------------------------------
async def test_search_combines_filters_and_counts_every_match(client, orders, clock):
    start = clock.now
    water = await orders_of(orders, clock, CITIZEN, 3, category="water")
    housing = await orders_of(orders, clock, CITIZEN, 2, category="housing")
    police = await orders_of(orders, clock, OTHER, 2, "110", category="dispute")
    await orders.transition(housing[0], "rejected", "t")
    _, body = await get(client, "sup", "/orders/search?category=water")
    assert {i["order_id"] for i in body["items"]} == set(water) and body["total"] == 3
    _, body = await get(client, "sup", "/orders/search?category=water,housing&status=received")
    assert {i["order_id"] for i in body["items"]} == set(water + housing[1:])
    _, body = await get(client, "sup", "/orders/search?platform=110")
    assert {i["order_id"] for i in body["items"]} == set(police)
    until = (start + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    _, body = await get(client, "sup", f"/orders/search?until={until}")
    assert [i["order_id"] for i in body["items"]] == water[:2][::-1]
    since = (start + timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    _, body = await get(client, "sup", f"/orders/search?since={since}&region=4103")
    assert body["total"] == len(housing + police)
    _, body = await get(client, "sup", "/orders/search?region=4101")
    assert body["total"] == 0
    _, body = await get(client, "sup", f"/orders/search?number={OTHER}")
    assert {i["order_id"] for i in body["items"]} == set(police)
    assert {i["citizen"] for i in body["items"]} == {OTHER}      # supervisors see it whole


async def test_search_by_level_and_overdue(client, orders, clock):
    urgent = await orders_of(orders, clock, CITIZEN, 1, category="emergency")
    general = await orders_of(orders, clock, CITIZEN, 1, category="housing")
    _, body = await get(client, "sup", "/orders/search?level=2h")
    assert [i["order_id"] for i in body["items"]] == urgent
    clock.advance(hours=3)            # past the 2 h deadline, inside the 7 days
    _, body = await get(client, "sup", "/orders/search?overdue=true")
    assert [i["order_id"] for i in body["items"]] == urgent
    _, body = await get(client, "sup", "/orders/search?overdue=false")
    assert [i["order_id"] for i in body["items"]] == general
    assert await orders.overdue(urgent[0]) and not await orders.overdue(general[0])


async def test_search_pages_with_total_and_next(client, orders, clock):
    ids = await orders_of(orders, clock, CITIZEN, 7)
    seen, offset, pages = [], 0, 0
    while offset is not None:
        _, body = await get(client, "sup", f"/orders/search?limit=3&offset={offset}")
        assert body["total"] == 7
        seen += [i["order_id"] for i in body["items"]]
        offset, pages = body["next"], pages + 1
    assert seen == ids[::-1] and pages == 3


async def test_search_keeps_agents_to_their_platform_and_numbers_to_supervisors(
        client, orders, clock):
    await orders_of(orders, clock, CITIZEN, 1, "12345")
    await orders_of(orders, clock, CITIZEN, 1, "110")
    _, body = await get(client, "agent1001", "/orders/search")
    assert {i["platform"] for i in body["items"]} == {"12345"}
    assert {i["citizen"] for i in body["items"]} == {MASKED}
    status, body = await get(client, "agent1001", "/orders/search?platform=110")
    assert (status, body["error_id"]) == (403, "other_platform")
    status, body = await get(client, "agent1001", f"/orders/search?number={CITIZEN}")
    assert (status, body["error_id"]) == (403, "number_search_forbidden")
    status, body = await get(client, "sup12345", "/orders/search?platform=110")
    assert (status, body["error_id"]) == (403, "other_site")
    status, _ = await get(client, "ops", "/orders/search")
    assert status == 403


async def test_search_refuses_bad_filters(client):
    for query in ("status=lost", "level=3d", "region=41a", "overdue=maybe", "limit=0",
                  "since=2026-11-23T09:00:00", "category=", "number=12"):
        status, body = await get(client, "sup", f"/orders/search?{query}")
        assert (status, body["error_id"]) == (400, "bad_query"), query


async def test_search_shows_an_orders_location(client, orders, clock):
    (order_id,) = await orders_of(orders, clock, CITIZEN, 1)
    await set_location(orders, order_id, Location("洛阳市西工区中州中路 1 号", 34.67, 112.44),
                       "api:sup")
    _, body = await get(client, "sup", "/orders/search")
    assert body["items"][0]["location"] == {"address": "洛阳市西工区中州中路 1 号",
                                            "lat": 34.67, "long": 112.44}
    record = await orders.record(order_id)
    assert record["history"][-1]["kind"] == "details"


@pytest.mark.parametrize("bad", [{"lat": 91.0, "lon": 0.0}, {"lat": 1.0}, {"address": " "},
                                 {"lat": float("nan"), "lon": 1.0}, {}])
def test_a_location_is_validated(bad):
    from services.work_orders.errors import InvalidOrder
    with pytest.raises(InvalidOrder):
        Location(**bad)


# ---- catalogues ----------------------------------------------------------------------------
async def test_categories_and_levels_come_from_the_server(client):
    _, body = await get(client, "agent1001", "/categories")
    assert [c["code"] for c in body["categories"]] == [c.code for c in DEFAULT_CATEGORIES]
    _, body = await get(client, "agent1001", "/levels")
    assert [lv["code"] for lv in body["levels"]] == [str(lv) for lv in ResponseLevel]
    assert {lv["code"]: lv["period_s"] for lv in body["levels"]}["2h"] == int(
        ResponseLevel.URGENT.period.total_seconds())


async def test_an_orders_location_is_set_through_the_api_and_validated(client, orders, clock):
    (order_id,) = await orders_of(orders, clock, CITIZEN, 1)
    put = lambda user, body: client.put(f"{API_PREFIX}/orders/{order_id}/location",
                                        json=body, headers=auth(user))
    for bad in ({"lat": 34.6}, {"lat": 91, "long": 1}, {}, {"address": ""}, {"x": 1}):
        resp = await put("agent1001", bad)
        assert resp.status == 422, bad
    assert (await put("agent2001", {"address": "某路"})).status == 403
    resp = await put("agent1001", {"address": "某路 1 号", "lat": 34.6, "long": 112.4})
    assert resp.status == 200
    _, body = await get(client, "sup", "/orders/search")
    assert body["items"][0]["location"] == {"address": "某路 1 号", "lat": 34.6, "long": 112.4}


def test_the_audit_file_gets_one_json_line_per_lookup(tmp_path):
    import json

    from services.api.callers import JsonlAudit
    sink = JsonlAudit(tmp_path / "lookup-audit.jsonl")
    sink({"user": "sup", "number": MASKED})
    sink({"user": "agent1001", "number": MASKED})
    lines = (tmp_path / "lookup-audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["user"] for line in lines] == ["sup", "agent1001"]
