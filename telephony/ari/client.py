"""ARI over aiohttp: REST calls and the events WebSocket of one site.

`ari-py` is Python-2 era and `aioari` is thin and old; ARI is small enough
that one aiohttp session does it well. No aiohttp type leaves this module
except through `AriError`.

While the events WebSocket is up, REST calls travel on it too (ARI "REST over
WebSocket", Asterisk 20.14/21.9/22.4 and later): one small frame each way
instead of an HTTP exchange, which was the largest cost on the controller's
loop under load. Without it (an older Asterisk, or the socket is down) they
go over HTTP as before.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
import orjson

log = logging.getLogger(__name__)


class AriError(Exception):
    """An ARI request failed: `status` is the HTTP status (0: unreachable)."""

    def __init__(self, status: int, message: str, path: str = ""):
        super().__init__(f"ARI {path}: {status} {message}".strip())
        self.status = status
        self.path = path


class AriNotConnected(AriError):
    """No connection to ARI's HTTP server could be made: the request never left."""


SWEEP_S = 0.25   # how often overdue replies on the events socket are failed


def _ignore(_operation: str, _seconds: float) -> None:
    return None


def operation(method: str, path: str) -> str:
    """A request's kind without its ids, for /metrics: `POST /channels/abc/answer` is
    "POST channels/answer", `DELETE /bridges/abc` is "DELETE bridges"."""
    parts = path.split("/", 4)
    return f"{method} {parts[1]}/{parts[3]}" if len(parts) > 3 else f"{method} {parts[1]}"


