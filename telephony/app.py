"""The one place where the controller's objects are built and wired.

Objects are built in dependency order (each gets what it needs passed in, nothing
reaches back), and `running` is the aiohttp cleanup context that starts every
background task and, on stop, cancels and awaits each of them.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services import redis_link
from services.api import API_PREFIX, Accounts, ApiDeps, EventHub, build_api, load_accounts
from services.api.accounts import AccountsError, load_users
from services.api.callers import JsonlAudit
from services.api.open311 import OPEN311_PREFIX, Open311Deps, build_open311
from services.api.open311_keys import load_open311_keys
from services.api.sessions import RedisSessions
from services.overflow import OverflowState
from services.recordings.library import RecordingLibrary
from services.seats import RedisSeatMirror, SeatBoard
from services.web import add_web_routes
from services.work_orders.ids import new_order_id
from services.work_orders.outbox import OVERFLOW_NAME, Outbox, Spool
from telephony.ami.client import AmiClient
from telephony.call_log import CallLogRecorder
from telephony.ari.calls import CONTROLLER_EVENTS, AriSwitch, Dialer, signal_handler
from telephony.ari.client import AriClient, AriEvents, AriLane
from telephony.callbacks import CallbackBook, CallbackJob
from telephony.calls.controller import CallController, TransferTargets
from telephony.calls.ports import LegGone
from telephony.calls.journal import CallJournal, Observers
from telephony.calls.ports import LeasedSwitch
from telephony.calls.store import RedisCallStore
from telephony.desk import ControllerDesk, EventFeed, OverflowSwitch
from telephony.kb_faq import KbFaq
from telephony.leases import RedisLeaseStore, SiteLeases
from telephony.loop_watch import LoopWatch, StallProbe
from telephony.metrics import CallMetrics, ControllerCollector
from telephony.order_db import OrderDatabase
from telephony.orders import OrderRecorder
from telephony.prompts import faq_media, position_settings
from telephony.service_levels import ServiceLevelWatch
from telephony.recording import CallRecorder, expire_recordings
from telephony.supervision import SupervisionDesk, SupervisionLeg
from telephony.settings import Settings, Site, environment
from telephony.suggestions import Suggestions, resuggester, settle_heap
from telephony.transfers import ControllerTransfers, TransferBook

log = logging.getLogger("hotline.app")


@dataclass
class SiteLink:
    site: Site
    ari: AriClient
    events: AriEvents
    ami: AmiClient


def lane_app(settings: Settings) -> str:
    """The ARI app name of this controller's urgent-request socket: its own per controller,
    since a second socket under one name takes the app from the first."""
    return f"{settings.app_name}-lane-{settings.controller_id}"


class Controller:
    """The running controller: one ARI + AMI link per site, and call control."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, redis: Any = None):
        s = self.settings = settings
        self._session, self.redis = session, redis
        self._background: set[asyncio.Task] = set()   # Redis writes, fire and forget
        self.journal, self.events = CallJournal(), EventHub()
        self.transfers = TransferBook(self.events.publish)   # transfers as API resources
        self.registry = CollectorRegistry()
        self.call_metrics = CallMetrics(self.registry)
        self.loop_watch = LoopWatch(self.registry)
        self.suggestions = Suggestions({site.name: site.platform for site in s.sites})
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(redis, s.data_dir / "outbox",
                             min_replicas=redis_link.min_replicas(s.redis_url or "redis://"),
                             replicas=redis_link.replica_watch(s.redis_url or "redis://"))
        self.recorder = OrderRecorder(
            self.outbox.publish_many, {site.name: site.region_code for site in s.sites},
            suggestion_of=self.suggestions.current,
            published=self.call_metrics.order_event_published,
            overflow=Spool(s.data_dir / "outbox", OVERFLOW_NAME, durable=False))
        self.order_db = OrderDatabase(s, self.outbox, self.events.publish)
        self.faq = KbFaq(lambda: self.order_db.knowledge,
                         {site.name: site.region_code for site in s.sites}, self._spawn)
        # the call log rides the order outbox: the consumer applies it (services/call_log)
        self.call_log = CallLogRecorder(self.outbox.publish_many)
        self.service_levels = ServiceLevelWatch(
            [site.name for site in s.sites],
            lambda: self.order_db.call_log.service_levels if self.order_db.call_log else None)
        self.registry.register(self.service_levels)
        self.board = SeatBoard(((site.name, seat) for site in s.sites for seat in site.seats),
                               clock=time.monotonic,
                               mirror=RedisSeatMirror(redis, self._spawn) if redis else None)
        # with Redis, sites are leased: this controller serves only those it holds
        self.leases = SiteLeases(
            RedisLeaseStore(redis), (site.name for site in s.sites), s.controller_id,
            on_gained=self._site_gained, on_lost=self._site_lost,
            ttl_s=s.lease_ttl_s) if redis else None
        self.call_store = RedisCallStore(
            redis, self._spawn, fence=self.leases.fence if self.leases else None
        ) if redis else None
        self.callback_book = CallbackBook(time.monotonic)
        self.aris = {site.name: self._ari(site) for site in s.sites}
        self.recording_policies = {site.name: site.recording for site in s.sites}
        self.call_recorder = CallRecorder(self.aris, self.recording_policies,
                                          lambda: self.order_db.recordings,
                                          clock=lambda: datetime.now(UTC))
        self.recordings = RecordingLibrary(lambda: self.order_db.recordings, s.recordings_dir)
        self.switches = {name: AriSwitch(ari, s.app_name, Dialer(handover_dial(s),
                                                                 lines=frozenset(s.lines)))
                         for name, ari in self.aris.items()}
        # each site's events socket owns its "connected" flag; call control reads it
        self.connected = {site.name: asyncio.Event() for site in s.sites}
        # the guard every command passes: no lease, no command
        self.guarded = {name: LeasedSwitch(switch, name, self.holds)
                        for name, switch in self.switches.items()}
        self._site_tasks: dict[str, asyncio.Task] = {}   # events socket of each site served
        self.supervision = SupervisionDesk(
            self.aris, s.app_name, {site.name: site.supervisor_seats for site in s.sites},
            lambda call_id: self.calls.call(call_id), lambda: self.order_db.recordings,
            self.events.publish)
        self.calls = self._call_control()
        self.registry.register(ControllerCollector(self.calls, self._outbox_state))
        self.links = {site.name: self._link(site) for site in s.sites}
        self.overflow = OverflowSwitch(self.calls.seats, s.data_dir / "overflow-audit.jsonl")
        self.resuggest = resuggester(self.suggestions, self.calls.suggestion_changed,
                                     self.recorder.summary, self.events.publish)
        self.desk = ControllerDesk(
            self.calls, self.board, self.overflow.force, self.resuggest,
            # callbacks go out through the PSTN gateway, when the topology names one
            new_order_id=(lambda platform: new_order_id(platform, datetime.now()))
            if s.citizen_gateway else None,
            site_platform={site.name: site.platform for site in s.sites},
            blind=s.blind_transfer, bookings=self.callback_book.views)
        self.callback_job = CallbackJob(self.callback_book, sorted(s.callback_sites),
                                        self._site_is_free, self.desk.place_callback)

    def _site_is_free(self, site: str) -> bool:
        """A free seat and nobody waiting: a booked callback may be placed now."""
        return self.board.available(site) > 0 and not len(self.calls.seats.waiting(site))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _ari(self, site: Site) -> AriClient:
        creds, timed = self.settings.credentials, self.call_metrics.ari_request
        by_operation: dict[str, Any] = {}   # labels() locks and validates: once per kind

        def observe(operation: str, seconds: float) -> None:
            child = by_operation.get(operation)
            if child is None:
                child = by_operation[operation] = timed.labels(site.name, operation)
            child.observe(seconds)
        return AriClient(self._session, site.ari_url, creds.ari_user, creds.ari_password,
                         timed=observe)

    def holds(self, site: str) -> bool:
        """The lease guard: without Redis (no leases) a lone controller serves every site."""
        return self.leases is None or self.leases.holds(site)

    def _site_up(self, site: str) -> bool:
        """A hand-over target is up if we serve it and hear it, or another controller
        holds its lease (and so serves it)."""
        if self.holds(site):
            return self.connected[site].is_set()
        return self.leases is not None and self.leases.held_by_anyone(site)

    def _call_control(self) -> CallController:
        s = self.settings
        return CallController(
            self.guarded, self.board, clock=time.monotonic, ring_timeout_s=s.ring_timeout_s,
            new_order_id=lambda platform: new_order_id(platform, datetime.now()),
            site_platform={site.name: site.platform for site in s.sites},
            targets=TransferTargets(
                handover={site.name: s.other_platform_site(site).name for site in s.sites},
                site_up=self._site_up,
                timeout_s=s.transfer_timeout_s, blind=s.blind_transfer),
            observer=Observers(self.journal, self.recorder, self.call_log, self.call_metrics,
                               EventFeed(self.events.publish, lambda: self.events.subscribers > 0),
                               self.suggestions, self.faq,
                               self.transfers, self.callback_book, self.call_recorder,
                               self.supervision),
            suggest=self.suggestions.at_arrival,
            overflow={site.name: OverflowState(site.overflow) for site in s.sites if site.overflow},
            surge_after_s={site.name: site.surge_after_s for site in s.sites
                           if site.surge_after_s is not None},
            faq_media=tuple(faq_media()), faq_menu=self.faq.menu, positions=position_settings(),
            store=self.call_store)

    def _link(self, site: Site) -> SiteLink:
        calls, ari, name = self.calls, self.aris[site.name], site.name
        lags = {stage: self.call_metrics.ari_event_lag.labels(name, stage)
                for stage in ("socket", "queue")}
        events = AriEvents(self._session, ari, self.settings.app_name,
                           signal_handler(name, self._route_signal),
                           on_connect=self._squared_up(site), on_disconnect=_nothing,
                           site=name, over_websocket=self.settings.ari_requests == "websocket",
                           lag=lambda stage, seconds: lags[stage].observe(seconds),
                           only=CONTROLLER_EVENTS, connected=self.connected[name],
                           on_replaced=self._replaced(name) if self.leases else None,
                           lane=AriLane(self._session, ari, lane_app(self.settings), site=name))
        creds = self.settings.credentials
        ami = AmiClient(
            name, site.address, site.ami_port, creds.ami_user, creds.ami_secret,
            on_registration=lambda aor, yes: calls.seats.seat_registered(name, aor, yes),
            on_resync=lambda aors: calls.seats.seats_resynced(name, aors))
        return SiteLink(site, ari, events, ami)

    async def _route_signal(self, site: str, signal: Any) -> None:
        """Supervision's own legs go to supervision; everything else to call control."""
        if isinstance(signal, SupervisionLeg):
            await self.supervision.entered(site, signal)
        elif isinstance(signal, LegGone) and self.supervision.owns(signal.leg_id):
            await self.supervision.gone(signal.leg_id)
        else:
            await self.calls.on_signal(site, signal)

    def _squared_up(self, site: Site) -> Callable[[], Awaitable[None]]:
        calls, store, switch = self.calls, self.call_store, self.switches[site.name]

        async def connected() -> None:
            """Square our calls with what Asterisk holds: end those whose legs vanished
            while we could not hear, adopt those it kept while nobody served the site
            (Asterisk's bridges and the legs' stamps over the stored records)."""
            try:
                snapshot = await switch.snapshot()
            except Exception as exc:  # noqa: BLE001 - ARI away again: the next connect retries
                log.warning("site %s: could not list channels: %r", site.name, exc)
                return
            calls.reconcile(site.name, set(snapshot.alive))
            if store is None:
                return
            try:
                records = await store.load()
            except Exception as exc:  # noqa: BLE001 - Redis away: nothing to adopt now
                log.warning("site %s: could not look for calls to adopt: %r", site.name, exc)
                return
            adopted = calls.recover(site.name, records, snapshot)
            if adopted:
                log.warning("site %s: adopted %d live calls", site.name, len(adopted))
        return connected

    # ---- site leases: serve a site only while holding it ----------------------------------
    def _serve(self, name: str) -> None:
        if name not in self._site_tasks:
            self._site_tasks[name] = asyncio.create_task(self.links[name].events.run(),
                                                         name=f"ari-{name}")

    async def _site_gained(self, name: str, epoch: int) -> None:
        """Our lease: connect to the site's ARI app (which adopts its live calls)."""
        self._serve(name)

    async def _site_lost(self, name: str, why: str) -> None:
        """Not ours any more: the guard already refuses commands (no lease); close the
        site's app socket and let go of its calls without touching them."""
        task = self._site_tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.connected[name].clear()
        dropped = self.calls.abandon_site(name)
        log.warning("site %s: stepped down (%s); %d calls left to the next holder", name,
                    why, dropped)

    async def _lease_sites(self) -> None:
        """Take leases only once start-up's heavy work (the routing model, which holds the
        loop for seconds) is over: a lease renewed late is a lease lost, and its calls
        would move to another controller for nothing."""
        assert self.leases is not None
        while not self.suggestions.settled:
            await asyncio.sleep(0.1)
        await self.leases.run()

    def _replaced(self, name: str) -> Callable[[], None]:
        def replaced() -> None:
            assert self.leases is not None
            self._spawn(self.leases.step_down(name, "ARI app replaced by another connection"))
        return replaced

    # ---- lifecycle ------------------------------------------------------------------------
    async def running(self, app: web.Application | None = None) -> AsyncIterator[None]:
        """The aiohttp cleanup context: start every background task; on stop cancel
        and await each, then close the links."""
        tasks = []
        if self.leases is not None:
            tasks.append(asyncio.create_task(self._lease_sites(), name="site-leases"))
        else:
            for name in self.links:
                self._serve(name)
        for link in self.links.values():
            link.ami.connect()
        tasks += [asyncio.create_task(coro, name=name) for name, coro in (
            ("overflow-tick", self.calls.seats.tick()), ("orders-recorder", self.recorder.run()),
            ("orders-outbox", self.outbox.run()), ("orders-db", self.order_db.run()),
            ("kb-faq", self.faq.run()), ("loop-watch", self.loop_watch.run()),
            ("call-log-recorder", self.call_log.run()),
            ("service-levels", self.service_levels.run()),
            ("routing-load", self.suggestions.load()),
            ("callbacks", self.callback_job.run()), ("recordings", self.call_recorder.run()),
            ("recording-retention", expire_recordings(
                lambda: self.order_db.recordings, self.recordings, self.recording_policies,
                self.settings.recording_expiry_s)))]
        probe = None
        if self.settings.stall_probe_ms:
            probe = StallProbe(self.loop_watch, self.settings.stall_probe_ms / 1000)
            probe.start()
        try:
            yield
        finally:
            if probe is not None:
                probe.stop()
            for task in tasks:   # the leases first: each held site is handed back
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            served = list(self._site_tasks.values())
            for task in served:
                task.cancel()
            await asyncio.gather(*served, return_exceptions=True)
            await self.calls.close()
            # what the publishers had in memory (a batch in hand, their queues) goes to the
            # outbox's spool: the next start sends it first, so a stop loses no event
            unsent = [*self.recorder.unpublished(), *self.call_log.unpublished()]
            try:
                self.outbox.keep(unsent)
            except OSError as exc:   # the spool's disk: say what is lost, then stop anyway
                log.error("%d order and call-log events lost at stop: spool not written (%s)",
                          len(unsent), exc)
            for link in self.links.values():
                link.ami.close()
            background = list(self._background)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

    # ---- views ------------------------------------------------------------------------------
    def _outbox_state(self) -> dict:
        return {"pending": self.recorder.pending(), "spooling": self.outbox.spooling}

    def roles(self) -> dict:
        """This process among the controllers: its id, pid, the sites it holds, its epoch."""
        if self.leases is None:
            return {"id": self.settings.controller_id, "pid": os.getpid(),
                    "sites": sorted(self.links), "epoch": None, "leases": {},
                    "lease_store": "none"}
        return {**self.leases.state(), "pid": os.getpid(),
                "refused": {"commands": sum(sw.refused for sw in self.guarded.values()),
                            "writes": self.call_store.refused if self.call_store else 0}}

    def _ready(self, sites: dict) -> bool:
        """Every site is served (by us, connected, or by another controller's lease) and
        routing is loaded."""
        def served(name: str, view: dict) -> bool:
            if self.holds(name):
                return view["ari"] and view["ami"]
            return self._site_up(name)
        return (bool(sites) and all(served(name, view) for name, view in sites.items())
                and self.suggestions.settled)

    def health(self) -> dict:
        sites = {
            name: {"ari": link.events.connected.is_set(), "ami": link.ami.logged_in.is_set(),
                   "ari_requests": "websocket" if link.ari.over_websocket else "http",
                   "urgent_requests": "lane" if link.ari.lane_up else "http",
                   "held": self.holds(name)}
            for name, link in self.links.items()
        }
        seats = self.calls.seats
        return {"ready": self._ready(sites), "sites": sites, "controller": self.roles(),
                "orders": {"database": self.order_db.service is not None,
                           "consumer": self.order_db.consumer_state(),
                           "spooling": bool(self.outbox.spooling),
                           "spilling": self.recorder.spilling,
                           "pending": self.recorder.pending(),
                           "call_log_pending": self.call_log.pending()},
                "routing": self.suggestions.routing is not None,
                "overflow": seats.overflow_status(),
                "faq": self.faq.status(),
                "load": {site: {**vars(seats.load(site)), **vars(counters)}
                         for site, counters in self.calls.counters.items()},
                "calls": self.calls.state_counts(),
                "seats": seats.seat_states()}


