"""The one place where the controller's objects are built and wired."""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiohttp import web

from services.seats import RedisSeatMirror, SeatBoard
from services.work_orders.ids import new_order_id
from telephony.ami.client import AmiClient
from telephony.ari.client import AriClient, AriEvents
from telephony.ari.events import MalformedEvent, parse_event
from telephony.ari.switch import AriSwitch
from telephony.calls.controller import CallController, TransferTargets
from telephony.calls.journal import CallJournal, Observers
from telephony.settings import Settings, Site

log = logging.getLogger("hotline.app")


@dataclass
class SiteLink:
    site: Site
    ari: AriClient
    events: AriEvents
    ami: AmiClient


class Controller:
    """The running controller: one ARI + AMI link per site, and call control."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.links: dict[str, SiteLink] = {}
        self.calls: CallController | None = None
        self.journal = CallJournal()
        self.redis = None
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        s = self.settings
        self._session = aiohttp.ClientSession()
        mirror = None
        if s.redis_url:
            import redis.asyncio as aioredis
            self.redis = aioredis.from_url(s.redis_url, socket_timeout=1.0,
                                           socket_connect_timeout=1.0)
            mirror = RedisSeatMirror(self.redis, self._spawn)
        board = SeatBoard(((site.name, seat) for site in s.sites for seat in site.seats),
                          clock=time.monotonic, mirror=mirror)
        aris = {site.name: AriClient(self._session, site.ari_url, s.credentials.ari_user,
                                     s.credentials.ari_password) for site in s.sites}
        switches = {name: AriSwitch(ari, s.app_name) for name, ari in aris.items()}
        self.calls = CallController(
            switches, board, clock=time.monotonic, ring_timeout_s=s.ring_timeout_s,
            new_order_id=lambda platform: new_order_id(platform, datetime.now()),
            site_platform={site.name: site.platform for site in s.sites},
            targets=TransferTargets(
                handover=self._handover_endpoints(),
                site_up=self._site_up,
                timeout_s=s.transfer_timeout_s,
                blind=s.blind_transfer,
            ),
            observer=Observers(self.journal),
        )
        for site in s.sites:
            self.links[site.name] = self._link(site, aris[site.name])
        for link in self.links.values():
            link.ami.connect()
            self._tasks.append(asyncio.create_task(link.events.run(), name=f"ari-{link.site.name}"))

    def _handover_endpoints(self) -> dict[str, tuple[str, str]]:
        """Each site's *1/*2 target: the other platform's service number over the trunk."""
        out = {}
        for site in self.settings.sites:
            other = self.settings.other_platform_site(site)
            out[site.name] = (other.name, f"PJSIP/{other.service_number}@{site.trunk_to(other.name)}")
        return out

    def _site_up(self, name: str) -> bool:
        link = self.links.get(name)
        return bool(link and link.events.connected.is_set())

    def _link(self, site: Site, ari: AriClient) -> SiteLink:
        calls = self.calls
        assert calls is not None and self._session is not None

        async def handle(raw: dict) -> None:
            try:
                event = parse_event(raw)
            except MalformedEvent as exc:
                log.error("site %s: malformed ARI event dropped: %s", site.name, exc)
                return
            if event is not None:
                await calls.on_event(site.name, event)

        async def connected() -> None:
            pass

        async def disconnected() -> None:
            calls.site_lost(site.name)

        events = AriEvents(self._session, ari, self.settings.app_name, handle,
                           on_connect=connected, on_disconnect=disconnected, site=site.name)
        creds = self.settings.credentials
        ami = AmiClient(
            site.name, site.address, site.ami_port, creds.ami_user, creds.ami_secret,
            on_registration=lambda aor, yes: calls.seat_registered(site.name, aor, yes),
            on_resync=lambda aors: calls.seats_resynced(site.name, aors),
        )
        return SiteLink(site, ari, events, ami)

    def health(self) -> dict:
        sites = {
            name: {"ari": link.events.connected.is_set(), "ami": link.ami.logged_in.is_set()}
            for name, link in self.links.items()
        }
        ready = bool(sites) and all(v["ari"] and v["ami"] for v in sites.values())
        return {"ready": ready, "sites": sites,
                "calls": self.calls.state_counts() if self.calls else {},
                "seats": self.calls.seat_states() if self.calls else {}}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.calls:
            await self.calls.close()
        for link in self.links.values():
            link.ami.close()
        if self._session:
            await self._session.close()
        if self.redis is not None:
            await self.redis.aclose()


CONTROLLER = web.AppKey("controller", Controller)


def build_web_app(controller: Controller) -> web.Application:
    app = web.Application()
    app[CONTROLLER] = controller

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(request.app[CONTROLLER].health())

    app.router.add_get("/healthz", healthz)
    if controller.settings.lab_mode:
        async def journal(request: web.Request) -> web.Response:
            entries = request.app[CONTROLLER].journal.entries(request.query.get("order"))
            return web.json_response(entries)

        # lab only: what recent calls did, for the lab's tests and the demo
        app.router.add_get("/lab/journal", journal)
    return app


async def run_controller(settings: Settings) -> None:
    controller = Controller(settings)
    await controller.start()
    runner = web.AppRunner(build_web_app(controller), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.api_host, settings.api_port).start()
    log.info("controller up; health at http://%s:%d/healthz", settings.api_host, settings.api_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("controller stopping")
    await runner.cleanup()
    await controller.stop()
