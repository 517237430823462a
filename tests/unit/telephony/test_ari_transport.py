"""ARI requests on the events WebSocket, against a small stand-in for Asterisk's ARI.

The stand-in answers RESTRequest frames the way Asterisk 22 does (checked
against the lab's Asterisk) or, as an older Asterisk would, ignores them.
"""
from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from telephony.ari.client import (AriClient, AriError, AriEvents, AriLane, AriNotConnected,
                                  operation)


class FakeAri:
    def __init__(self, rest_over_ws: bool = True):
        self.rest_over_ws = rest_over_ws
        self.http_hits: list[str] = []
        self.http_requests: list[tuple[str, str, dict, str]] = []   # method, uri, query, body
        self.ws_requests: list[dict] = []
        self.by_app: dict[str, list[dict]] = {}   # each socket's requests, by its app name
        self.sockets: list[web.WebSocketResponse] = []
        self.handshakes: list[tuple[str, str | None]] = []   # (path and query, Authorization)
        self.app = web.Application()
        self.app.router.add_get("/ari/events", self.events)
        self.app.router.add_route("*", "/ari/{tail:.*}", self.http)

    def reply(self, method: str, uri: str) -> tuple[int, str]:
        if uri == "asterisk/ping":
            return 200, json.dumps({"ping": "pong"})
        if uri.startswith("channels/gone"):
            return 404, json.dumps({"message": "Channel not found"})
        if method == "POST" and uri == "bridges":
            return 200, json.dumps({"id": "b1"})
        return 204, ""

    async def http(self, request: web.Request) -> web.Response:
        uri = request.match_info["tail"]
        self.http_hits.append(uri)
        self.http_requests.append((request.method, uri, dict(request.query),
                                   await request.text()))
        status, body = self.reply(request.method, uri)
        return web.Response(status=status, text=body, content_type="application/json")

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        self.handshakes.append((request.path_qs, request.headers.get("Authorization")))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for msg in ws:
            frame = json.loads(msg.data)
            if frame.get("type") != "RESTRequest" or not self.rest_over_ws:
                continue
            self.ws_requests.append(frame)
            self.by_app.setdefault(request.query.get("app", ""), []).append(frame)
            if frame["uri"] in ("channels/slow/answer", "channels/slow"):
                continue   # never answered: the client's timeout
            status, body = self.reply(frame["method"], frame["uri"])
            await ws.send_str(json.dumps({
                "type": "RESTResponse", "transaction_id": "", "request_id": frame["request_id"],
                "status_code": status, "reason_phrase": "", "uri": frame["uri"],
                "content_type": "application/json", "message_body": body}))
        return ws


