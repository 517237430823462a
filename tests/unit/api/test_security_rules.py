"""The API's and the pages' security rules: headers, the WebSocket's Origin, formula-safe
streamed CSV, site-bound supervisors, whole-value patterns without control characters."""
from __future__ import annotations

import csv
import io

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.api.export import neutralise
from services.api.schema import problems
from services.web import add_web_routes
from tests.unit.api.conftest import auth, open_order

BASE = "/api/v1"


# ---- headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/desk", "/board", "/static/app.js"])
async def test_pages_send_csp_frame_options_and_no_store(path):
    app = web.Application()
    add_web_routes(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(path)
        assert resp.status == 200
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Cache-Control"] == "no-store"


async def test_api_answers_are_never_stored(client):
    for resp in (await client.get(f"{BASE}/calls", headers=auth("ops")),
                 await client.get(f"{BASE}/calls")):
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["X-Frame-Options"] == "DENY"


# ---- the events WebSocket checks Origin ------------------------------------------------------
async def test_a_foreign_origin_cannot_open_the_event_stream(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(f"{BASE}/events", headers={
            **auth("agent1001"), "Origin": "https://evil.example"})
    assert refused.value.status == 403


async def test_our_own_origin_and_non_browsers_may(client):
    own = f"http://{client.host}:{client.port}"
    for headers in ({**auth("agent1001"), "Origin": own}, auth("agent1001")):
        ws = await client.ws_connect(f"{BASE}/events", headers=headers)
        assert (await ws.receive_json())["type"] == "hello"
        await ws.close()


# ---- CSV export ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_get_a_leading_quote(cell):
    assert neutralise(cell) == "'" + cell


def test_plain_cells_are_kept():
    assert neutralise("楼道灯坏了") == "楼道灯坏了"
    assert neutralise("") == ""


async def test_csv_export_neutralises_a_citizens_formula_and_streams(client, orders):
    await open_order(orders, "12345", summary="=cmd|' /C calc'!A0")
    resp = await client.get(f"{BASE}/orders/export?format=csv", headers=auth("sup"))
    assert resp.status == 200
    assert "Content-Length" not in resp.headers          # streamed (chunked)
    assert resp.headers["X-Order-Count"] == "1"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert rows[0]["summary"] == "'=cmd|' /C calc'!A0"


# ---- a supervisor with a site sees only that site's orders -------------------------------------
async def test_site_supervisor_sees_only_their_sites_orders_reports_and_export(client, orders):
    ours = await open_order(orders, "12345")
    theirs = await open_order(orders, "110")
    sup = auth("sup12345")
    listed = await (await client.get(f"{BASE}/orders", headers=sup)).json()
    assert {o["order_id"] for o in listed["orders"]} == {ours}
    assert (await client.get(f"{BASE}/orders/{ours}", headers=sup)).status == 200
    assert (await client.get(f"{BASE}/orders/{theirs}", headers=sup)).status == 403
    assert (await client.get(f"{BASE}/orders?platform=110", headers=sup)).status == 403
    assert (await client.post(f"{BASE}/orders/{theirs}/status", headers=sup,
                              json={"status": "rejected"})).status == 403
    export = await client.get(f"{BASE}/orders/export", headers=sup)
    assert export.headers["X-Order-Count"] == "1" and theirs not in await export.text()
    assert (await client.get(f"{BASE}/reports/rates?platform=110", headers=sup)).status == 403
    every = await (await client.get(f"{BASE}/orders", headers=auth("sup"))).json()
    assert {o["order_id"] for o in every["orders"]} == {ours, theirs}


# ---- patterns match whole values; no control characters -----------------------------------------
@pytest.mark.parametrize("value", ["13800138000\n", "13800138000\r", "1380013800\x00",
                                   "١٣٨٠٠١٣٨٠٠٠"])
def test_a_number_with_a_trailing_newline_or_foreign_digits_is_refused(value):
    from services.api.shapes import (
    NUMBER,
)

    assert problems(NUMBER, value)


@pytest.mark.parametrize("value", ["a\x1bb", "a\x7fb", "a\x85b", "a\u2028b"])
def test_free_text_refuses_control_characters_but_keeps_newlines(value):
    from services.api.handlers import text

    assert problems(text(100), value)
    assert problems(text(100), "第一行\n第二行\t完") == []


def test_an_unanchored_pattern_is_refused_at_start():
    from services.api.schema import SchemaError, check_schema

    with pytest.raises(SchemaError):
        check_schema({"type": "string", "pattern": "[0-9]+"})