class AriClient:
    """REST calls against one site's ARI."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, user: str, password: str,
                 timeout_s: float = 5.0, timed: Callable[[str, float], None] = _ignore):
        self._session = session
        self._timed = timed   # each request's operation and round trip, for /metrics
        self.base_url = base_url.rstrip("/")
        self._auth = aiohttp.encode_basic_auth(user, password)
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._lane: aiohttp.ClientWebSocketResponse | None = None   # urgent requests' socket
        self._on_lane: set[str] = set()   # ids of the requests awaiting a reply there
        self._loop: asyncio.AbstractEventLoop | None = None
        self._replies: dict[str, asyncio.Future] = {}
        # (deadline, request id) in the order sent, which is the deadlines' order: one
        # sweep fails the overdue replies, instead of a timeout context per request
        self._deadlines: deque[tuple[float, str]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self._next_id = 0

    @property
    def over_websocket(self) -> bool:
        return self._ws is not None

    @property
    def lane_up(self) -> bool:
        """Urgent requests have their own socket (else they go over HTTP)."""
        return self._lane is not None

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                      body: Any = None, urgent: bool = False) -> Any:
        """One ARI request, on the events socket when it carries requests, else over HTTP.

        `urgent` never goes on the events socket: Asterisk serves one socket's requests one
        after another on that socket's thread, so under load a request waits behind every
        other call's. With a hand-over's two originates urgent, the transfer bench's p99 at
        100 concurrent calls fell from 44.4 to 28.4 ms (median of three runs; Asterisk's own
        blind transfer 20.8 and 19.2 ms in the same runs). An urgent request goes on the
        lane, a second socket that carries nothing else (`AriLane`), while it is up: there
        it costs this process half an HTTP exchange's CPU (79 against 163 µs) and waits
        less, which took the transfer bench's p99 from 1.55 to 1.04× native in a same-hour
        A/B (bench/results/ari-lane.md). Without the lane it goes over HTTP.
        Should ARI's HTTP server refuse the connection, it goes on the events socket after
        all: late rather than not at all. Only a refused connect: a request that may
        have reached Asterisk is never sent twice. (Over its `sessionlimit`, 100 by default,
        Asterisk accepts and closes at once; that fails as a lost request does.)"""
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        started = time.monotonic()
        try:
            if urgent and self._lane is not None:
                return await self._ws_request(self._lane, method, path, clean, body)
            if self._ws is not None and not urgent:
                return await self._ws_request(self._ws, method, path, clean, body)
            try:
                return await self._http_request(method, path, clean, body)
            except AriNotConnected:
                if self._ws is None:
                    raise
                log.warning("ARI %s: no HTTP connection; sent on the events socket", path)
                return await self._ws_request(self._ws, method, path, clean, body)
        finally:
            self._timed(operation(method, path), time.monotonic() - started)

    async def _http_request(self, method: str, path: str, clean: dict[str, str],
                            body: Any) -> Any:
        try:
            async with self._session.request(
                method, f"{self.base_url}{path}", params=clean, json=body,
                headers={"Authorization": self._auth}, timeout=self._timeout,
            ) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise AriError(resp.status, text.strip()[:200], path)
                return orjson.loads(text) if text else None
        except aiohttp.ClientConnectorError as exc:
            raise AriNotConnected(0, f"unreachable: {exc!r}", path) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise AriError(0, f"unreachable: {exc!r}", path) from exc

    async def _ws_request(self, ws: aiohttp.ClientWebSocketResponse, method: str, path: str,
                          params: dict[str, str], body: Any) -> Any:
        self._next_id += 1
        request_id = str(self._next_id)
        message: dict[str, Any] = {"type": "RESTRequest", "request_id": request_id,
                                   "method": method, "uri": path.lstrip("/")}
        if params:
            message["query_strings"] = [{"name": k, "value": v} for k, v in params.items()]
        if body is not None:
            message["content_type"] = "application/json"
            message["message_body"] = orjson.dumps(body).decode()
        assert self._loop is not None
        reply = self._loop.create_future()
        self._replies[request_id] = reply
        if ws is self._lane:
            self._on_lane.add(request_id)
        self._deadlines.append((time.monotonic() + self._timeout_s, request_id))
        if self._sweep is None:
            self._sweep = self._loop.call_later(SWEEP_S, self._fail_overdue)
        try:
            # orjson's bytes go out as the text frame as they are (no str round trip).
            # The send waits only when Asterisk stops reading (aiohttp's flow control);
            # the socket's heartbeat then closes it, which fails the send
            await ws.send_frame(orjson.dumps(message), aiohttp.WSMsgType.TEXT)
            answer = await reply
        except TimeoutError as exc:
            raise AriError(0, "unreachable: no reply on the socket", path) from exc
        except (aiohttp.ClientError, OSError, RuntimeError) as exc:
            raise AriError(0, f"unreachable: {exc!r}", path) from exc
        finally:
            self._replies.pop(request_id, None)
            self._on_lane.discard(request_id)
        status = int(answer.get("status_code") or 0)
        text = answer.get("message_body") or ""
        if status >= 400 or status == 0:
            raise AriError(status, text.strip()[:200], path)
        return orjson.loads(text) if text else None

    def _fail_overdue(self) -> None:
        """Fail each reply past its deadline; again in SWEEP_S while any is awaited.
        A request thus waits timeout_s to timeout_s + SWEEP_S for its reply."""
        now = time.monotonic()
        deadlines = self._deadlines
        while deadlines and (deadlines[0][0] <= now or deadlines[0][1] not in self._replies):
            _, request_id = deadlines.popleft()
            reply = self._replies.get(request_id)
            if reply is not None and not reply.done():
                reply.set_exception(TimeoutError())
        self._sweep = (self._loop.call_later(SWEEP_S, self._fail_overdue)
                       if deadlines and self._loop is not None else None)

    def use_websocket(self, ws: aiohttp.ClientWebSocketResponse | None) -> None:
        """Send requests on `ws` from now on (None: back to HTTP, failing those in flight)."""
        self._ws = ws
        if ws is not None:
            self._loop = asyncio.get_running_loop()   # once here, not once a request
            return
        self._fail([r for r in self._replies if r not in self._on_lane],
                   "unreachable: events socket closed")

    def use_lane(self, ws: aiohttp.ClientWebSocketResponse | None) -> None:
        """Send urgent requests on `ws`, a socket of their own (None: over HTTP again,
        failing those in flight on it: a request that may have reached Asterisk is never
        sent twice)."""
        self._lane = ws
        if ws is not None:
            self._loop = asyncio.get_running_loop()
            return
        self._fail(list(self._on_lane), "unreachable: urgent socket closed")

    def _fail(self, request_ids: list[str], why: str) -> None:
        for request_id in request_ids:
            self._on_lane.discard(request_id)
            reply = self._replies.pop(request_id, None)
            if reply is not None and not reply.done():
                reply.set_exception(AriError(0, why))
        if not self._replies:
            self._deadlines.clear()
            if self._sweep is not None:
                self._sweep.cancel()
                self._sweep = None

    def replied(self, message: dict) -> None:
        """A RESTResponse arrived on one of the sockets."""
        reply = self._replies.get(str(message.get("request_id")))
        if reply is not None and not reply.done():
            reply.set_result(message)

    # ---- channels --------------------------------------------------------
    async def originate(self, endpoint: str, *, app: str, app_args: str, caller_id: str,
                        channel_id: str, timeout_s: int, variables: Mapping[str, str] | None = None,
                        originator: str | None = None, urgent: bool = False) -> dict:
        """Ring `endpoint`; the channel enters Stasis (`app_args`) once answered."""
        return await self.request("POST", "/channels", params={
            "endpoint": endpoint, "app": app, "appArgs": app_args, "callerId": caller_id,
            "channelId": channel_id, "timeout": timeout_s, "originator": originator,
        }, body={"variables": dict(variables or {})}, urgent=urgent)

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang up; a channel already gone is not an error."""
        try:
            await self.request("DELETE", f"/channels/{channel_id}", params={"reason": reason})
        except AriError as exc:
            if exc.status != 404:
                raise

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        await self.request("POST", f"/channels/{channel_id}/moh", params={"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/moh")

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("POST", f"/channels/{channel_id}/mute",
                           params={"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("DELETE", f"/channels/{channel_id}/mute",
                           params={"direction": direction})

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/ring")

    async def play(self, channel_id: str, media: str, playback_id: str | None = None) -> dict:
        return await self.request("POST", f"/channels/{channel_id}/play",
                                  params={"media": media, "playbackId": playback_id})

    async def stop_playback(self, playback_id: str) -> None:
        try:
            await self.request("DELETE", f"/playbacks/{playback_id}")
        except AriError as exc:
            if exc.status != 404:
                raise

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        try:
            reply = await self.request("GET", f"/channels/{channel_id}/variable",
                                       params={"variable": name})
        except AriError as exc:
            if exc.status == 404:
                return None
            raise
        return (reply or {}).get("value")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/variable",
                           params={"variable": name, "value": value})

    async def channels(self) -> list[dict]:
        return await self.request("GET", "/channels") or []

    # ---- bridges ---------------------------------------------------------
    async def create_bridge(self, bridge_id: str, name: str = "", kind: str = "mixing") -> dict:
        return await self.request("POST", "/bridges",
                                   params={"type": kind, "bridgeId": bridge_id, "name": name})

    async def add_to_bridge(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel",
                           params={"channel": ",".join(channel_ids)})

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/removeChannel",
                           params={"channel": channel_id})

    async def destroy_bridge(self, bridge_id: str) -> None:
        try:
            await self.request("DELETE", f"/bridges/{bridge_id}")
        except AriError as exc:
            if exc.status != 404:
                raise

    async def play_bridge(self, bridge_id: str, media: str, playback_id: str) -> dict:
        """Play to everyone in the bridge, without taking anyone out of the mix."""
        return await self.request("POST", f"/bridges/{bridge_id}/play",
                                  params={"media": media, "playbackId": playback_id})

    async def record_bridge(self, bridge_id: str, name: str) -> dict:
        """Record the bridge's mixed audio to `<spool>/recording/<name>.wav` until the
        bridge goes (issue 18)."""
        return await self.request("POST", f"/bridges/{bridge_id}/record", params={
            "name": name, "format": "wav", "ifExists": "fail", "beep": False})

    async def snoop(self, channel_id: str, *, spy: str, whisper: str, app: str,
                    app_args: str, snoop_id: str) -> dict:
        """A snoop channel on `channel_id`: hears its audio (`spy`: "in" what the channel
        sends, "out" what it is sent, "both") and speaks into it (`whisper`: "out" adds to
        what the channel's own phone hears, "in" to what the channel sends on)."""
        return await self.request("POST", f"/channels/{channel_id}/snoop", params={
            "spy": spy, "whisper": whisper, "app": app, "appArgs": app_args,
            "snoopId": snoop_id})

    async def bridges(self) -> list[dict]:
        return await self.request("GET", "/bridges") or []

    async def info(self) -> dict:
        return await self.request("GET", "/asterisk/info")

    def events_url(self, app: str) -> str:
        """The events WebSocket's URL. No credentials: a URL ends up in logs and
        exception texts, so they go in the handshake's Authorization header."""
        ws = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        return f"{ws}/events?app={app}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers for the events WebSocket handshake."""
        return {"Authorization": self._auth}


