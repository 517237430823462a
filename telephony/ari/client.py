"""ARI over aiohttp: REST calls and the events WebSocket of one site.

`ari-py` is Python-2 era and `aioari` is thin and old; ARI is small enough
that one aiohttp session does it well. No aiohttp type leaves this module
except through `AriError`.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class AriError(Exception):
    """An ARI request failed: `status` is the HTTP status (0: unreachable)."""

    def __init__(self, status: int, message: str, path: str = ""):
        super().__init__(f"ARI {path}: {status} {message}".strip())
        self.status = status
        self.path = path


class AriClient:
    """REST calls against one site's ARI."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, user: str, password: str,
                 timeout_s: float = 5.0):
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._auth = aiohttp.encode_basic_auth(user, password)
        self._user, self._password = user, password
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                      body: Any = None) -> Any:
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session.request(
                method, f"{self.base_url}{path}", params=clean, json=body,
                headers={"Authorization": self._auth}, timeout=self._timeout,
            ) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise AriError(resp.status, text.strip()[:200], path)
                return json.loads(text) if text else None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise AriError(0, f"unreachable: {exc!r}", path) from exc

    # ---- channels --------------------------------------------------------
    async def originate(self, endpoint: str, *, app: str, app_args: str, caller_id: str,
                        channel_id: str, timeout_s: int, variables: Mapping[str, str] | None = None,
                        originator: str | None = None) -> dict:
        """Ring `endpoint`; the channel enters Stasis (`app_args`) once answered."""
        return await self.request("POST", "/channels", params={
            "endpoint": endpoint, "app": app, "appArgs": app_args, "callerId": caller_id,
            "channelId": channel_id, "timeout": timeout_s, "originator": originator,
        }, body={"variables": dict(variables or {})})

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
    async def create_bridge(self, bridge_id: str, name: str = "") -> dict:
        return await self.request("POST", "/bridges",
                                   params={"type": "mixing", "bridgeId": bridge_id, "name": name})

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

    async def bridges(self) -> list[dict]:
        return await self.request("GET", "/bridges") or []

    async def info(self) -> dict:
        return await self.request("GET", "/asterisk/info")

    def events_url(self, app: str) -> str:
        ws = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        return f"{ws}/events?app={app}&api_key={self._user}:{self._password}"


def _param(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


EventHandler = Callable[[dict], Awaitable[None]]


class AriEvents:
    """The events WebSocket of one site, kept connected with backoff.

    `on_connect` runs after each (re)connection, before any event of that
    connection is handled, so the caller can resynchronise its view.
    """

    def __init__(self, session: aiohttp.ClientSession, client: AriClient, app: str,
                 handler: EventHandler, on_connect: Callable[[], Awaitable[None]],
                 on_disconnect: Callable[[], Awaitable[None]], site: str,
                 backoff: tuple[float, float] = (0.2, 5.0)):
        self._session = session
        self._client = client
        self._app = app
        self._handler = handler
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._site = site
        self._backoff = backoff
        self.connected = asyncio.Event()

    async def run(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                async with self._session.ws_connect(self._client.events_url(self._app),
                                                    heartbeat=10) as ws:
                    delay = self._backoff[0]
                    log.info("site %s: ARI events connected", self._site)
                    await self._on_connect()
                    self.connected.set()
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        await self._dispatch(msg.data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                log.warning("site %s: ARI events: %r", self._site, exc)
            if self.connected.is_set():
                self.connected.clear()
                log.warning("site %s: ARI events disconnected; reconnecting", self._site)
                await self._on_disconnect()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _dispatch(self, raw: str) -> None:
        try:
            event = json.loads(raw)
            if not isinstance(event, dict) or "type" not in event:
                raise ValueError("not an ARI event object")
        except ValueError as exc:
            log.error("site %s: malformed ARI event dropped: %s", self._site, exc)
            return
        try:
            await self._handler(event)
        except Exception:
            log.exception("site %s: handling %s failed", self._site, event.get("type"))
