"""The OpenAPI document is true: every route is in it, everything in it is routed, and every
route answers its documented success."""
from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web

from services.api.app import OPERATIONS
from services.api.core import ApiDeps
from services.api.open311 import OPEN311_PREFIX, OPENAPI_PATHS
from services.api.schema import problems
from tests.unit.api.conftest import auth, mount, open_order

BASE = "/api/v1"


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route under the API prefix, sub-apps included."""
    out: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            out |= routed(resource._app)
            continue
        for route in resource:
            if route.method != "HEAD":
                out.add((route.method, resource.canonical))
    return {(m, p) for m, p in out if p.startswith((BASE + "/", OPEN311_PREFIX + "/"))}


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item}


async def _document(client) -> dict[str, Any]:
    resp = await client.get(f"{BASE}/openapi.json", headers=auth("ops"))
    assert resp.status == 200
    return await resp.json()


async def test_every_route_is_documented_and_every_documented_path_is_routed(client, deps):
    document = await _document(client)
    app = mount(deps)
    assert routed(app) == documented(document)
    assert len(documented(document)) == len(OPERATIONS) + sum(
        len(item) for item in OPENAPI_PATHS.values())


async def test_document_is_openapi_3_with_parameters_matching_the_path_templates(client):
    document = await _document(client)
    assert document["openapi"].startswith("3.1")
    for path, item in document["paths"].items():
        in_template = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
            assert declared == in_template, (method, path)
            assert "500" in op["responses"]
            if op["security"]:
                assert "401" in op["responses"]
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    # GeoReport v2 has its own error shape, [{"code", "description"}]
                    name = "Open311Errors" if path.startswith(OPEN311_PREFIX) else "Error"
                    assert schema == {"$ref": f"#/components/schemas/{name}"}


def _path(op_path: str, **values: str) -> str:
    return BASE + op_path.format(**values)


@pytest.fixture
async def world(deps: ApiDeps) -> dict[str, str]:
    """One answered call, a 12345 order replied to, and two open orders."""
    desk = deps.desk
    desk.add_call("c1", site="12345", seat="1001")
    orders = deps.orders
    replied = await open_order(orders, "12345", call_id="c1")
    await orders.assign(replied, "住建局", "t")
    await orders.transition(replied, "in_progress", "t")
    await orders.transition(replied, "replied", "t", outcome="done")
    entry = {"question": "物业不作为怎么投诉？", "answer": "先向物业公司书面提出，再向社区反映。",
             "department": "housing", "region_code": "410300", "category": "housing"}
    await _recording(deps, "rec-c1-0000000a", "c1", replied)
    await deps.knowledge.import_records([{**entry, "entry_id": "kb-pub", "status": "published"},
                                         {**entry, "entry_id": "kb-draft", "status": "draft"}])
    moves = {}   # a transfer to read, complete and cancel; three-ways to keep, hand over, drop
    for name, call_id, kind in (("transfer", "c5", "transfer"), ("keep", "c6", "three_way"),
                                ("hand_over", "c7", "three_way"), ("drop", "c8", "three_way")):
        desk.add_call(call_id, site="12345", seat="1001")
        moves[name] = (await deps.transfers.start(call_id, kind, "platform"))["transfer_id"]
        if kind == "three_way":
            deps.transfers.records_by_id[moves[name]]["status"] = "answered"
    desk.add_call("c9", site="12345", seat="1001")
    from services.call_log.events import CallArrivalLogged

    await orders.apply(CallArrivalLogged(
        call_id="c1", site="12345", platform="12345", origin_site="12345", via_trunk=False,
        citizen_number="13800138000", order_id=replied, linked_order_id="", at=orders.now()))
    return {**moves, "replied": replied, "open": await open_order(orders, "12345"),
            "to_reject": await open_order(orders, "12345"),
            "to_dispatch": await open_order(orders, "12345", summary="小区物业不管事")}


async def _recording(deps: ApiDeps, recording_id: str, call_id: str, order_id: str) -> None:
    """A finished recording of seat 1001's call, with one second of WAV audio."""
    import wave

    store = deps.recordings.store
    now = deps.orders._clock()
    await store.started(recording_id, call_id, "12345", "12345", "1001", [order_id], now)
    await store.ended(recording_id, now)
    folder = deps.recordings.directory("12345")
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(folder / f"{recording_id}.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10" * 8000)


