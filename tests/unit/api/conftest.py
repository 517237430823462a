"""The API against a real, migrated SQLite order database, the real routing suggester,
and a fake call desk; mounted at /api/v1 as the controller mounts it.
"""
from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.api import API_PREFIX, ApiDeps, EventHub, build_api
from services.api.accounts import Accounts, ScryptCost, users_from_mapping
from services.api.open311 import OPEN311_PREFIX, Open311Deps, build_open311
from services.api.open311_keys import keys_from_mapping
from services.call_log.apply import CallLog
from services.dispatch.service import DispatchService
from services.errors import DomainError
from services.dispatch.suggester import DispatchSuggester
from services.routing import RoutingService, Suggester
from services.work_orders.db import make_engine, make_session_factory, upgrade
from services.work_orders.levels import Calendar
from services.work_orders.service import WorkOrderService

CITIZEN = "13800138000"
MASKED = "138****8000"
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)   # Monday 09:00 Beijing time
CHEAP = ScryptCost(n=16, r=1, p=1)                  # tests need no slow hashes

USERS = {
    "agent1001": {"role": "agent_12345", "site": "12345", "seat": "1001"},
    "agent1002": {"role": "agent_12345", "site": "12345", "seat": "1002"},
    "agent2001": {"role": "agent_110", "site": "110", "seat": "2001"},
    "agent3001": {"role": "agent_12345", "site": "remote", "seat": "3001"},
    "sup12345": {"role": "supervisor", "site": "12345"},
    "sup": {"role": "supervisor"},
    "dept_housing": {"role": "department", "department": "housing"},
    "dept_hrss": {"role": "department", "department": "hrss"},
    "ops": {"role": "ops"},
    "dept_housing": {"role": "department", "department": "housing"},
    "dept_urban_management": {"role": "department", "department": "urban_management"},
}


OPEN311_KEY = "lab-open311-test-key"
OPEN311_KEYS = keys_from_mapping(
    {"test": {"key": OPEN311_KEY, "platform": "12345", "region_code": "410300"}}, lab=True)


def token(name: str) -> str:
    return f"{name}:lab-token-{name}"


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name)}"}