def _param(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


EventHandler = Callable[[dict], Awaitable[None]]


class CoalescedWrites:
    """Stands in for the events socket's transport under aiohttp's frame writer, so the
    frames written in one turn of the loop leave in one write: under load, the events
    of one read wake several calls, whose requests would each cost a system call (on
    loopback, the kernel's whole delivery to Asterisk runs inside it). Frames keep
    their order; everything else is the transport's own."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def coalesce_writes(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Put `CoalescedWrites` under the socket's frame writer; False (and nothing
    changed) if this aiohttp does not have the writer where expected."""
    writer = getattr(ws, "_writer", None)
    transport = getattr(writer, "transport", None)
    if transport is None or not hasattr(transport, "write") or isinstance(
            transport, CoalescedWrites):
        return False
    writer.transport = CoalescedWrites(transport, asyncio.get_running_loop())
    return True


async def keep_socket(session: aiohttp.ClientSession, client: AriClient, app: str, site: str,
                      what: str, backoff: tuple[float, float],
                      serve: Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]], *,
                      on_close: Callable[[], None],
                      after_close: Callable[[], Awaitable[None]] | None = None) -> None:
    """Keep `app`'s ARI socket connected: `serve` each connection until it ends, then
    `on_close` (at once, even when cancelled) and `after_close`, and connect again after a
    delay that doubles from backoff[0] up to backoff[1] while connecting fails."""
    delay = backoff[0]
    while True:
        try:
            async with session.ws_connect(client.events_url(app), headers=client.auth_headers,
                                          heartbeat=10) as ws:
                delay = backoff[0]
                await serve(ws)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
            log.warning("site %s: ARI %s: %r", site, what, exc)
        finally:
            on_close()
        if after_close is not None:
            await after_close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff[1])