@pytest.fixture
async def ari_site(request):
    options = dict(getattr(request, "param", {}))
    with_lane = options.pop("lane", False)
    fake = FakeAri(**options)
    server = TestServer(fake.app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    client = AriClient(session, f"http://127.0.0.1:{server.port}/ari", "u", "p", timeout_s=0.5)
    seen: list[dict] = []
    connects: list[bool] = []

    async def handler(event: dict) -> None:
        seen.append(event)
        if event["type"] == "Ask":   # a handler awaiting a reply must not block the reads
            event["answer"] = await client.request("GET", "/asterisk/ping")

    async def on_connect() -> None:
        connects.append(client.over_websocket)
        await client.request("GET", "/asterisk/info")

    async def nothing() -> None:
        return None

    lane = (AriLane(session, client, "hotline-lane-c1", site="s", backoff=(0.05, 0.05))
            if with_lane else None)
    events = AriEvents(session, client, "hotline", handler, on_connect, nothing, site="s",
                       backoff=(0.05, 0.05), lane=lane)
    task = asyncio.create_task(events.run())
    await asyncio.wait_for(events.connected.wait(), 5)
    yield fake, client, events, seen, connects
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await session.close()
    await server.close()


async def test_requests_ride_the_events_socket_once_it_answers(ari_site):
    fake, client, _events, _seen, connects = ari_site
    assert client.over_websocket and connects == [True]   # the resync itself used the socket
    bridge = await client.create_bridge("b1")
    await client.answer("c1")
    assert bridge == {"id": "b1"}
    assert fake.http_hits == []
    sent = fake.ws_requests[-2]
    assert sent["method"] == "POST" and sent["uri"] == "bridges"
    assert {"name": "type", "value": "mixing"} in sent["query_strings"]


async def test_error_status_is_an_ari_error_with_the_status(ari_site):
    _fake, client, *_ = ari_site
    with pytest.raises(AriError) as err:
        await client.request("GET", "/channels/gone")
    assert err.value.status == 404 and "Channel not found" in str(err.value)
    await client.hangup("gone-too")   # hang-up of a missing channel stays quiet: 204 here


async def test_body_travels_as_json_message_body(ari_site):
    fake, client, *_ = ari_site
    await client.originate("PJSIP/2001", app="hotline", app_args="seat,c1", caller_id="1380",
                           channel_id="x1", timeout_s=20, variables={"PJSIP_HEADER(add,X-A)": "1"})
    sent = fake.ws_requests[-1]
    assert sent["content_type"] == "application/json"
    assert json.loads(sent["message_body"]) == {"variables": {"PJSIP_HEADER(add,X-A)": "1"}}


async def test_an_urgent_originate_goes_over_http_beside_the_socket_and_the_rest_stays(ari_site):
    fake, client, *_ = ari_site
    await client.originate("PJSIP/2001", app="hotline", app_args="target,c1", caller_id="1380",
                           channel_id="c1-t2", timeout_s=20,
                           variables={"PJSIP_HEADER(add,X-A)": "1"}, urgent=True)
    method, uri, query, body = fake.http_requests[-1]
    assert (method, uri) == ("POST", "channels")
    assert query["channelId"] == "c1-t2" and query["appArgs"] == "target,c1"
    assert json.loads(body) == {"variables": {"PJSIP_HEADER(add,X-A)": "1"}}
    on_socket = len(fake.ws_requests)
    await client.originate("PJSIP/1001", app="hotline", app_args="seat,c2", caller_id="1380",
                           channel_id="c2-s1", timeout_s=20)
    assert client.over_websocket and len(fake.ws_requests) == on_socket + 1
    assert fake.http_hits == ["channels"]


async def test_an_urgent_request_http_cannot_connect_for_goes_on_the_socket(ari_site,
                                                                           monkeypatch):
    fake, client, *_ = ari_site

    async def refused(method, path, params, body):
        raise AriNotConnected(0, "unreachable: connection refused", path)
    monkeypatch.setattr(client, "_http_request", refused)
    await client.originate("PJSIP/2001", app="hotline", app_args="target,c1", caller_id="1380",
                           channel_id="c1-t2", timeout_s=20, urgent=True)
    sent = fake.ws_requests[-1]
    assert (sent["method"], sent["uri"]) == ("POST", "channels")
    assert {"name": "channelId", "value": "c1-t2"} in sent["query_strings"]
    client.use_websocket(None)   # no socket either: the refusal is the caller's to handle
    with pytest.raises(AriNotConnected):
        await client.originate("PJSIP/2001", app="hotline", app_args="target,c1",
                               caller_id="1380", channel_id="c1-t3", timeout_s=20, urgent=True)


async def test_an_ari_server_that_refuses_connections_is_not_connected():
    with socket.socket() as probe:   # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        client = AriClient(session, f"http://127.0.0.1:{port}/ari", "u", "p", timeout_s=0.5)
        with pytest.raises(AriNotConnected):
            await client.answer("c1")


async def test_a_handler_awaiting_a_reply_does_not_block_the_socket(ari_site):
    fake, _client, _events, seen, _ = ari_site
    await fake.sockets[-1].send_str(json.dumps({"type": "Ask"}))
    await fake.sockets[-1].send_str(json.dumps({"type": "After"}))
    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert [e["type"] for e in seen] == ["Ask", "After"]   # in order
    assert seen[0]["answer"] == {"ping": "pong"}


async def test_no_reply_in_time_is_unreachable_and_forgotten(ari_site):
    _fake, client, *_ = ari_site
    with pytest.raises(AriError) as err:
        await client.answer("slow")
    assert err.value.status == 0
    assert client._replies == {}


async def test_a_closed_socket_fails_requests_in_flight_then_reconnects(ari_site):
    fake, client, events, _seen, connects = ari_site
    pending = asyncio.create_task(client.answer("slow"))
    await asyncio.sleep(0.05)
    await fake.sockets[-1].close()
    with pytest.raises(AriError) as err:
        await pending
    assert err.value.status == 0
    for _ in range(200):
        if len(connects) == 2 and events.connected.is_set():
            break
        await asyncio.sleep(0.01)
    assert connects == [True, True] and client.over_websocket


@pytest.mark.parametrize("ari_site", [{"rest_over_ws": False}], indirect=True)
async def test_an_asterisk_without_rest_over_websocket_gets_http(ari_site):
    fake, client, *_ = ari_site
    assert not client.over_websocket
    await client.answer("c1")
    assert "channels/c1/answer" in fake.http_hits
    assert "asterisk/info" in fake.http_hits   # the resync went over HTTP too


async def test_events_socket_sends_credentials_in_the_handshake_header_never_in_the_url(ari_site):
    fake, client, *_ = ari_site
    path_qs, authorization = fake.handshakes[0]
    assert authorization == aiohttp.encode_basic_auth("u", "p")
    assert path_qs == "/ari/events?app=hotline"
    assert "api_key" not in client.events_url("hotline")


async def test_application_replaced_is_told_and_not_handled_as_an_event():
    """Asterisk gives the app to a newer socket and says so: the controller steps down."""
    fake = FakeAri()
    server = TestServer(fake.app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    client = AriClient(session, f"http://127.0.0.1:{server.port}/ari", "u", "p", timeout_s=0.5)
    seen, replaced = [], asyncio.Event()

    async def handler(event: dict) -> None:
        seen.append(event["type"])

    async def nothing() -> None:
        return None

    events = AriEvents(session, client, "hotline", handler, nothing, nothing, site="s",
                       backoff=(5.0, 5.0), on_replaced=replaced.set)
    task = asyncio.create_task(events.run())
    try:
        await asyncio.wait_for(events.connected.wait(), 5)
        await fake.sockets[-1].send_str(json.dumps({"type": "ApplicationReplaced",
                                                    "application": "hotline"}))
        await asyncio.wait_for(replaced.wait(), 5)
        assert "ApplicationReplaced" not in seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await session.close()
        await server.close()


class RecordingTransport:
    def __init__(self):
        self.writes, self.closing = [], False

    def write(self, data):
        self.writes.append(bytes(data))

    def is_closing(self):
        return self.closing

    def get_extra_info(self, name):
        return f"extra {name}"


async def test_frames_written_in_one_turn_leave_in_one_write_in_order():
    from telephony.ari.client import CoalescedWrites

    real = RecordingTransport()
    writes = CoalescedWrites(real, asyncio.get_running_loop())
    writes.write(b"a")
    writes.writelines([b"b", bytearray(b"c")])
    assert real.writes == []            # held until the loop's turn ends
    await asyncio.sleep(0)
    assert real.writes == [b"abc"]
    writes.write(b"d")
    await asyncio.sleep(0)
    assert real.writes == [b"abc", b"d"]
    assert writes.get_extra_info("peername") == "extra peername"   # the rest is the transport's
    real.closing = True
    writes.write(b"e")
    await asyncio.sleep(0)
    assert real.writes == [b"abc", b"d"]    # a closing transport is not written to


def test_a_request_is_timed_by_its_kind_without_ids():
    assert operation("POST", "/channels") == "POST channels"
    assert operation("POST", "/channels/c1-s1/answer") == "POST channels/answer"
    assert operation("DELETE", "/bridges/c1-b") == "DELETE bridges"
    assert operation("PUT", "/applications/hotline/eventFilter") == "PUT applications/eventFilter"


async def until(condition, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


LANE = {"lane": True}


@pytest.mark.parametrize("ari_site", [LANE], indirect=True)
async def test_with_its_lane_up_an_urgent_request_goes_there_and_the_rest_on_the_events_socket(
        ari_site):
    fake, client, *_ = ari_site
    await until(lambda: "hotline-lane-c1" in [q.split("app=")[1] for q, _ in fake.handshakes],
                "the lane connected")
    await until(lambda: client.lane_up, "the lane in use")
    await client.originate("PJSIP/2001", app="hotline", app_args="target,c1", caller_id="1380",
                           channel_id="c1-t2", timeout_s=20,
                           variables={"PJSIP_HEADER(add,X-A)": "1"}, urgent=True)
    sent = fake.by_app["hotline-lane-c1"]
    assert [(f["method"], f["uri"]) for f in sent] == [("POST", "channels")]
    assert {"name": "appArgs", "value": "target,c1"} in sent[0]["query_strings"]
    assert json.loads(sent[0]["message_body"]) == {
        "variables": {"PJSIP_HEADER(add,X-A)": "1"}}
    await client.answer("c2")
    assert fake.by_app["hotline"][-1]["uri"] == "channels/c2/answer"
    assert len(fake.by_app["hotline-lane-c1"]) == 1 and fake.http_hits == []


@pytest.mark.parametrize("ari_site", [LANE], indirect=True)
async def test_a_lane_that_closes_fails_its_request_once_and_the_lane_comes_back(ari_site):
    fake, client, *_ = ari_site
    await until(lambda: client.lane_up, "the lane in use")
    lane_socket = next(ws for ws, (query, _) in zip(fake.sockets, fake.handshakes, strict=True)
                       if query.endswith("app=hotline-lane-c1"))
    urgent = asyncio.create_task(client.request("DELETE", "/channels/slow", urgent=True))
    await until(lambda: len(fake.by_app.get("hotline-lane-c1", [])) == 1, "sent on the lane")
    await lane_socket.close()
    with pytest.raises(AriError) as err:
        await urgent
    assert err.value.status == 0 and "urgent socket closed" in str(err.value)
    assert len(fake.by_app["hotline-lane-c1"]) == 1 and fake.http_hits == []   # not resent
    assert client.over_websocket   # the events socket carries on
    await until(lambda: client.lane_up and not client._lane.closed, "the lane back")
    await client.request("POST", "/channels/c4/answer", urgent=True)
    assert fake.by_app["hotline-lane-c1"][-1]["uri"] == "channels/c4/answer"


@pytest.mark.parametrize("ari_site", [{"lane": True, "rest_over_ws": False}], indirect=True)
async def test_no_lane_is_opened_where_requests_do_not_ride_sockets(ari_site):
    fake, client, *_ = ari_site
    await client.request("POST", "/channels/c1/answer", urgent=True)
    assert "channels/c1/answer" in fake.http_hits and not client.lane_up
    assert [q for q, _ in fake.handshakes] == ["/ari/events?app=hotline"]