def make_accounts(clock=None) -> Accounts:
    table = {name: {**raw, "token": f"lab-token-{name}", "password": f"lab-pw-{name}"}
             for name, raw in USERS.items()}
    users = users_from_mapping(table, lab=True, cost=CHEAP)
    return Accounts(users, clock=clock) if clock else Accounts(users)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class FakeDesk:
    """The controller's side of `CallDesk`, in memory; records every key pressed."""

    calls_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    seat_states: dict[tuple[str, str], str] = field(default_factory=dict)
    overflow_by_site: dict[str, bool] = field(default_factory=dict)
    pressed: list[tuple[str, str]] = field(default_factory=list)
    overflow_actors: list[str] = field(default_factory=list)
    summaries: list[tuple[str, str, str]] = field(default_factory=list)
    controls: list[tuple[str, str]] = field(default_factory=list)
    callbacks: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    accept_keys: bool = True
    fail_with: BaseException | None = None

    def add_call(self, call_id: str, site: str = "12345", seat: str | None = "1001",
                 **extra: Any) -> dict[str, Any]:
        platform = "110" if site == "110" else "12345"
        call = {"call_id": call_id, "site": site, "platform": platform,
                "state": "connected" if seat else "waiting", "citizen_number": CITIZEN,
                "order_id": None, "linked_order_id": None, "seat": seat, **extra}
        self.calls_by_id[call_id] = call
        return call

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def calls(self) -> list[dict[str, Any]]:
        self._maybe_fail()
        return list(self.calls_by_id.values())

    def call(self, call_id: str) -> dict[str, Any] | None:
        self._maybe_fail()
        return self.calls_by_id.get(call_id)

    async def press(self, call_id: str, key: str) -> bool:
        self._maybe_fail()
        if call_id not in self.calls_by_id or not self.accept_keys:
            return False
        self.pressed.append((call_id, key))
        return True

    def seats(self) -> list[dict[str, Any]]:
        return [{"site": site, "seat": seat, "state": state, "registered": True}
                for (site, seat), state in sorted(self.seat_states.items())]

    async def _set(self, site: str, seat: str, state: str) -> dict[str, Any] | None:
        if (site, seat) not in self.seat_states:
            return None
        self.seat_states[(site, seat)] = state
        return {"site": site, "seat": seat, "state": state, "registered": True}

    async def pause(self, site: str, seat: str) -> dict[str, Any] | None:
        return await self._set(site, seat, "paused")

    async def resume(self, site: str, seat: str) -> dict[str, Any] | None:
        return await self._set(site, seat, "available")

    def overflow(self) -> dict[str, bool]:
        return dict(self.overflow_by_site)

    async def summary_changed(self, call_id: str, summary: str, *,
                              actor: str = "api") -> dict | None:
        if call_id not in {c["call_id"] for c in self.calls()}:
            return None
        self.summaries.append((call_id, summary, actor))
        return {"call_id": call_id, "changed": True,
                "suggestion": {"target": "110", "emergency": "打" in summary}}

    def overflow_status(self) -> dict[str, dict]:
        return {site: {"active": bool(on), "forced": on} for site, on in self.overflow_by_site.items()}

    async def control(self, call_id: str, name: str) -> bool:
        self._maybe_fail()
        if call_id not in self.calls_by_id:
            return False
        self.controls.append((call_id, name))
        return True

    async def place_callback(self, site: str, order_id: str, number: str,
                             seat: str | None) -> dict[str, Any]:
        if seat is not None and self.seat_states.get((site, seat), "available") != "available":
            raise DomainError(f"seat {seat} is busy", error_id="seat_busy", status=409)
        self.callbacks.append((site, order_id, number, seat))
        call = self.add_call(f"cb{len(self.callbacks)}", site=site, seat=None,
                             order_id=order_id, state="dialing_citizen", callback=True)
        return call

    def queue(self, site: str) -> dict[str, Any] | None:
        if site not in ("12345", "110", "remote"):
            return None
        waiting = [c for c in self.calls_by_id.values()
                   if c["site"] == site and c["state"] == "waiting"]
        return {"site": site, "longest_wait_s": 3.0 if waiting else 0.0,
                "waiting": [{"call_id": c["call_id"], "position": i, "wait_s": 3.0,
                             "priority": "normal", "emergency": False}
                            for i, c in enumerate(waiting, start=1)],
                "seats": [s for s in self.seats() if s["site"] == site]}

    async def set_overflow(self, site: str, enabled: bool | None, *, actor: str = "api",
                           reason: str = "") -> bool:
        if site not in self.overflow_by_site:
            return False
        self.overflow_by_site[site] = enabled
        self.overflow_actors.append(actor)
        return True


def new_desk() -> FakeDesk:
    desk = FakeDesk()
    for site, first in (("12345", 1001), ("110", 2001), ("remote", 3001)):
        for seat in range(first, first + 3):
            desk.seat_states[(site, str(seat))] = "available"
    desk.overflow_by_site = {"12345": False, "110": False, "remote": False}
    return desk


@pytest.fixture(scope="session")
def suggester() -> Suggester:
    return Suggester.load()


@pytest.fixture(scope="session")
def dispatch_suggester() -> DispatchSuggester:
    return DispatchSuggester.shipped()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory,
                    dispatch_suggester: DispatchSuggester) -> Path:
    """A migrated database holding the shipped dispatch catalogue."""
    path = tmp_path_factory.mktemp("api-orders") / "orders.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with ThreadPoolExecutor(1) as pool:   # a session fixture may be set up inside a loop
        pool.submit(asyncio.run, _load_catalogue(path, dispatch_suggester)).result()
    return path


async def _load_catalogue(path: Path, suggester: DispatchSuggester) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    service = DispatchService(make_session_factory(engine), lambda: START, suggester)
    catalogue = suggester.catalogue
    await service.import_catalogue(catalogue.departments.values(), catalogue.items)
    await engine.dispose()


def make_services(engine, clock, dispatch_suggester: DispatchSuggester
                  ) -> tuple[WorkOrderService, DispatchService]:
    """The order service with the dispatch suggestion hook, as the controller wires them."""
    dispatch = DispatchService(make_session_factory(engine), clock, dispatch_suggester)
    orders = WorkOrderService(make_session_factory(engine), clock, Calendar(),
                              after_apply=[dispatch.after_apply])
    return orders, dispatch


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def engine(sqlite_template: Path, tmp_path: Path):
    db = tmp_path / "orders.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    yield engine
    await engine.dispose()


