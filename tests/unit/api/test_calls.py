"""Calls: who sees which calls and numbers, and actions through the same keys."""
from __future__ import annotations

import pytest

from services.api.desk import ACTION_KEYS
from tests.unit.api.conftest import CITIZEN, MASKED, auth

BASE = "/api/v1"


async def test_agent_lists_only_own_site_calls_with_numbers_masked_except_own_call(client, desk):
    desk.add_call("c-own", site="12345", seat="1001")
    desk.add_call("c-colleague", site="12345", seat="1002")
    desk.add_call("c-police", site="110", seat="2001")
    resp = await client.get(f"{BASE}/calls", headers=auth("agent1001"))
    assert resp.status == 200
    calls = {c["call_id"]: c for c in (await resp.json())["calls"]}
    assert set(calls) == {"c-own", "c-colleague"}
    assert calls["c-own"]["citizen_number"] == CITIZEN
    assert calls["c-colleague"]["citizen_number"] == MASKED


async def test_supervisor_sees_whole_numbers_and_ops_sees_them_masked(client, desk):
    desk.add_call("c1", site="110", seat="2001")
    sup = await (await client.get(f"{BASE}/calls/c1", headers=auth("sup"))).json()
    ops = await (await client.get(f"{BASE}/calls/c1", headers=auth("ops"))).json()
    assert sup["citizen_number"] == CITIZEN
    assert ops["citizen_number"] == MASKED


async def test_site_filter_and_site_bound_supervisor(client, desk):
    desk.add_call("c1", site="12345")
    desk.add_call("c2", site="110", seat="2001")
    listed = await (await client.get(f"{BASE}/calls?site=110", headers=auth("sup"))).json()
    assert [c["call_id"] for c in listed["calls"]] == ["c2"]
    own = await (await client.get(f"{BASE}/calls", headers=auth("sup12345"))).json()
    assert [c["call_id"] for c in own["calls"]] == ["c1"]


async def test_agent_reading_another_sites_call_gets_403(client, desk):
    desk.add_call("c-police", site="110", seat="2001")
    resp = await client.get(f"{BASE}/calls/c-police", headers=auth("agent1001"))
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "other_site"


async def test_unknown_call_is_404(client):
    resp = await client.get(f"{BASE}/calls/nope", headers=auth("sup"))
    assert resp.status == 404
    assert (await resp.json())["error_id"] == "call_not_found"


@pytest.mark.parametrize(("action", "key"), sorted(ACTION_KEYS.items()))
async def test_each_action_posts_its_key_through_the_desk(client, desk, action, key):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await client.post(f"{BASE}/calls/c1/actions/{action}", headers=auth("agent1001"))
    assert resp.status == 202
    assert await resp.json() == {"call_id": "c1", "action": action, "key": key,
                                 "accepted": True}
    assert desk.pressed == [("c1", key)]


async def test_an_action_the_calls_state_would_refuse_is_409_and_presses_nothing(client, desk):
    desk.add_call("c1", site="12345", seat="1001", allowed_actions=["transfer", "three_way"])
    resp = await client.post(f"{BASE}/calls/c1/actions/suggested_line", headers=auth("agent1001"))
    assert resp.status == 409
    body = await resp.json()
    assert body["error_id"] == "action_not_allowed"
    assert body["details"]["allowed"] == ["transfer", "three_way"]
    assert desk.pressed == []
    resp = await client.post(f"{BASE}/calls/c1/actions/transfer", headers=auth("agent1001"))
    assert resp.status == 202 and desk.pressed == [("c1", "*1")]


async def test_unknown_action_is_404_and_presses_nothing(client, desk):
    desk.add_call("c1")
    resp = await client.post(f"{BASE}/calls/c1/actions/explode", headers=auth("agent1001"))
    assert resp.status == 404
    assert (await resp.json())["error_id"] == "unknown_action"
    assert desk.pressed == []


async def test_police_agent_cannot_act_on_a_12345_call(client, desk):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await client.post(f"{BASE}/calls/c1/actions/transfer", headers=auth("agent2001"))
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "other_site"
    assert desk.pressed == []


async def test_token_of_another_site_of_the_same_platform_cannot_act(client, desk):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await client.post(f"{BASE}/calls/c1/actions/keep", headers=auth("agent3001"))
    assert resp.status == 403
    assert desk.pressed == []


async def test_agent_cannot_press_keys_on_a_colleagues_call(client, desk):
    desk.add_call("c1", site="12345", seat="1002")
    resp = await client.post(f"{BASE}/calls/c1/actions/cancel", headers=auth("agent1001"))
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "not_your_call"


async def test_site_supervisor_may_act_but_siteless_supervisor_and_ops_may_not(client, desk):
    desk.add_call("c1", site="12345", seat="1002")
    ok = await client.post(f"{BASE}/calls/c1/actions/cancel", headers=auth("sup12345"))
    siteless = await client.post(f"{BASE}/calls/c1/actions/cancel", headers=auth("sup"))
    ops = await client.post(f"{BASE}/calls/c1/actions/cancel", headers=auth("ops"))
    assert (ok.status, siteless.status, ops.status) == (202, 403, 403)
    assert (await ops.json())["error_id"] == "role_forbidden"
    assert desk.pressed == [("c1", "*0")]


async def test_unanswered_call_or_refused_post_is_409(client, desk):
    desk.add_call("c-waiting", seat=None)
    resp = await client.post(f"{BASE}/calls/c-waiting/actions/transfer",
                             headers=auth("agent1001"))
    assert resp.status == 409
    desk.add_call("c1", seat="1001")
    desk.accept_keys = False
    resp = await client.post(f"{BASE}/calls/c1/actions/transfer", headers=auth("agent1001"))
    assert resp.status == 409
    assert (await resp.json())["error_id"] == "call_not_answered"


async def test_agent_summary_resuggests_and_only_the_answering_agent_may_write_it(client, desk):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await client.put(f"{BASE}/calls/c1/summary", headers=auth("agent1001"),
                            json={"summary": "邻居打架动刀了"})
    assert resp.status == 200
    body = await resp.json()
    assert body["changed"] is True and body["suggestion"]["target"] == "110"
    assert desk.summaries == [("c1", "邻居打架动刀了", "api:agent1001")]
    other = await client.put(f"{BASE}/calls/c1/summary", headers=auth("agent1002"),
                             json={"summary": "x"})
    assert other.status == 403
    empty = await client.put(f"{BASE}/calls/c1/summary", headers=auth("agent1001"), json={})
    assert empty.status == 422
