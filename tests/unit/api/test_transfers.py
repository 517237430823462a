"""Transfers and three-ways as resources: create, read, cancel, complete, keep; who may;
every bad body a 4xx with a JSON error."""
from __future__ import annotations

import pytest

from tests.unit.api.conftest import auth

BASE = "/api/v1"


async def _create(client, who="agent1001", **body):
    return await client.post(f"{BASE}/transfers", headers=auth(who),
                             json={"call_id": "c1", "target": "platform", **body})


async def test_an_agent_transfers_their_call_and_reads_it_back(client, desk, transfers):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await _create(client, flow="blind", timeout=30)
    assert resp.status == 201
    created = await resp.json()
    assert (created["status"], created["flow"], created["timeout_s"]) == ("ringing", "blind", 30)
    got = await client.get(f"{BASE}/transfers/{created['transfer_id']}", headers=auth("sup"))
    assert got.status == 200 and (await got.json())["transfer_id"] == created["transfer_id"]
    listed = await (await client.get(f"{BASE}/transfers?call_id=c1",
                                     headers=auth("agent1001"))).json()
    assert [t["transfer_id"] for t in listed["transfers"]] == [created["transfer_id"]]


async def test_a_second_transfer_while_one_runs_is_409_naming_it(client, desk):
    desk.add_call("c1", site="12345", seat="1001")
    first = await (await _create(client)).json()
    resp = await client.post(f"{BASE}/three-ways", headers=auth("agent1001"),
                             json={"call_id": "c1", "target": "platform"})
    assert resp.status == 409
    error = await resp.json()
    assert error["error_id"] == "transfer_running"
    assert error["details"]["transfer_id"] == first["transfer_id"]


async def test_delete_cancels_once_then_409(client, desk, transfers):
    desk.add_call("c1", site="12345", seat="1001")
    created = await (await _create(client)).json()
    path = f"{BASE}/transfers/{created['transfer_id']}"
    resp = await client.delete(path, headers=auth("agent1001"))
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    again = await client.delete(path, headers=auth("agent1001"))
    assert again.status == 409 and (await again.json())["error_id"] == "transfer_ended"
    assert transfers.requests == [("start", created["transfer_id"]),
                                  ("cancel", created["transfer_id"])]


async def test_complete_releases_the_agent_of_a_warm_transfer(client, desk):
    desk.add_call("c1", site="12345", seat="1001")
    created = await (await _create(client)).json()
    resp = await client.put(f"{BASE}/transfers/{created['transfer_id']}/complete",
                            headers=auth("agent1001"))
    assert resp.status == 200
    assert (await resp.json())["agent_released"] is True


async def test_only_the_starting_seat_or_its_sites_supervisor_moves_a_transfer(client, desk):
    desk.add_call("c1", site="12345", seat="1001")
    created = await (await _create(client)).json()
    path = f"{BASE}/transfers/{created['transfer_id']}"
    colleague = await client.delete(path, headers=auth("agent1002"))
    assert colleague.status == 403 and (await colleague.json())["error_id"] == "not_your_call"
    police = await client.get(path, headers=auth("agent2001"))
    assert police.status == 403
    anywhere = await client.delete(path, headers=auth("sup"))   # a supervisor with no site
    assert anywhere.status == 403
    assert (await client.delete(path, headers=auth("sup12345"))).status == 200


async def test_an_agent_may_not_transfer_someone_elses_call(client, desk):
    desk.add_call("c1", site="12345", seat="1002")
    resp = await _create(client)
    assert resp.status == 403 and (await resp.json())["error_id"] == "not_your_call"
    assert (await _create(client, who="ops")).status == 403
    assert (await _create(client, who="dept_housing")).status == 403


@pytest.mark.parametrize("body, status, error_id", [
    ({"line": "119"}, 422, "invalid_body"),                       # a line with target platform
    ({"target": "line", "line": "999"}, 422, "unknown_line"),
    ({"target": "line", "line": "119;x"}, 422, "invalid_body"),
    ({"flow": "attended"}, 422, "invalid_body"),
    ({"timeout": 999}, 422, "invalid_body"),
    ({"timeout": "20"}, 422, "invalid_body"),
    ({"unknown": 1}, 422, "invalid_body"),
    ({"call_id": "no-such-call"}, 404, "call_not_found"),
    ({"call_id": "../c1"}, 422, "invalid_body"),
])
async def test_bad_requests_get_a_clear_error_and_change_nothing(client, desk, transfers, body,
                                                                 status, error_id):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await _create(client, **body)
    assert resp.status == status
    error = await resp.json()
    assert set(error) == {"error_id", "message", "details"}
    assert error["error_id"] == error_id
    assert transfers.records() == []


async def test_a_three_way_is_kept_or_completed_only_once_answered(client, desk, transfers):
    desk.add_call("c1", site="12345", seat="1001")
    resp = await client.post(f"{BASE}/three-ways", headers=auth("agent1001"),
                             json={"call_id": "c1", "target": "platform", "timeout": 15})
    assert resp.status == 201
    three_way = await resp.json()
    path = f"{BASE}/three-ways/{three_way['transfer_id']}"
    assert three_way["kind"] == "three_way" and three_way["flow"] is None
    early = await client.put(f"{path}/keep", headers=auth("agent1001"))
    assert early.status == 409
    transfers.records_by_id[three_way["transfer_id"]]["status"] = "answered"
    done = await client.put(f"{path}/complete", headers=auth("agent1001"))
    assert done.status == 200 and (await done.json())["status"] == "completed"
    # a three-way is not a transfer, nor the reverse
    wrong = await client.get(f"{BASE}/transfers/{three_way['transfer_id']}",
                             headers=auth("sup"))
    assert wrong.status == 404 and (await wrong.json())["error_id"] == "transfer_not_found"


async def test_without_a_transfer_desk_the_operations_answer_503(client, deps, desk):
    object.__setattr__(deps, "transfers", None)
    desk.add_call("c1", site="12345", seat="1001")
    resp = await _create(client)
    assert resp.status == 503 and (await resp.json())["error_id"] == "unavailable"


async def test_the_document_lists_the_new_operations(client):
    document = await (await client.get(f"{BASE}/openapi.json", headers=auth("ops"))).json()
    paths = document["paths"]
    assert set(paths[f"{BASE}/transfers"]) == {"get", "post"}
    assert set(paths[f"{BASE}/transfers/{{transfer_id}}"]) == {"get", "delete"}
    assert "put" in paths[f"{BASE}/transfers/{{transfer_id}}/complete"]
    assert "put" in paths[f"{BASE}/three-ways/{{three_way_id}}/keep"]
    schemas = document["components"]["schemas"]
    assert {"Transfer", "EventTransferCreated", "EventTransferEnded"} <= set(schemas)