async def _nothing() -> None:
    """A lost events socket: calls stay (Asterisk may still hold them); the next
    connect squares up."""


def handover_dial(settings: Settings) -> dict[str, str]:
    """Each site's *1/*2 target: the other platform's service number over the trunk."""
    out = {}
    for site in settings.sites:
        other = settings.other_platform_site(site)
        out[site.name] = f"{other.service_number}@{site.trunk_to(other.name)}"
    return out


CONTROLLER = web.AppKey("controller", Controller)


def api_deps(controller: Controller, accounts: Accounts) -> ApiDeps:
    """What the API calls, from the controller's parts (services it needs before they are
    up are given as callables: the endpoints answer 503 until they are)."""
    settings = controller.settings
    return ApiDeps(
        orders=lambda: controller.order_db.service,
        dispatch=lambda: controller.order_db.dispatch,
        knowledge=lambda: controller.order_db.knowledge,
        call_log=lambda: controller.order_db.call_log,
        routing=lambda: controller.suggestions.routing,
        desk=controller.desk,
        accounts=accounts,
        events=controller.events,
        site_platforms={site.name: site.platform for site in settings.sites},
        allowed_origins=settings.api_origins,
        audit=JsonlAudit(settings.data_dir / "lookup-audit.jsonl"),
        transfers=ControllerTransfers(controller.calls, controller.transfers,
                                      frozenset(settings.lines)),
        recordings=controller.recordings,
        supervision=controller.supervision,
    )


