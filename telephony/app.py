"""The one place where the controller's objects are built and wired."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.api import API_PREFIX, Accounts, ApiDeps, EventHub, build_api, load_accounts
from services.api.accounts import AccountsError, load_users
from services.api.sessions import RedisSessions
from services.overflow import OverflowState
from services.seats import RedisSeatMirror, SeatBoard
from services.web import add_web_routes
from services.work_orders.ids import new_order_id
from services.work_orders.outbox import Outbox
from services.work_orders.worker import OrderWorker
from telephony.ami.client import AmiClient
from telephony.ari.client import AriClient, AriEvents
from telephony.ari.events import CONTROLLER_EVENTS, MalformedEvent, parse_event
from telephony.ari.switch import AriSwitch
from telephony.calls.controller import CallController, CallObserver, TransferTargets
from telephony.calls.journal import CallJournal, Observers
from telephony.calls.model import Call
from telephony.calls.store import RedisCallStore
from telephony.desk import ControllerDesk, EventFeed
from telephony.lab.prompts import faq_media, position_settings
from telephony.metrics import CallMetrics, ControllerCollector
from telephony.orders import OrderRecorder
from telephony.settings import Settings, Site

if TYPE_CHECKING:   # heavy imports, loaded in the background at start
    from services.knowledge.service import KnowledgeService
    from services.routing import RoutingService
    from services.work_orders.service import WorkOrderService

log = logging.getLogger("hotline.app")

# IVR choices that put a waiting caller at the head of the line
EMERGENCY_IVR_CHOICES = frozenset({"police", "fire", "medical"})


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
        self.events = EventHub()
        self.board: SeatBoard | None = None
        self.registry = CollectorRegistry()
        self.call_metrics = CallMetrics(self.registry)
        self.registry.register(ControllerCollector(lambda: self.calls, self._outbox_state))
        self.routing: RoutingService | None = None   # once the model is loaded
        self.routing_settled = False   # loaded, or failed to (calls go on without)
        self.orders: WorkOrderService | None = None  # once the database answers
        self.knowledge: KnowledgeService | None = None  # the knowledge base, with the orders
        self.outbox: Outbox | None = None
        self.recorder: OrderRecorder | None = None
        self.order_worker: OrderWorker | None = None
        self.redis: Any = None
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
        self.call_store = None
        if s.redis_url:
            import redis.asyncio as aioredis
            self.redis = aioredis.from_url(s.redis_url, socket_timeout=1.0,
                                           socket_connect_timeout=1.0)
            mirror = RedisSeatMirror(self.redis, self._spawn)
            self.call_store = RedisCallStore(self.redis, self._spawn)
        board = SeatBoard(((site.name, seat) for site in s.sites for seat in site.seats),
                          clock=time.monotonic, mirror=mirror)
        self.board = board
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(self.redis, s.data_dir / "outbox")
        self.recorder = OrderRecorder(
            self.outbox.publish, {site.name: site.region_code for site in s.sites},
            suggestion_of=self._suggestion_dict,
            published=self.call_metrics.order_event_published)
        aris = {site.name: AriClient(self._session, site.ari_url, s.credentials.ari_user,
                                     s.credentials.ari_password,
                                     timed=self.call_metrics.ari_request.labels(site.name).observe)
                for site in s.sites}
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
                lines=frozenset(s.lines),
            ),
            observer=Observers(self.journal, self.recorder, self.call_metrics,
                               EventFeed(self.events.publish, lambda: self.calls),
                               _RoutingCleanup(self)),
            suggest=self._suggest,
            overflow={site.name: OverflowState(site.overflow) for site in s.sites if site.overflow},
            surge_after_s={site.name: site.surge_after_s for site in s.sites
                           if site.surge_after_s is not None},
            faq_media=tuple(faq_media()),
            positions=position_settings(),
            store=self.call_store,
        )
        for site in s.sites:
            self.links[site.name] = self._link(site, aris[site.name])
        for link in self.links.values():
            link.ami.connect()
            self._tasks.append(asyncio.create_task(link.events.run(), name=f"ari-{link.site.name}"))
        for name, coro in (("overflow-tick", self.calls.tick()),
                           ("orders-recorder", self.recorder.run()),
                           ("orders-outbox", self.outbox.run()),
                           ("orders-db", self._run_orders_db()),
                           ("routing-load", self._load_routing())):
            self._tasks.append(asyncio.create_task(coro, name=name))

    # ---- routing suggestions ---------------------------------------------------
    async def _load_routing(self) -> None:
        """Load the suggester off the event loop; calls before it is ready get none."""
        from services.routing import RoutingService, Suggester

        t0 = time.monotonic()
        try:
            suggester = await asyncio.to_thread(Suggester.load)
        except Exception:  # a broken model must not stop calls
            log.exception("routing suggester failed to load; calls get no suggestion")
            self.routing_settled = True
            return
        self.routing = RoutingService(suggester)
        self.routing_settled = True
        settle_heap()
        log.info("routing suggester loaded in %.2fs", time.monotonic() - t0)

    def _suggest(self, call_id: str, site: str, ivr_choice: str | None) -> tuple[str | None, bool]:
        """At arrival: a suggestion from the site and the caller's IVR choice.

        Its line drives *8; an emergency (by the suggestion, or a police, fire or
        medical choice in the IVR) is answered first.
        """
        from services.routing import TRANSFERABLE_LINES, CallContext

        urgent_choice = ivr_choice in EMERGENCY_IVR_CHOICES
        if self.routing is None:
            return None, urgent_choice
        try:
            platform = self.settings.site(site).platform
            suggestion = self.routing.on_arrival(
                call_id, CallContext(site=platform, ivr_choice=ivr_choice))
        except Exception:
            log.exception("call %s: routing suggestion failed", call_id)
            return None, urgent_choice
        line = suggestion.target if suggestion.target in TRANSFERABLE_LINES else None
        return line, suggestion.emergency or urgent_choice

    async def _supervision_notices(self, notices) -> None:
        """督办 notices go live to the board (supervisors) and the platform's agents."""
        for notice in notices:
            self.events.publish({
                "type": "supervision", "platform": notice.platform,
                "order_id": notice.order_id, "tier": notice.tier, "level": notice.level,
                "due_at": notice.due_at.isoformat(), "issued_at": notice.issued_at.isoformat(),
                "department": notice.department, "region_code": notice.region_code})

    def resuggest(self, call: Call, summary: str, actor: str) -> dict | None:
        """The agent's summary changed: suggest again, tell the call, the desk and the order."""
        from services.routing import TRANSFERABLE_LINES

        if self.routing is None or self.calls is None or self.recorder is None:
            return None
        update = self.routing.on_summary_changed(call.id, summary)
        suggestion = update.suggestion
        line = suggestion.target if suggestion.target in TRANSFERABLE_LINES else None
        self.calls.suggestion_changed(call.id, line, suggestion.emergency)
        category = suggestion.category if suggestion.target == call.platform else None
        self.recorder.summary(call, summary, category, actor)
        view = {"call_id": call.id, "changed": update.changed, "suggestion": suggestion.to_dict()}
        if update.changed:
            self.events.publish({"type": "suggestion", "site": call.site,
                                 "platform": call.platform, **view})
        return view

    def force_overflow(self, site: str, mode: str, reason: str, actor: str) -> dict:
        """The ops switch; every change is appended to an audit file and the journal."""
        if mode not in ("on", "off", "auto"):
            raise ValueError(f"overflow mode must be on, off or auto, not {mode!r}")
        if not reason.strip():
            raise ValueError("a reason is required to switch overflow")
        assert self.calls is not None
        status = self.calls.force_overflow(site, {"on": True, "off": False, "auto": None}[mode],
                                           reason)
        entry = {"at": datetime.now(UTC).isoformat(), "site": site, "mode": mode,
                 "reason": reason, "actor": actor, "status": status}
        with open(self.settings.data_dir / "overflow-audit.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        return status

    def _suggestion_dict(self, call_id: str) -> dict | None:
        current = self.routing.current(call_id) if self.routing else None
        return current.to_dict() if current else None

    # ---- the order database ------------------------------------------------------
    async def _run_orders_db(self) -> None:
        """Migrate, then apply the outbox to the database; retried while it is down.

        Calls never wait on any of this: they only publish to the outbox.
        """
        from services.work_orders import db
        from services.work_orders.consumer import OutboxConsumer, apply_spool
        from services.work_orders.levels import Calendar
        from services.work_orders.service import WorkOrderService
        from services.work_orders.supervision import SupervisionScheduler

        url = self.settings.db_url or db.default_url(self.settings.data_dir)
        delay = 0.5
        while self.orders is None:
            try:
                await db.upgrade_async(url)
                engine = db.make_engine(url)
                self.orders = WorkOrderService(db.make_session_factory(engine),
                                               clock=lambda: datetime.now(UTC), calendar=Calendar())
            except Exception as exc:  # noqa: BLE001 - any failure: the database is not ready
                log.warning("order database not ready (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        log.info("order database ready")
        await self._start_knowledge(engine)
        scheduler = SupervisionScheduler(self.orders, interval=60,
                                         on_notices=self._supervision_notices)
        self._tasks.append(asyncio.create_task(scheduler.run(), name="orders-supervision"))
        if self.settings.redis_url and self.settings.orders_consumer == "process":
            # off the call loop, on the other core; restarted if it dies
            self.order_worker = OrderWorker(
                {**os.environ, "HOTLINE_DB_URL": url, "HOTLINE_REDIS_URL": self.settings.redis_url})
            await self.order_worker.run()
        elif self.settings.redis_url and self.settings.orders_consumer == "inline":
            import redis.asyncio as aioredis

            # its own connection: a blocking stream read outlasts the short
            # socket timeout the call path's client uses
            reader = aioredis.from_url(self.settings.redis_url, socket_connect_timeout=1.0,
                                       socket_timeout=30.0)
            try:
                await OutboxConsumer(reader, self.orders).run()
            finally:
                await reader.aclose()
        elif not self.settings.redis_url:
            assert self.outbox is not None
            while True:   # no Redis: the spool is the outbox
                try:
                    await apply_spool(self.outbox.spool, self.orders)
                except Exception as exc:  # noqa: BLE001 - retried; the spool keeps every event
                    log.warning("applying the order spool failed (%r); retrying", exc)
                await asyncio.sleep(1.0)
        # "external": ops run `hotline orders consume` themselves

    async def _start_knowledge(self, engine) -> None:
        """The knowledge base on the order database; the lab's seed goes into an empty lab
        database; answers without audio are rendered in the background, one at a time."""
        from services.knowledge.exchange import seed_records
        from services.knowledge.service import KnowledgeService
        from services.work_orders import db
        from telephony.kb_audio import kb_audio_from_env

        knowledge = KnowledgeService(db.make_session_factory(engine), renderer=kb_audio_from_env())
        try:
            if self.settings.lab_mode and await knowledge.count() == 0:
                counts = await knowledge.import_records(seed_records())
                log.info("knowledge base: lab seed imported %s", counts)
        except Exception as exc:  # noqa: BLE001 - calls go on without a seeded knowledge base
            log.warning("knowledge base: seeding failed (%r)", exc)
        self.knowledge = knowledge
        self._spawn(self._render_kb_audio(knowledge))

    @staticmethod
    async def _render_kb_audio(knowledge: KnowledgeService) -> None:
        try:
            rendered = await knowledge.render_missing(pause=1.0)
            log.info("knowledge base: %d answers rendered", rendered)
        except Exception as exc:  # noqa: BLE001 - the next start renders the rest
            log.warning("knowledge base: rendering stopped (%r)", exc)

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
            """Square our calls with what Asterisk holds: end those whose legs vanished
            while we could not hear, adopt those it kept while we were away."""
            try:
                alive = {channel["id"] for channel in await ari.channels()}
            except Exception as exc:  # noqa: BLE001 - ARI away again: the next connect retries
                log.warning("site %s: could not list channels: %r", site.name, exc)
                return
            calls.reconcile(site.name, alive)
            if self.call_store is None:
                return
            try:
                records = await self.call_store.load()
            except Exception as exc:  # noqa: BLE001 - Redis away: nothing to adopt now
                log.warning("site %s: could not look for calls to adopt: %r", site.name, exc)
                return
            adopted = calls.recover(site.name, records, alive)
            if adopted:
                log.warning("site %s: adopted %d live calls after a restart", site.name,
                            len(adopted))

        async def disconnected() -> None:
            # calls stay: Asterisk may still hold them; the next connect squares up
            pass

        lags = {stage: self.call_metrics.ari_event_lag.labels(site.name, stage)
                for stage in ("socket", "queue")}
        events = AriEvents(self._session, ari, self.settings.app_name, handle,
                           on_connect=connected, on_disconnect=disconnected, site=site.name,
                           over_websocket=self.settings.ari_requests == "websocket",
                           lag=lambda stage, seconds: lags[stage].observe(seconds),
                           only=CONTROLLER_EVENTS)
        creds = self.settings.credentials
        ami = AmiClient(
            site.name, site.address, site.ami_port, creds.ami_user, creds.ami_secret,
            on_registration=lambda aor, yes: calls.seat_registered(site.name, aor, yes),
            on_resync=lambda aors: calls.seats_resynced(site.name, aors),
        )
        return SiteLink(site, ari, events, ami)

    def _outbox_state(self) -> dict:
        return {"pending": self.recorder.pending() if self.recorder else 0,
                "spooling": bool(self.outbox and self.outbox.spooling)}

    def _consumer_state(self) -> dict:
        mode = self.settings.orders_consumer if self.settings.redis_url else "spool"
        worker = self.order_worker
        return {"mode": mode, "pid": worker.pid if worker else None,
                "restarts": worker.restarts if worker else 0}

    def health(self) -> dict:
        sites = {
            name: {"ari": link.events.connected.is_set(), "ami": link.ami.logged_in.is_set(),
                   "ari_requests": "websocket" if link.ari.over_websocket else "http"}
            for name, link in self.links.items()
        }
        ready = (bool(sites) and all(v["ari"] and v["ami"] for v in sites.values())
                 and self.routing_settled)
        return {"ready": ready, "sites": sites,
                "orders": {"database": self.orders is not None,
                           "consumer": self._consumer_state(),
                           "spooling": bool(self.outbox and self.outbox.spooling),
                           "pending": self.recorder.pending() if self.recorder else 0},
                "routing": self.routing is not None,
                "overflow": self.calls.overflow_status() if self.calls else {},
                "load": {site: {**vars(self.calls.load(site)), **vars(counters)}
                         for site, counters in self.calls.counters.items()} if self.calls else {},
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


class _RoutingCleanup(CallObserver):
    """Forget a call's suggestion context when the call ends."""

    def __init__(self, controller: Controller):
        self._controller = controller

    def notice(self, call: Call, kind: str, detail: dict) -> None:
        if kind == "call_ended" and self._controller.routing is not None:
            self._controller.routing.on_hangup(call.id)


CONTROLLER = web.AppKey("controller", Controller)


def build_web_app(controller: Controller, accounts: Accounts | None = None) -> web.Application:
    """Health, metrics, the lab journal, and the API under /api/v1 (with accounts)."""
    app = web.Application()
    app[CONTROLLER] = controller
    if accounts is not None:
        assert controller.calls is not None and controller.board is not None
        app.add_subapp(API_PREFIX, build_api(ApiDeps(
            orders=lambda: controller.orders,
            routing=lambda: controller.routing,
            knowledge=lambda: controller.knowledge,
            desk=ControllerDesk(controller.calls, controller.board, controller.force_overflow,
                                controller.resuggest),
            accounts=accounts,
            events=controller.events,
            site_platforms={site.name: site.platform for site in controller.settings.sites},
            allowed_origins=frozenset(
                o for o in os.environ.get("HOTLINE_API_ORIGINS", "").split(",") if o),
        )))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(request.app[CONTROLLER].health())

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(request.app[CONTROLLER].registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if controller.settings.lab_mode:
        async def journal(request: web.Request) -> web.Response:
            entries = request.app[CONTROLLER].journal.entries(request.query.get("order"))
            return web.json_response(entries)

        # lab only: what recent calls did, for the lab's tests and the demo
        app.router.add_get("/lab/journal", journal)
    add_web_routes(app)
    return app


def settle_heap() -> None:
    """Move what start-up built (the routing model above all) out of the collector's
    view: a full collection scanned it all and held every call for 100 ms or more."""
    gc.collect()
    gc.freeze()


def reload_users(accounts: Accounts, settings: Settings) -> None:
    """SIGHUP: read the API users file again (token rotation); a bad file keeps the old."""
    try:
        accounts.reload(load_users(lab_mode=settings.lab_mode))
    except AccountsError as exc:
        log.error("API users not reloaded: %s", exc)
        return
    log.info("API users reloaded (%d users)", len(accounts))


async def run_controller(settings: Settings) -> None:
    # a bad users file stops start-up before anything answers calls
    accounts = load_accounts(lab_mode=settings.lab_mode)
    controller = Controller(settings)
    await controller.start()
    if controller.redis is not None:
        # sessions outlive this process: a restarted controller knows every desk's login
        accounts.sessions = RedisSessions(controller.redis)
    settle_heap()
    runner = web.AppRunner(build_web_app(controller, accounts), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.api_host, settings.api_port).start()
    log.info("controller up; health at http://%s:%d/healthz", settings.api_host, settings.api_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_users, accounts, settings)
    await stop.wait()
    log.info("controller stopping")
    await runner.cleanup()
    await controller.stop()
