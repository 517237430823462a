"""Schemathesis against a live API server, driven by the API's own document
(`GET /api/v1/openapi.json`): for every operation, a bounded number of generated requests
(valid and invalid by the document's schemas) as three roles. Every response must be
below 500, carry a status the document lists for the operation, and match the documented
content type and schema (errors: the `Error` schema). Figures: bench/results/security.md.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from services.api import ApiDeps, EventHub
from services.call_log.apply import CallLog
from services.api.accounts import Accounts
from services.api.throttle import Limit, Throttle
from services.knowledge.exchange import seed_records
from services.knowledge.service import KnowledgeService
from services.routing import RoutingService
from services.work_orders.db import make_engine, make_session_factory
from tests.unit.api.conftest import (
    OPEN311_KEY,
    START,
    FakeClock,
    FakeSupervision,
    make_accounts,
    make_services,
    mount,
    new_desk,
    open_order,
    recording_library,
)
from tests.unit.api.conftest import token as user_token
from tests.unit.api.fake_transfers import FakeTransfers

# generated requests per operation and generation mode (positive, negative); each is sent
# as every role in ROLES. The suite's 12 keep `./run test` within CI's time as the API
# grows (at 30 this test alone took two minutes); HOTLINE_FUZZ_EXAMPLES=30 is the run of
# record in bench/results/security.md.
EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "12"))
ROLES = ("sup", "agent1001", "ops")
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
    st_checks.negative_data_rejection,
]
FIGURES: Counter[str] = Counter()
OPERATION_LABELS: list[str] = []


class LiveApi:
    """The API mounted as the controller mounts it, served on 127.0.0.1 from its own thread."""

    def __init__(self, sqlite_template: Path, directory: Path, suggester,
                 dispatch_suggester) -> None:
        self.dispatch_suggester = dispatch_suggester
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.db = directory / "orders.db"
        shutil.copy(sqlite_template, self.db)
        self.suggester = suggester
        self.port = self.run(self._start())

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _start(self) -> int:
        self.engine = make_engine(f"sqlite+aiosqlite:///{self.db}")
        orders, dispatch = make_services(self.engine, FakeClock(START), self.dispatch_suggester)
        desk = new_desk()
        desk.add_call("c1", site="12345", seat="1001")
        desk.add_call("c2", site="110", seat="2001")
        for platform in ("12345", "110"):
            await open_order(orders, platform, call_id="c1")
        # a fuzzer is one address sending many bad tokens: keep the throttle, loosened, so
        # 429 stays reachable without locking every role out
        accounts = Accounts(make_accounts()._users,
                            throttle=Throttle(Limit(200, 60), Limit(2000, 60)))
        knowledge = KnowledgeService(make_session_factory(self.engine), clock=FakeClock(START))
        await knowledge.import_records(seed_records()[:20])
        transfers = FakeTransfers(desk)
        await transfers.start("c1", "transfer", "platform")   # a record to read and move
        deps = ApiDeps(orders=orders, routing=RoutingService(self.suggester), desk=desk,
                       accounts=accounts, events=EventHub(), dispatch=dispatch,
                       knowledge=knowledge, transfers=transfers,
                       call_log=CallLog(make_session_factory(self.engine)),
                       supervision=FakeSupervision(),
                       recordings=recording_library(self.engine, FakeClock(START),
                                                    Path(self.engine.url.database).parent))
        self.runner = web.AppRunner(mount(deps))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.engine.dispose()

    def close(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live_api(sqlite_template: Path, tmp_path_factory, suggester, dispatch_suggester):
    api = LiveApi(sqlite_template, tmp_path_factory.mktemp("schemathesis"), suggester,
                  dispatch_suggester)
    yield api
    api.close()


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi):
    base = f"http://127.0.0.1:{live_api.port}"
    # The WebSocket route has no HTTP body to check; it is fuzzed by test_fuzz and test_events.
    return schemathesis.openapi.from_url(
        f"{base}/api/v1/openapi.json",
        headers={"Authorization": f"Bearer {user_token('ops')}"}).exclude(
        path="/api/v1/events")


def _run_operation(operation, mode: GenerationMode, base: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        if mode is GenerationMode.POSITIVE and case.path.startswith("/open311"):
            # Open311 authenticates with api_key: a valid one, or every call is a 403
            for part in (case.query, case.body):
                if isinstance(part, dict) and "api_key" in part:
                    part["api_key"] = OPEN311_KEY
        for who in ROLES:     # each generated request as each role: they see different answers
            case.headers = {**(case.headers or {}),
                            "Authorization": f"Bearer {user_token(who)}"}
            response = case.call_and_validate(base_url=base, checks=CHECKS, timeout=30)
            FIGURES["requests"] += 1
            FIGURES[f"status {response.status_code}"] += 1
            FIGURES[f"{mode.value} requests"] += 1

    run()


# The operations are dealt into PARTS tests, so that `./run test`'s workers (pytest-xdist)
# share them rather than one worker running the whole document alone (75 s of the suite).
PARTS = 3


@pytest.mark.parametrize("part", range(PARTS))
def test_api_conforms_to_its_own_document(api_schema, live_api: LiveApi, part: int):
    base = f"http://127.0.0.1:{live_api.port}"
    failures: dict[str, str] = {}
    operations = sorted((result.ok() for result in api_schema.get_all_operations()),
                        key=lambda operation: operation.label)
    assert len(operations) >= 20
    for operation in operations[part::PARTS]:
        FIGURES["operations"] += 1
        OPERATION_LABELS.append(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _run_operation(operation, mode, base)
            except Unsatisfiable:
                FIGURES[f"{mode.value} unsatisfiable"] += 1   # e.g. nothing to make invalid
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - gather them all
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:2000]
    print(f"\nschemathesis figures: {dict(sorted(FIGURES.items()))}\n"
          f"operations: {OPERATION_LABELS}")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