def build_web_app(controller: Controller, accounts: Accounts | None = None) -> web.Application:
    """Health, metrics, the lab journal, and the API under /api/v1 (with accounts);
    the controller runs while the app does (cleanup_ctx)."""
    app = web.Application()
    app[CONTROLLER] = controller
    app.cleanup_ctx.append(controller.running)
    settings = controller.settings
    if accounts is not None:
        app.add_subapp(API_PREFIX, build_api(api_deps(controller, accounts)))
        app.add_subapp(OPEN311_PREFIX, build_open311(Open311Deps(
            lambda: controller.order_db.service,
            load_open311_keys(settings.open311_keys_file, lab_mode=settings.lab_mode))))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(request.app[CONTROLLER].health())

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(request.app[CONTROLLER].registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if settings.lab_mode:
        async def journal(request: web.Request) -> web.Response:
            entries = request.app[CONTROLLER].journal.entries(request.query.get("order"))
            return web.json_response(entries)

        # lab only: what recent calls did, for the lab's tests and the demo
        app.router.add_get("/lab/journal", journal)
    add_web_routes(app)
    return app


def reload_users(accounts: Accounts, settings: Settings) -> None:
    """SIGHUP: read the API users file again (token rotation); a bad file keeps the old."""
    try:
        accounts.reload(load_users(environment(), lab_mode=settings.lab_mode))
    except AccountsError as exc:
        log.error("API users not reloaded: %s", exc)
        return
    log.info("API users reloaded (%d users)", len(accounts))


def connect_redis(settings: Settings) -> Any:
    if not settings.redis_url:
        return None
    return redis_link.connect(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)


async def run_controller(settings: Settings) -> None:
    # a bad users file stops start-up before anything answers calls
    accounts = load_accounts(environment(), lab_mode=settings.lab_mode)
    redis = connect_redis(settings)
    async with aiohttp.ClientSession() as session:
        controller = Controller(settings, session, redis)
        if redis is not None:
            # sessions outlive this process: a restarted controller knows every desk's login
            accounts.sessions = RedisSessions(redis)
        runner = web.AppRunner(build_web_app(controller, accounts), access_log=None)
        await runner.setup()   # starts the controller (cleanup_ctx)
        settle_heap()
        await web.TCPSite(runner, settings.api_host, settings.api_port).start()
        log.info("controller up; health at http://%s:%d/healthz", settings.api_host,
                 settings.api_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, reload_users, accounts, settings)
        await stop.wait()
        log.info("controller stopping")
        await runner.cleanup()   # stops the controller: every task cancelled and awaited
    if redis is not None:
        await redis.aclose()