class AriLane:
    """A second REST-over-WebSocket connection to one site, for urgent requests only.

    Asterisk reads each socket's requests one after another on that socket's own thread,
    so a request on this one waits for no other call's. It connects as an ARI app of its
    own (`app`, unique to this controller: two sockets with one app name would replace
    each other); no channel ever enters that app, so no event comes on it, only replies.
    While it is down, urgent requests go over HTTP (`AriClient.request`).
    """

    def __init__(self, session: aiohttp.ClientSession, client: AriClient, app: str, site: str,
                 backoff: tuple[float, float] = (0.2, 5.0)):
        self._session = session
        self._client = client
        self._app = app
        self._site = site
        self._backoff = backoff

    async def run(self) -> None:
        await keep_socket(self._session, self._client, self._app, self._site, "urgent lane",
                          self._backoff, self._read, on_close=lambda: self._client.use_lane(None))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._client.use_lane(ws)
        log.info("site %s: ARI urgent lane connected", self._site)
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            try:
                message = orjson.loads(msg.data)
            except ValueError:
                log.error("site %s: malformed frame on the ARI urgent lane dropped", self._site)
                continue
            if isinstance(message, dict) and message.get("type") == "RESTResponse":
                self._client.replied(message)
        log.warning("site %s: ARI urgent lane closed; urgent requests over HTTP", self._site)


