"""Property: whatever arrives, the API never answers 5xx, answers only statuses its OpenAPI
document lists for the route, every error is {error_id, message, details}, and every
success matches the documented response schema.

Requests are drawn from the document itself: each operation's path, query and body schemas
give valid values, which are then kept, mutated or replaced by arbitrary JSON or bytes, and
sent as every role, with bad tokens or none, against a real migrated database.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api import ApiDeps, EventHub
from services.api.app import OPERATIONS
from services.api.schema import problems
from services.call_log.apply import CallLog
from services.knowledge.exchange import seed_records
from services.knowledge.service import KnowledgeService
from services.routing import RoutingService
from services.work_orders.db import make_engine, make_session_factory
from tests.unit.api.conftest import (
    START,
    USERS,
    FakeClock,
    FakeSupervision,
    make_accounts,
    make_services,
    mount,
    new_desk,
    open_order,
    recording_library,
    token,
)
from tests.unit.api.fake_transfers import FakeTransfers

BASE = "/api/v1"
EXAMPLES = 8 * len(OPERATIONS)   # about eight requests per operation, whatever their number
ERROR_KEYS = {"error_id", "message", "details"}


class Harness:
    """One server on its own loop for the whole property run (hypothesis calls are sync)."""

    def __init__(self, deps: ApiDeps, loop: asyncio.AbstractEventLoop) -> None:
        self.deps, self.loop = deps, loop
        self.client = self.run(self._start())
        self.order_ids: list[str] = []
        self.statuses: dict[str, set[int]] = {}

    async def _start(self) -> TestClient:
        client = TestClient(TestServer(mount(self.deps)))
        await client.start_server()
        return client

    def run(self, coro):
        return self.loop.run_until_complete(coro)


@pytest.fixture(scope="module")
def harness(sqlite_template: Path, tmp_path_factory, suggester, dispatch_suggester):
    loop = asyncio.new_event_loop()
    db = tmp_path_factory.mktemp("fuzz") / "orders.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    orders, dispatch = make_services(engine, FakeClock(START), dispatch_suggester)
    desk = new_desk()
    desk.add_call("c1", site="12345", seat="1001")
    desk.add_call("c2", site="110", seat="2001")
    desk.add_call("c3", site="12345", seat=None)
    knowledge = KnowledgeService(make_session_factory(engine), clock=FakeClock(START))
    transfers = FakeTransfers(desk)
    deps = ApiDeps(orders=orders, routing=RoutingService(suggester), desk=desk,
                   accounts=make_accounts(), events=EventHub(), dispatch=dispatch,
                   knowledge=knowledge, transfers=transfers,
                   call_log=CallLog(make_session_factory(engine)), supervision=FakeSupervision(),
                   recordings=recording_library(engine, FakeClock(START),
                                                tmp_path_factory.mktemp("rec")))
    h = Harness(deps, loop)
    h.run(transfers.start("c1", "transfer", "platform"))   # x1
    h.run(transfers.start("c2", "three_way", "platform"))  # x2
    h.run(knowledge.import_records(seed_records()[:20]))
    for platform in ("12345", "110", "12345"):
        h.order_ids.append(h.run(open_order(orders, platform, call_id="c1")))
    yield h
    h.run(h.client.close())
    h.run(engine.dispose())
    loop.close()


# ---- strategies from the schemas ------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -(10**6)), schema.get("maximum", 10**6))
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0),
                       max_size=min(schema.get("maxLength", 50), 50))
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=3)
    if kind == "object":
        props = schema.get("properties", {})
        required = {k: from_schema(props[k]) for k in schema.get("required", ())}
        optional = {k: from_schema(v) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(required, optional=optional)
    return JSON


def mutated(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A mostly valid body with one field dropped, retyped or added."""
    return st.tuples(from_schema(schema), st.text(max_size=10), JSON, st.integers(0, 2)).map(
        lambda t: _mutate(*t))


def _mutate(body: Any, key: str, value: Any, how: int) -> Any:
    if not isinstance(body, dict):
        return value
    body = dict(body)
    if how == 0 and body:
        body.pop(min(body))
    elif how == 1 and body:
        body[min(body)] = value
    else:
        body[key] = value
    return body


SAFE_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-_.~%*", max_size=20)


@st.composite
def requests(draw, harness: Harness):
    op = draw(st.sampled_from(OPERATIONS))
    values = {}
    for name, schema in op.params.items():
        known = {"order_id": harness.order_ids, "call_id": ["c1", "c2", "c3", "gone"],
                 "site": ["12345", "110", "remote"], "seat": ["1001", "2001", "9999"],
                 "transfer_id": ["x1", "x2"], "three_way_id": ["x2", "x1"],
                 "leg": ["agent", "target", "citizen"], "recording_id": ["rec-c1-0000000a"]}
        values[name] = draw(st.one_of(st.sampled_from(known.get(name, ["x"])),
                                      from_schema(schema), SAFE_TEXT.filter(bool)))
    path = BASE + op.path.format(**{k: quote(str(v), safe="") for k, v in values.items()})
    query = {}
    for name, schema in op.query.items():
        if draw(st.booleans()):
            value = draw(st.one_of(from_schema(schema), SAFE_TEXT))
            query[name] = ",".join(value) if isinstance(value, list) else str(value)
    body: bytes | None = None
    if op.body is not None or draw(st.booleans()):
        choice = draw(st.integers(0, 3))
        if choice == 0 and op.body is not None:
            body = json.dumps(draw(from_schema(op.body))).encode()
        elif choice == 1 and op.body is not None:
            body = json.dumps(draw(mutated(op.body))).encode()
        elif choice == 2:
            body = json.dumps(draw(JSON)).encode()
        else:
            body = draw(st.binary(max_size=40))
    who = draw(st.sampled_from([*USERS, "", "bad"]))
    headers = {"Content-Type": "application/json"}
    if who == "bad":
        headers["Authorization"] = f"Bearer {who}:{draw(SAFE_TEXT)}"
    elif who:
        headers["Authorization"] = f"Bearer {token(who)}"
    return op, path, query, body, headers


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_no_request_makes_a_5xx_or_an_undocumented_status(harness: Harness, data):
    op, path, query, body, headers = data.draw(requests(harness))
    status, text, content_type = harness.run(_send(harness, op.method, path, query, body,
                                                   headers))
    assert status < 500, (op.method, path, query, body, text)
    allowed = set(op.statuses()) | {404, 405}   # a drawn path may hit no route or another
    assert status in allowed, (op.method, path, status, text)
    if status >= 400:
        assert content_type == "application/json"
        assert set(json.loads(text)) == ERROR_KEYS
    elif status == op.ok and op.ok_schema is not None and content_type == op.ok_media:
        assert problems(op.ok_schema, json.loads(text)) == [], (op.operation_id, text)
    harness.statuses.setdefault(op.operation_id, set()).add(status)


async def _send(harness: Harness, method, path, query, body, headers):
    async with harness.client.request(method, path, params=query, data=body,
                                      headers=headers) as resp:
        return resp.status, await resp.text(), resp.content_type


def test_the_fuzz_reached_past_auth_on_most_routes(harness: Harness):
    """Guards the property above against testing only 401s (runs after it, same module)."""
    reached = {op for op, statuses in harness.statuses.items() if statuses - {401, 403}}
    assert len(reached) >= len(OPERATIONS) * 2 // 3, harness.statuses
