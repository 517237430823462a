"""The live event stream: each user gets their share, numbers masked as the desk rules say."""
from __future__ import annotations

import aiohttp
import pytest

from services.api.events import EventHub, visible
from tests.unit.api.conftest import CITIZEN, MASKED, auth, make_accounts, token

BASE = "/api/v1"
MARKER = {"type": "call_state", "call_id": "marker"}


async def _connect(client, user: str, via_query: bool = False):
    if via_query:
        ws = await client.ws_connect(f"{BASE}/events", params={"token": token(user)})
    else:
        ws = await client.ws_connect(f"{BASE}/events", headers=auth(user))
    hello = await ws.receive_json()
    assert hello == {"type": "hello", "user": hello["user"]}
    assert hello["user"]["name"] == user
    return ws


async def test_incoming_call_pop_up_goes_to_the_rung_seat_only(client, hub: EventHub):
    own = await _connect(client, "agent1001")
    colleague = await _connect(client, "agent1002")
    hub.publish({"type": "call_incoming", "site": "12345", "platform": "12345", "seat": "1001",
                 "call_id": "c1", "citizen_number": CITIZEN, "order_id": "WO-x"})
    hub.publish(MARKER)
    popup = await own.receive_json()
    assert popup["type"] == "call_incoming"
    assert popup["citizen_number"] == CITIZEN
    assert await colleague.receive_json() == MARKER
    await own.close()
    await colleague.close()


async def test_site_and_platform_scoping_and_masking(client, hub: EventHub):
    police = await _connect(client, "agent2001", via_query=True)
    sup = await _connect(client, "sup")
    ops = await _connect(client, "ops")
    state = {"type": "call_state", "site": "12345", "platform": "12345", "call_id": "c1",
             "state": "transfer_ringing", "call": {"citizen_number": CITIZEN, "seat": "1001"}}
    hub.publish(state)
    hub.publish({"type": "supervision", "platform": "12345", "order_id": "WO-1", "tier": 1})
    hub.publish(MARKER)
    assert await police.receive_json() == MARKER
    assert (await sup.receive_json())["call"]["citizen_number"] == CITIZEN
    assert (await ops.receive_json())["call"]["citizen_number"] == MASKED
    for ws in (police, sup, ops):
        await ws.close()


async def test_stream_needs_credentials_and_a_websocket(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(f"{BASE}/events", params={"token": "ops:wrong"})
    assert refused.value.status == 401
    plain = await client.get(f"{BASE}/events", headers=auth("ops"))
    assert plain.status == 426
    assert (await plain.json())["error_id"] == "upgrade_required"


async def test_shutdown_closes_every_stream(client, hub: EventHub):
    ws = await _connect(client, "ops")
    hub.close()
    message = await ws.receive()
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert hub.subscribers == 0


async def test_slow_reader_loses_the_oldest_events_and_is_told(hub: EventHub):
    ops = make_accounts().get("ops")
    with hub.subscribe(ops) as subscription:
        for n in range(10):          # the queue holds 8
            hub.publish({"type": "call_state", "n": n})
        assert await subscription.get() == {"type": "events_lost", "count": 2}
        assert (await subscription.get())["n"] == 2
    assert hub.subscribers == 0


def test_roles_key_limits_who_sees_an_event():
    accounts = make_accounts()
    event = {"type": "supervision", "roles": ["supervisor"]}
    assert visible(accounts.get("sup"), event) == event
    assert visible(accounts.get("ops"), event) is None


def test_an_event_needs_a_type(hub: EventHub):
    with pytest.raises(TypeError):
        hub.publish({"call_id": "c1"})