class AriEvents:
    """The events WebSocket of one site, kept connected with backoff.

    `on_connect` runs after each (re)connection, before any event of that
    connection is handled, so the caller can resynchronise its view.
    """

    def __init__(self, session: aiohttp.ClientSession, client: AriClient, app: str,
                 handler: EventHandler, on_connect: Callable[[], Awaitable[None]],
                 on_disconnect: Callable[[], Awaitable[None]], site: str,
                 backoff: tuple[float, float] = (0.2, 5.0), over_websocket: bool = True,
                 lag: Callable[[str, float], None] | None = None,
                 only: tuple[str, ...] = (), connected: asyncio.Event | None = None,
                 on_replaced: Callable[[], None] | None = None, lane: AriLane | None = None):
        self._session = session
        self._lane = lane   # urgent requests' own socket, kept while this one carries requests
        self._on_replaced = on_replaced   # another socket took the app: we step down
        self._only = only   # event types the app is sent (empty: every type)
        self._lag = lag   # (stage, seconds): Asterisk -> read ("socket"), read -> handled ("queue")
        self._over_websocket = over_websocket
        self._client = client
        self._app = app
        self._handler = handler
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._site = site
        self._backoff = backoff
        self.connected = connected or asyncio.Event()   # set while the socket is up

    async def run(self) -> None:
        await keep_socket(self._session, self._client, self._app, self._site, "events",
                          self._backoff, self._serve,
                          on_close=lambda: self._client.use_websocket(None),
                          after_close=self._disconnected)

    async def _disconnected(self) -> None:
        if self.connected.is_set():
            self.connected.clear()
            log.warning("site %s: ARI events disconnected; reconnecting", self._site)
            await self._on_disconnect()

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read the socket: replies go to their requests at once, events queue in order.

        Events are handled by a second task, so a handler that awaits an ARI
        reply never blocks the reads that bring it.
        """
        if not coalesce_writes(ws):
            log.info("site %s: ARI frames written one by one", self._site)
        log.info("site %s: ARI events connected", self._site)
        events: asyncio.Queue[dict | None] = asyncio.Queue()
        lane: list[asyncio.Task] = []   # started once requests are known to go on sockets
        handling = asyncio.create_task(self._handle_in_order(events, ws, lane))
        # a failed resync closes the socket, which ends the reads below: reconnect
        handling.add_done_callback(
            lambda _: None if ws.closed else asyncio.ensure_future(ws.close()))
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                message = self._parse(msg.data)
                if message is None:
                    continue
                if message["type"] == "RESTResponse":
                    self._client.replied(message)
                elif message["type"] == "ApplicationReplaced":
                    # Asterisk gave the app to a newer socket: we hear nothing more here
                    log.warning("site %s: ARI app taken by another connection", self._site)
                    if self._on_replaced is not None:
                        self._on_replaced()
                    break
                else:
                    if self._lag is not None:
                        self._measure(message)
                    events.put_nowait(message)
        except asyncio.CancelledError:
            handling.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the socket failed; what was read is handled
            log.warning("site %s: ARI events socket failed: %r", self._site, exc)
        finally:
            for task in lane:
                task.cancel()
            self._client.use_websocket(None)
        events.put_nowait(None)
        try:
            await handling   # the events read before the close are handled too
        except asyncio.CancelledError:
            handling.cancel()
            raise

    async def _handle_in_order(self, events: asyncio.Queue, ws: aiohttp.ClientWebSocketResponse,
                               lane: list[asyncio.Task]) -> None:
        if self._over_websocket:
            await self._try_websocket(ws)
        if self._lane is not None and self._client.over_websocket:
            lane.append(asyncio.create_task(self._lane.run(), name=f"ari-lane-{self._site}"))
        if self._only:
            await self._filter_events()
        await self._on_connect()
        self.connected.set()
        while (event := await events.get()) is not None:
            if self._lag is not None and "_read_at" in event:
                self._lag("queue", time.monotonic() - event.pop("_read_at"))
            try:
                await self._handler(event)
            except Exception:
                log.exception("site %s: handling %s failed", self._site, event.get("type"))

    async def _filter_events(self) -> None:
        """Ask Asterisk to send only the events we handle: it otherwise sends some 80 per
        call (variable sets, state changes, bridge moves), each a full channel snapshot to
        serialise there and parse here."""
        allowed = [{"type": kind} for kind in (*self._only, "RESTResponse",
                                               "ApplicationReplaced")]
        try:
            await self._client.request("PUT", f"/applications/{self._app}/eventFilter",
                                       body={"allowed": allowed, "disallowed": []})
        except AriError as exc:
            log.warning("site %s: ARI event filter not set, all events come (%s)",
                        self._site, exc)

    async def _try_websocket(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Requests go on the socket if this Asterisk answers there; else over HTTP."""
        self._client.use_websocket(ws)
        try:
            await self._client.request("GET", "/asterisk/ping")
        except AriError as exc:
            self._client.use_websocket(None)
            log.warning("site %s: ARI requests stay on HTTP (%s)", self._site, exc)

    def _measure(self, event: dict) -> None:
        assert self._lag is not None
        event["_read_at"] = time.monotonic()
        try:
            sent = datetime.fromisoformat(event["timestamp"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return
        self._lag("socket", max(0.0, time.time() - sent))

    def _parse(self, raw: str) -> dict | None:
        try:
            event = orjson.loads(raw)   # a malformed frame raises a ValueError
            if not isinstance(event, dict) or "type" not in event:
                raise ValueError("not an ARI event object")
        except ValueError as exc:
            log.error("site %s: malformed ARI event dropped: %s", self._site, exc)
            return None
        return event