def recipes(world: dict[str, str]) -> dict[str, tuple[str, str, dict | None]]:
    """operation id -> (user, path values filled, JSON body) for a request that succeeds."""
    return {
        "login": ("", "/session", {"user": "ops", "password": "lab-pw-ops"}),
        "whoami": ("ops", "/session", None),
        "logout": ("ops", "/session", None),
        "revoke_sessions": ("ops", "/users/agent1002/sessions", None),
        "openapi": ("ops", "/openapi.json", None),
        "list_calls": ("agent1001", "/calls", None),
        "get_call": ("agent1001", "/calls/c1", None),
        "call_action": ("agent1001", "/calls/c1/actions/three_way", None),
        "call_summary": ("agent1001", "/calls/c1/summary", {"summary": "邻居打架动刀了"}),
        "list_seats": ("ops", "/seats", None),
        "pause_seat": ("agent1001", "/seats/12345/1001/pause", None),
        "resume_seat": ("agent1001", "/seats/12345/1001/resume", None),
        "list_orders": ("agent1001", "/orders?status=received", None),
        "submit_order": ("agent1001", "/orders", {"citizen_number": "13900001111",
                                                  "region_code": "410300", "summary": "网上"}),
        "export_orders": ("sup", "/orders/export?format=csv", None),
        "get_order": ("agent1001", f"/orders/{world['open']}", None),
        "update_order": ("agent1001", f"/orders/{world['open']}", {"level": "2h"}),
        "change_status": ("sup", f"/orders/{world['to_reject']}/status",
                          {"status": "rejected", "note": "not ours"}),
        "record_visit": ("agent1001", f"/orders/{world['replied']}/visits",
                         {"resolved": True, "satisfied": True}),
        "forward_order": ("agent1001", f"/orders/{world['open']}/forward", {}),
        "suggest": ("agent1001", "/suggestions", {"text": "路灯不亮"}),
        "get_overflow": ("agent1001", "/overflow", None),
        "set_overflow": ("ops", "/overflow", {"site": "110", "enabled": True}),
        "rates": ("ops", "/reports/rates?by=region", None),
        "overdue": ("ops", "/reports/overdue", None),
        "hotspots": ("ops", "/reports/hotspots?period=week", None),
        "events": ("ops", "/events", None),
        "caller_history": ("agent1001", "/callers/13800138000/history", None),
        "find_orders": ("sup", "/orders/search?status=received,assigned&overdue=false", None),
        "categories": ("agent1001", "/categories", None),
        "levels": ("ops", "/levels", None),
        "reference_page": ("", "/reference", None),
        "put_location": ("agent1001", f"/orders/{world['open']}/location",
                         {"address": "西工区中州中路 1 号", "lat": 34.67, "long": 112.44}),
        "reference_asset": ("", "/reference/swagger-ui-bundle.js", None),
        # services/api/dispatch.py, in its table's order: dispatch, accept, return, reassign
        "list_departments": ("dept_housing", "/dispatch/departments", None),
        "suggest_department": ("agent1001", "/dispatch/suggestions", {"text": "暖气不热"}),
        "department_queue": ("dept_housing", "/dispatch/queue", None),
        "get_dispatch": ("agent1001", f"/orders/{world['to_dispatch']}/dispatch", None),
        "dispatch_order": ("agent1001", f"/orders/{world['to_dispatch']}/dispatch",
                           {"department": "housing"}),
        "accept_order": ("dept_housing", f"/orders/{world['to_dispatch']}/accept", {}),
        "return_order": ("dept_housing", f"/orders/{world['to_dispatch']}/return",
                         {"reason": "不属本部门"}),
        "reassign_order": ("sup", f"/orders/{world['to_dispatch']}/reassign",
                           {"department": "urban_management", "reason": "城管职责"}),
        "department_report": ("dept_housing", "/reports/departments", None),
        "returns_report": ("ops", "/reports/returns", None),
        "accuracy_report": ("ops", "/reports/dispatch-accuracy", None),
        "kb_search": ("agent1001", "/kb/search?q=物业不管&category=housing", None),
        "kb_list": ("dept_housing", "/kb/entries", None),
        "kb_create": ("dept_housing", "/kb/entries", {
            "question": "公租房怎么申请？", "answer": "向街道提出申请。", "region_code": "410300",
            "category": "housing"}),
        "kb_get": ("agent1001", "/kb/entries/kb-pub", None),
        "kb_update": ("dept_housing", "/kb/entries/kb-draft", {"answer": "新的口径。"}),
        "kb_move": ("dept_housing", "/kb/entries/kb-draft/status", {"status": "in_review"}),
        "kb_use": ("agent1001", "/kb/entries/kb-pub/uses", {"channel": "desk"}),
        "kb_faq": ("ops", "/kb/faq?region=410300", None),
        "kb_report": ("ops", "/reports/kb", None),
        # services/api/transfer_endpoints.py
        "create_transfer": ("agent1001", "/transfers", {"call_id": "c1", "target": "platform",
                                                        "flow": "blind", "timeout": 30}),
        "list_transfers": ("ops", "/transfers?status=ringing", None),
        "get_transfer": ("agent1001", f"/transfers/{world['transfer']}", None),
        "complete_transfer": ("agent1001", f"/transfers/{world['transfer']}/complete", None),
        "cancel_transfer": ("agent1001", f"/transfers/{world['transfer']}", None),
        "create_three_way": ("agent1001", "/three-ways", {"call_id": "c9",
                                                          "target": "platform"}),
        "list_three_ways": ("sup", "/three-ways?call_id=c6", None),
        "get_three_way": ("sup", f"/three-ways/{world['keep']}", None),
        "cancel_three_way": ("agent1001", f"/three-ways/{world['drop']}", None),
        "complete_three_way": ("agent1001", f"/three-ways/{world['hand_over']}/complete", None),
        "keep_three_way": ("agent1001", f"/three-ways/{world['keep']}/keep", None),
        # services/api/control_endpoints.py
        "hold_call": ("agent1001", "/calls/c1/hold", None),
        "unhold_call": ("agent1001", "/calls/c1/unhold", None),
        "mute_call": ("agent1001", "/calls/c1/mute", None),
        "unmute_call": ("agent1001", "/calls/c1/unmute", None),
        "hangup_leg": ("agent1001", "/calls/c1/legs/target/hangup", None),
        "place_callback": ("agent1001", f"/orders/{world['open']}/callback", {}),
        "site_queue": ("agent1001", "/sites/12345/queue", None),
        # services/api/call_log.py
        "list_call_log": ("sup", "/call-log?outcome=live&number=13800138000", None),
        "export_call_log": ("ops", "/call-log/export?site=12345", None),
        "get_call_log": ("sup12345", "/call-log/c1", None),
        "service_levels": ("ops", "/reports/service-levels?site=12345,110", None),
        "call_recordings": ("agent1001", "/calls/c1/recordings", None),
        "order_recordings": ("agent1001", f"/orders/{world['replied']}/recordings", None),
        "get_recording": ("agent1001", "/recordings/rec-c1-0000000a", None),
        "recording_audio": ("agent1001", "/recordings/rec-c1-0000000a/audio", None),
        "recording_audit": ("sup", "/recordings/rec-c1-0000000a/audit", None),
        "start_supervision": ("sup", "/calls/c1/supervision", {"mode": "listen",
                                                                "seat": "1091"}),
        "list_supervision": ("sup", "/calls/c1/supervision", None),
        "stop_supervision": ("sup", "/calls/c1/supervision", None),
    }