@pytest.fixture
def services(engine, clock: FakeClock, dispatch_suggester):
    return make_services(engine, clock, dispatch_suggester)


@pytest.fixture
def orders(services) -> WorkOrderService:
    return services[0]


@pytest.fixture
def dispatch(services) -> DispatchService:
    return services[1]


@pytest.fixture
def knowledge(engine, clock: FakeClock):
    """The knowledge base on the same database as `orders`."""
    from services.knowledge.service import KnowledgeService

    return KnowledgeService(make_session_factory(engine), clock=clock)


@pytest.fixture
def desk() -> FakeDesk:
    return new_desk()


@pytest.fixture
def transfers(desk: FakeDesk):
    from tests.unit.api.fake_transfers import FakeTransfers

    return FakeTransfers(desk)


@pytest.fixture
def hub() -> EventHub:
    return EventHub(queue_size=8)


def recording_library(engine, clock, folder: Path):
    """Recording rows on `engine`'s database; audio files under folder/recordings/<site>/."""
    from services.recordings.library import RecordingLibrary
    from services.recordings.store import RecordingStore

    store = RecordingStore(make_session_factory(engine), clock)
    return RecordingLibrary(lambda: store, str(folder / "recordings" / "{site}"))


@pytest.fixture
def recordings(engine, clock: FakeClock, tmp_path: Path):
    return recording_library(engine, clock, tmp_path)


class FakeSupervision:
    """Sessions as the controller's SupervisionDesk keeps them, without a switch."""

    def __init__(self) -> None:
        self.started: list[dict] = []

    async def start(self, call_id, mode, seat, actor, role) -> dict:
        session = {"session_id": f"sv{len(self.started)}", "call_id": call_id, "site": "12345",
                   "mode": mode, "seat": seat, "supervisor": actor, "answered": False}
        self.started.append(session)
        return session

    def sessions(self, call_id=None) -> list[dict]:
        return [s for s in self.started if call_id in (None, s["call_id"])]

    async def stop(self, call_id, actor, role) -> list[str]:
        ended = [s["session_id"] for s in self.started if s["call_id"] == call_id]
        self.started = [s for s in self.started if s["call_id"] != call_id]
        return ended


@pytest.fixture
def deps(orders, suggester, desk, hub, dispatch, knowledge, transfers, recordings) -> ApiDeps:
    return ApiDeps(orders=orders, routing=RoutingService(suggester), desk=desk,
                   accounts=make_accounts(), events=hub, dispatch=dispatch,
                   knowledge=knowledge, transfers=transfers,
                   call_log=CallLog(orders.session_factory),
                   recordings=recordings, supervision=FakeSupervision())


def mount(deps: ApiDeps) -> web.Application:
    """As telephony/app.py mounts it: a parent app with /healthz and the API under /api/v1."""
    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    app.router.add_get("/healthz", healthz)
    app.add_subapp(API_PREFIX, build_api(deps))
    app.add_subapp(OPEN311_PREFIX, build_open311(Open311Deps(deps.orders, OPEN311_KEYS)))
    return app


@pytest.fixture
async def client(deps: ApiDeps) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(mount(deps))) as test_client:
        yield test_client


async def open_order(orders: WorkOrderService, platform: str = "12345",
                     call_id: str | None = "call-1", **fields: Any) -> str:
    """An order as the controller's OrderOpened event makes it."""
    from services.work_orders.events import OrderOpened
    from services.work_orders.ids import new_order_id

    now = orders._clock()
    event = OrderOpened(order_id=new_order_id(platform, now), platform=platform,
                        call_id=call_id, citizen_number=fields.pop("citizen_number", CITIZEN),
                        region_code="410300",
                        channel="phone", opened_at=now, suggestion=None,
                        category=fields.pop("category", "housing"), level=None,
                        summary=fields.pop("summary", "楼道灯坏了"), **fields)
    assert await orders.apply(event)
    return event.order_id
