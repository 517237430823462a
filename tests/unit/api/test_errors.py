"""Every failure is JSON {error_id, message, details} with the right status; nothing leaks."""
from __future__ import annotations

import json
import logging

import pytest
from aiohttp.test_utils import make_mocked_request

from services.api.errors import ApiError, Conflict, error_middleware
from services.errors import DomainError
from services.work_orders.errors import InvalidOrder, WorkOrderError
from tests.unit.api.conftest import auth

BASE = "/api/v1"


def _is_error(body: dict) -> bool:
    return set(body) == {"error_id", "message", "details"} and isinstance(body["details"], dict)


async def test_unknown_route_is_json_404(client):
    resp = await client.get(f"{BASE}/nothing/here", headers=auth("sup"))
    assert resp.status == 404
    body = await resp.json()
    assert _is_error(body) and body["error_id"] == "not_found"


async def test_wrong_method_is_json_405_with_allow(client):
    resp = await client.delete(f"{BASE}/calls", headers=auth("sup"))
    assert resp.status == 405
    body = await resp.json()
    assert body["error_id"] == "method_not_allowed"
    assert body["details"]["allowed"] == ["GET"]
    assert "GET" in resp.headers["Allow"]


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"NaN", b'{"text": Infinity}',
                                 b"[" * 100_000])
async def test_malformed_bodies_are_400(client, raw):
    resp = await client.post(f"{BASE}/suggestions", data=raw,
                             headers={**auth("agent1001"), "Content-Type": "application/json"})
    assert resp.status == 400
    body = await resp.json()
    assert _is_error(body) and body["error_id"] == "malformed_json"


@pytest.mark.parametrize("payload", [
    [], "text", {"text": 5}, {}, {"text": "x", "extra": 1}, {"text": "x" * 4001},
    {"text": "a\u0000b"}, {"text": "x", "context": {"history": [{"when": "yesterday"}]}},
    {"text": "x", "context": {"history": [{"when": "2026-11-20T10:00:00"}]}},
])
async def test_bodies_breaking_the_schema_are_422_with_problems(client, payload):
    resp = await client.post(f"{BASE}/suggestions", json=payload, headers=auth("agent1001"))
    assert resp.status == 422
    body = await resp.json()
    assert body["error_id"] == "invalid_body"
    assert body["details"]["problems"]


async def test_lone_surrogates_in_text_are_422_not_500(client):
    raw = b'{"text": "\\ud800"}'
    resp = await client.post(f"{BASE}/suggestions", data=raw,
                             headers={**auth("agent1001"), "Content-Type": "application/json"})
    assert resp.status == 422


async def test_bad_query_parameters_are_400(client):
    resp = await client.get(f"{BASE}/orders?limit=lots&status=lost", headers=auth("sup"))
    assert resp.status == 400
    body = await resp.json()
    assert body["error_id"] == "bad_query"
    assert {p["path"] for p in body["details"]["problems"]} == {"/limit", "/status"}
    naive = await client.get(f"{BASE}/reports/rates?since=2026-11-01T00:00:00",
                             headers=auth("sup"))
    assert naive.status == 400


@pytest.mark.parametrize("size", [300 * 1024, 2 * 1024 * 1024])
async def test_too_large_body_is_json_413(client, size):
    resp = await client.post(f"{BASE}/suggestions", data=b"x" * size,
                             headers={**auth("agent1001"), "Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error_id"] == "body_too_large"


async def test_unexpected_failure_is_a_500_with_an_incident_id_and_no_detail(
        client, desk, caplog):
    desk.fail_with = RuntimeError("db password is hunter2")
    with caplog.at_level(logging.ERROR, logger="hotline.api"):
        resp = await client.get(f"{BASE}/calls", headers=auth("sup"))
    assert resp.status == 500
    body = await resp.json()
    assert body["error_id"] == "internal_error"
    assert "hunter2" not in await resp.text()
    incident = body["details"]["incident"]
    assert any(incident in r.getMessage() for r in caplog.records)


async def test_backend_down_is_503(client, desk):
    desk.fail_with = ConnectionRefusedError("redis")
    resp = await client.get(f"{BASE}/calls", headers=auth("sup"))
    assert resp.status == 503
    assert (await resp.json())["error_id"] == "unavailable"


async def test_the_controllers_own_routes_are_untouched(client):
    resp = await client.get("/healthz")
    assert resp.status == 200


async def test_services_that_are_not_up_yet_answer_503_until_they_are(deps):
    from dataclasses import replace

    from aiohttp.test_utils import TestClient, TestServer

    from tests.unit.api.conftest import mount

    ready: list = [None, None]
    lazy = replace(deps, orders=lambda: ready[0], routing=lambda: ready[1])
    async with TestClient(TestServer(mount(lazy))) as client:
        before = await client.get(f"{BASE}/orders", headers=auth("sup"))
        assert before.status == 503
        body = await before.json()
        assert (body["error_id"], body["details"]["service"]) == ("unavailable", "work-order")
        route = await client.post(f"{BASE}/suggestions", json={"text": "停电"},
                                  headers=auth("agent1001"))
        assert route.status == 503
        ready[:] = [deps.orders, deps.routing]
        assert (await client.get(f"{BASE}/orders", headers=auth("sup"))).status == 200
        assert (await client.post(f"{BASE}/suggestions", json={"text": "停电"},
                                  headers=auth("agent1001"))).status == 200


class _Refused(DomainError):
    error_id = "refused_here"
    status = 418


@pytest.mark.parametrize(("error", "status", "error_id", "details"), [
    (_Refused("no tea", kind="green"), 418, "refused_here", {"kind": "green"}),
    (InvalidOrder("bad channel", channel="fax"), 422, "invalid_order", {"channel": "fax"}),
    (Conflict("taken", error_id="call_taken", seat="1001"), 409, "call_taken", {"seat": "1001"}),
])
async def test_every_domain_error_answers_through_the_one_handler(error, status, error_id,
                                                                   details):
    async def handler(request):
        raise error

    resp = await error_middleware(make_mocked_request("GET", "/api/v1/x"), handler)
    assert resp.status == status
    assert json.loads(resp.text) == {"error_id": error_id, "message": error.message,
                                     "details": details}


def test_the_api_and_work_order_errors_are_one_family():
    assert issubclass(ApiError, DomainError) and issubclass(WorkOrderError, DomainError)
    assert InvalidOrder("x", order_id="1").to_dict() == {
        "error_id": "invalid_order", "message": "x", "details": {"order_id": "1"}}
