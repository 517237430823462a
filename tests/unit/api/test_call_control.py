"""Call control resources: hold, mute and a leg's hang-up through the call's machine, with
role checks; callbacks placed on an order, audited; a site's queue."""
from __future__ import annotations

import pytest

from tests.unit.api.conftest import CITIZEN, MASKED, auth, open_order

BASE = "/api/v1"


@pytest.mark.parametrize("control", ["hold", "unhold", "mute", "unmute"])
async def test_the_agent_on_the_call_posts_a_control_through_the_desk(client, desk, control):
    desk.add_call("c1", site="12345", seat="1001", allowed_controls=[control])
    resp = await client.post(f"{BASE}/calls/c1/{control}", headers=auth("agent1001"))
    assert resp.status == 202
    assert await resp.json() == {"call_id": "c1", "control": control, "accepted": True}
    assert desk.controls == [("c1", control)]


async def test_a_control_the_state_does_not_accept_is_409_and_not_posted(client, desk):
    desk.add_call("c1", site="12345", seat="1001", state="waiting",
                  allowed_controls=["hangup_citizen"])
    resp = await client.post(f"{BASE}/calls/c1/hold", headers=auth("agent1001"))
    body = await resp.json()
    assert resp.status == 409 and body["error_id"] == "control_not_allowed"
    assert body["details"]["allowed"] == ["hangup_citizen"] and desk.controls == []


@pytest.mark.parametrize(("user", "status", "error_id"), [
    ("agent1002", 403, "not_your_call"),      # a colleague's call
    ("agent2001", 403, "other_site"),          # the other platform
    ("sup", 403, "other_site"),                # a supervisor without this site
    ("dept_housing", 403, "role_forbidden"),   # a department user has no call control
])
async def test_only_the_calls_agent_or_its_sites_supervisor_controls_it(client, desk, user,
                                                                       status, error_id):
    desk.add_call("c1", site="12345", seat="1001", allowed_controls=["mute"])
    resp = await client.post(f"{BASE}/calls/c1/mute", headers=auth(user))
    assert resp.status == status
    assert (await resp.json())["error_id"] == error_id
    assert desk.controls == []


async def test_a_sites_supervisor_hangs_up_a_leg(client, desk):
    desk.add_call("c1", site="12345", seat="1001", allowed_controls=["hangup_target"])
    resp = await client.post(f"{BASE}/calls/c1/legs/target/hangup", headers=auth("sup12345"))
    assert resp.status == 202
    assert desk.controls == [("c1", "hangup_target")]


async def test_unknown_leg_and_unknown_call_are_clear_errors(client, desk):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await client.post(f"{BASE}/calls/c1/legs/bogus/hangup", headers=auth("agent1001"))
    assert resp.status in (400, 404, 422)
    assert "error_id" in await resp.json()
    resp = await client.post(f"{BASE}/calls/gone/hold", headers=auth("agent1001"))
    assert resp.status == 404 and (await resp.json())["error_id"] == "call_not_found"


# ---- callbacks ----------------------------------------------------------------------------
async def test_an_agent_calls_the_orders_citizen_back_from_their_own_seat(client, desk, orders,
                                                                         deps):
    entries = []
    object.__setattr__(deps, "audit", entries.append)
    order_id = await open_order(orders, "12345")
    resp = await client.post(f"{BASE}/orders/{order_id}/callback", json={},
                             headers=auth("agent1001"))
    body = await resp.json()
    assert resp.status == 202, body
    assert desk.callbacks == [("12345", order_id, CITIZEN, "1001")]
    assert body["seat"] == "1001" and body["citizen_number"] == MASKED
    assert [e["what"] for e in entries] == ["callback"]
    assert entries[0]["number"] == MASKED and CITIZEN not in str(entries[0])


@pytest.mark.parametrize(("user", "payload", "status", "error_id"), [
    ("agent1001", {"seat": "1002"}, 403, "not_your_seat"),
    ("agent2001", {}, 403, "other_platform"),     # a 110 seat calling a 12345 citizen
    ("ops", {}, 409, "site_required"),
    ("sup12345", {"site": "110"}, 403, "other_site"),
    ("agent1001", {"seat": "10&01"}, 422, "invalid_body"),
])
async def test_callback_refusals(client, desk, orders, user, payload, status, error_id):
    order_id = await open_order(orders, "12345")
    resp = await client.post(f"{BASE}/orders/{order_id}/callback", json=payload,
                             headers=auth(user))
    assert resp.status == status
    assert (await resp.json())["error_id"] == error_id
    assert desk.callbacks == []


async def test_a_busy_seat_cannot_place_a_callback_and_an_unknown_order_is_404(client, desk,
                                                                             orders):
    desk.seat_states[("12345", "1001")] = "busy"
    order_id = await open_order(orders, "12345")
    resp = await client.post(f"{BASE}/orders/{order_id}/callback", json={},
                             headers=auth("agent1001"))
    assert resp.status == 409 and (await resp.json())["error_id"] == "seat_busy"
    resp = await client.post(f"{BASE}/orders/WO-20261123-000000000000/callback", json={},
                             headers=auth("sup12345"))
    assert resp.status == 404


# ---- the queue -----------------------------------------------------------------------------
async def test_the_queue_lists_waiting_calls_and_seats_for_the_sites_people(client, desk):
    desk.add_call("w1", site="12345", seat=None)
    desk.seat_states[("12345", "1001")] = "busy"
    resp = await client.get(f"{BASE}/sites/12345/queue", headers=auth("agent1001"))
    body = await resp.json()
    assert resp.status == 200
    assert [w["call_id"] for w in body["waiting"]] == ["w1"]
    assert body["seats"][0]["state"] == "busy"
    for user, status in (("agent2001", 403), ("sup12345", 200), ("ops", 200)):
        resp = await client.get(f"{BASE}/sites/12345/queue", headers=auth(user))
        assert resp.status == status, user
    resp = await client.get(f"{BASE}/sites/nowhere/queue", headers=auth("ops"))
    assert resp.status == 404