async def test_every_route_answers_its_documented_success(client, world):
    table = recipes(world)
    assert set(table) == {op.operation_id for op in OPERATIONS}
    for op in OPERATIONS:
        await _expect_success(client, op, table[op.operation_id])


async def _expect_success(client, op, recipe) -> None:
    user, path, body = recipe
    headers = auth(user) if user else {}
    if op.operation_id == "events":
        ws = await client.ws_connect(BASE + path, headers=headers)
        assert (await ws.receive_json())["type"] == "hello"
        await ws.close()
        return
    resp = await client.request(op.method, BASE + path, json=body, headers=headers)
    assert resp.status == op.ok, (op.operation_id, resp.status, await resp.text())
    assert resp.content_type == op.ok_media or op.operation_id == "export_orders"
    if op.ok_schema is not None:
        assert problems(op.ok_schema, await resp.json()) == []


async def test_the_reference_page_is_served_here_with_a_csp_of_self_only(client):
    from services.api.reference import PAGE_CSP

    page = await client.get(f"{BASE}/reference")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == PAGE_CSP
    sources = [word for word in PAGE_CSP.replace(";", " ").split() if "'" in word or ":" in word]
    assert set(sources) <= {"'self'", "'none'", "data:"}      # no CDN, no inline script
    html = await page.text()
    assert "http" not in html.replace('href="/desk"', "").replace('href="/board"', "")
    for asset, media in (("swagger-ui-bundle.js", "text/javascript"),
                         ("swagger-ui.css", "text/css"), ("reference.js", "text/javascript")):
        resp = await client.get(f"{BASE}/reference/{asset}")
        assert (resp.status, resp.content_type) == (200, media), asset
        assert len(await resp.read()) > 100
    assert (await client.get(f"{BASE}/reference/..%2fapp.py")).status == 404
    api = await client.get(f"{BASE}/openapi.json", headers=auth("ops"))
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")
