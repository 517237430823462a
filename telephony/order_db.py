"""The order database for the running controller: migrated at start (retried while it
is down), supervised for deadlines, and fed from the outbox by the consumer the
settings choose. Calls never wait on any of this: they only publish to the outbox."""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from services.work_orders.outbox import Outbox
from services.work_orders.worker import OrderWorker, consumer_name
from telephony.settings import Settings, child_environment

if TYPE_CHECKING:   # heavy imports, loaded in the background at start
    from services.call_log.apply import CallLog
    from services.dispatch.service import DispatchService
    from services.knowledge.service import KnowledgeService
    from services.recordings.store import RecordingStore
    from services.work_orders.service import WorkOrderService

log = logging.getLogger("hotline.app")
KB_AUDIO_EVERY_S = 60.0   # how soon an answer imported elsewhere gets its audio


class OrderDatabase:
    def __init__(self, settings: Settings, outbox: Outbox,
                 publish: Callable[[dict], object]):
        self._settings = settings
        self._outbox = outbox
        self._publish = publish
        self.service: WorkOrderService | None = None   # once the database answers
        self.dispatch: DispatchService | None = None    # departments and 派单 (services/dispatch)
        self.knowledge: KnowledgeService | None = None  # the knowledge base, on the same database
        self.worker: OrderWorker | None = None
        self.call_log: CallLog | None = None             # the call log's read side, same database
        self.recordings: RecordingStore | None = None    # recording rows and their audit

    @property
    def consumer_mode(self) -> str:
        return self._settings.orders_consumer if self._settings.redis_url else "spool"

    @property
    def consumer_name(self) -> str:
        """This controller's own name in the order stream's consumer group: its id, else
        its host and API port (unique on a host, and the same after a restart, so the
        restarted consumer reads what its predecessor left unacknowledged at once)."""
        settings = self._settings
        return consumer_name(settings.consumer_id
                             or f"{socket.gethostname()}-{settings.api_port}")

    def consumer_state(self) -> dict:
        worker = self.worker
        return {"mode": self.consumer_mode, "pid": worker.pid if worker else None,
                "restarts": worker.restarts if worker else 0, "name": self.consumer_name}

    async def run(self) -> None:
        """Migrate, then supervise deadlines and apply the outbox, until cancelled."""
        from services.work_orders import db

        url = self._settings.db_url or db.default_url(self._settings.data_dir)
        service = await self._open(url)
        log.info("order database ready")
        async with asyncio.TaskGroup() as group:
            group.create_task(self._supervise(service), name="orders-supervision")
            if self.knowledge is not None:   # answers without audio, one at a time
                group.create_task(_render_kb_audio(self.knowledge), name="kb-audio")
            group.create_task(self._consume(service, url), name="orders-consumer")

    async def _open(self, url: str) -> WorkOrderService:
        from services.dispatch.wiring import order_services
        from services.recordings.store import RecordingStore
        from services.work_orders import db

        delay = 0.5
        while self.service is None:
            try:
                await db.upgrade_async(url)
                sessions = db.make_session_factory(db.make_engine(url))
                self.service, self.dispatch = await order_services(
                    sessions, lambda: datetime.now(UTC))
                await self._start_knowledge(sessions)
                from services.call_log.apply import CallLog
                self.call_log = CallLog(sessions)
                self.recordings = RecordingStore(sessions, lambda: datetime.now(UTC))
            except Exception as exc:  # noqa: BLE001 - any failure: the database is not ready
                log.warning("order database not ready (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        return self.service

    async def _supervise(self, service: WorkOrderService) -> None:
        from services.work_orders.supervision import SupervisionScheduler

        await SupervisionScheduler(service, interval=60, on_notices=self._notices).run()

    async def _notices(self, notices) -> None:
        """督办 notices go live to the board (supervisors) and the platform's agents."""
        for notice in notices:
            self._publish({
                "type": "supervision", "platform": notice.platform,
                "order_id": notice.order_id, "tier": notice.tier, "level": notice.level,
                "due_at": notice.due_at.isoformat(), "issued_at": notice.issued_at.isoformat(),
                "department": notice.department, "region_code": notice.region_code})

    async def _consume(self, service: WorkOrderService, url: str) -> None:
        mode, redis_url = self.consumer_mode, self._settings.redis_url
        if mode == "process" and redis_url:
            # off the call loop, on the other core; restarted if it dies
            self.worker = OrderWorker({**child_environment(), "HOTLINE_DB_URL": url,
                                       "HOTLINE_REDIS_URL": redis_url},
                                      consumer=self.consumer_name)
            await self.worker.run()
        elif mode == "inline" and redis_url:
            await self._consume_inline(service, redis_url)
        elif mode == "spool":
            await self._apply_spool(service)
        # "external": ops run `hotline orders consume` themselves

    async def _consume_inline(self, service: WorkOrderService, redis_url: str) -> None:
        from services import redis_link
        from services.work_orders.consumer import LINGER_S, OutboxConsumer

        # its own connection: a blocking stream read outlasts the short socket
        # timeout the call path's client uses
        reader = redis_link.connect(redis_url, socket_connect_timeout=1.0, socket_timeout=30.0)
        try:
            await OutboxConsumer(reader, service, consumer=self.consumer_name,
                                 linger_s=LINGER_S).run()
        finally:
            await reader.aclose()

    async def _apply_spool(self, service: WorkOrderService) -> None:
        from services.work_orders.consumer import apply_spool

        while True:   # no Redis: the spool is the outbox
            try:
                await apply_spool(self._outbox.spool, service)
            except Exception as exc:  # noqa: BLE001 - retried; the spool keeps every event
                log.warning("applying the order spool failed (%r); retrying", exc)
            await asyncio.sleep(1.0)

    async def _start_knowledge(self, sessions) -> None:
        """The knowledge base on the order database; the lab's seed goes into an empty lab
        database; answers without audio are rendered in the background, one at a time."""
        from services.knowledge.exchange import seed_records
        from services.knowledge.service import KnowledgeService
        from telephony.kb_audio import kb_audio

        knowledge = KnowledgeService(sessions, renderer=kb_audio(self._settings.kb_sound_dir))
        try:
            if self._settings.lab_mode and await knowledge.count() == 0:
                counts = await knowledge.import_records(seed_records())
                log.info("knowledge base: lab seed imported %s", counts)
        except Exception as exc:  # noqa: BLE001 - calls go on without a seeded knowledge base
            log.warning("knowledge base: seeding failed (%r)", exc)
        self.knowledge = knowledge


async def _render_kb_audio(knowledge: KnowledgeService, every_s: float = KB_AUDIO_EVERY_S) -> None:
    """Answers published without audio (the seed, `hotline kb import` from another process,
    a render that failed) are rendered now and then again, so the surge FAQ can play them
    without a restart."""
    while True:
        try:
            rendered = await knowledge.render_missing(pause=1.0)
            if rendered:
                log.info("knowledge base: %d answers rendered", rendered)
        except Exception as exc:  # noqa: BLE001 - the next round renders the rest
            log.warning("knowledge base: rendering stopped (%r)", exc)
        await asyncio.sleep(every_s)
