"""Order consumer CPU per call (issue 17 item 1): the Core batch path against the ORM
path it replaced, in one run, on the same synthetic calls.

Run from the repository root (no lab needed; SQLite in a temporary directory):

    .venv/bin/python bench/consumer_bench.py                 # 300 calls, 3 rounds
    .venv/bin/python bench/consumer_bench.py --calls 50 --rounds 1   # a smoke run
    .venv/bin/python bench/consumer_bench.py --postgres      # also on a throwaway PostgreSQL

What is measured: `time.process_time()` (CPU of this process, every thread: SQLite
runs in aiosqlite's thread) over applying the events of N calls the way the
consumer does, in batches of 100 (its stream read size): each event parsed from its
JSON payload (`OrderEvent.from_json`), then the batch applied by `apply_many`
(Core), by `apply_many` with the call log's kinds taken out of the Core table (the
consumer before the call log joined the Core path: they went to the ORM handlers)
or by `apply_many_orm` (the baseline), with the dispatch hook the consumer
process has (`services.dispatch.wiring.order_services`). Redis reads and acks are
not included (the same for all). Each round uses a fresh, migrated database for each
path, the paths alternating; the table gives the median of the rounds and
their spread (min-max). Writes bench/results/consumer.md unless --no-write.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.call_log.events import (
    CALL_LOG_EVENTS,
    CallArrivalLogged,
    CallEndLogged,
    CallStepLogged,
)
from services.work_orders import db
from services.work_orders.events import (
    NegotiationRecorded,
    OrderEvent,
    OrderOpened,
    OrderTransferred,
    SummaryUpdated,
    TransferFailed,
)
from services.work_orders.ids import new_order_id

BATCH = 100
CALL_LOG_ON_ORM = "call_log_on_orm"
PATHS = (("apply_many_orm", "ORM (baseline)"),
         (CALL_LOG_ON_ORM, "Core, call log on the ORM (before)"),
         ("apply_many", "Core"))
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
SUMMARIES = ("小区停水三天了，物业不管", "楼上噪音扰民，多次沟通无果", "公司拖欠工资两个月",
             "路灯坏了一个月没人修", "邻居在楼道堆放杂物，有消防隐患")


def call_events(n: int, at: datetime) -> list[str]:
    """One call's events as the controllers publish them (JSON payloads), in the order
    they happen: every call opens an order and gets the agent's summary; one in four is
    handed over to 110 (`*1`, the linked order opened), one in ten has a failed transfer
    first, one in eight ends a three-way with `*4`. Beside the order events, the call-log
    events the controllers emit for the same story."""
    order_id = new_order_id("12345", at)
    far_order = new_order_id("110", at) if n % 4 == 0 else None
    timeline = sorted(order_events(n, at, order_id, far_order)
                      + call_log_events(n, at, order_id, far_order),
                      key=lambda item: item[0])   # stable: at one time, order events first
    return [event.to_json() for _, event in timeline]


Timeline = list[tuple[float, OrderEvent]]   # (seconds after the arrival, event)


def order_events(n: int, at: datetime, order_id: str, far_order: str | None) -> Timeline:
    def after(seconds: float) -> datetime:
        return at + timedelta(seconds=seconds)
    events: Timeline = [
        (0, OrderOpened(order_id=order_id, platform="12345", call_id=f"call-{n}",
                        citizen_number=f"1380013{n:04d}", region_code="410300",
                        channel="phone", opened_at=at, category="other",
                        suggestion={"target": "12345", "category": "other",
                                    "reasons": ["model"]})),
        (30, SummaryUpdated(order_id=order_id, actor="seat:1001", at=after(30),
                            summary=SUMMARIES[n % len(SUMMARIES)], category="housing"))]
    if n % 10 == 0:
        events.append((40, TransferFailed(order_id=order_id, reason="busy",
                                          target_platform="110", at=after(40))))
    if n % 8 == 0:
        events.append((50, NegotiationRecorded(order_id=order_id, actor="seat:1001", key="*4",
                                               at=after(50), outcome="12345")))
    if far_order:
        events.append((60, OrderTransferred(
            source_order_id=order_id, target_order_id=far_order, target_platform="110",
            mode="handover", actor="seat:1001", at=after(60))))
    return events


def call_log_events(n: int, at: datetime, order_id: str, far_order: str | None) -> Timeline:
    """What telephony/call_log.py publishes for the call: the arrival, one step per logged
    notice, the end; for a hand-over also the 110 site's own call, arriving by trunk,
    answered and ended: 4.83 call-log events a call on average."""
    call_id, number = f"call-{n}", f"1380013{n:04d}"
    events: Timeline = [(0, CallArrivalLogged(
        call_id=call_id, site="12345", platform="12345", origin_site="12345", via_trunk=False,
        citizen_number=number, order_id=order_id, linked_order_id="", at=at))]

    def step(after: float, name: str, seat: str | None = None, call: str = call_id,
             **detail: object) -> None:
        events.append((after, CallStepLogged(call_id=call, step=name, seat=seat, detail=detail,
                                             at=at + timedelta(seconds=after))))

    step(5, "seat_answered", "1001")
    if n % 10 == 0:
        step(35, "transfer_started", "1001", mode="handover", line=None)
        step(40, "transfer_failed", reason="busy", mode="handover")
    if n % 8 == 0:
        step(45, "transfer_started", "1001", mode="three_way", line=None)
        step(47, "three_way_joined")
        step(50, "negotiated", "1001", key="*4", taken_by="12345")
    if far_order:
        far_call = f"call-{n}-110"
        step(55, "transfer_started", "1001", mode="handover", line=None)
        events.append((56, CallArrivalLogged(
            call_id=far_call, site="110", platform="110", origin_site="12345", via_trunk=True,
            citizen_number=number, order_id=far_order, linked_order_id=order_id,
            at=at + timedelta(seconds=56))))
        step(58, "seat_answered", "2001", call=far_call)
        step(60, "transfer_completed", mode="handover", taken_by="110")
        events.append((90, CallEndLogged(call_id=far_call, at=at + timedelta(seconds=90),
                                         by="citizen", state="connected", taken_by="110")))
    events.append((90, CallEndLogged(call_id=call_id, at=at + timedelta(seconds=90),
                                     by="target" if far_order else "citizen", state="connected",
                                     taken_by="110" if far_order else "12345")))
    return events


def synthetic(calls: int) -> list[str]:
    return [line for n in range(calls)
            for line in call_events(n, START + timedelta(seconds=7 * n))]


async def one_pass(url: str, payloads: list[str], path: str) -> float:
    """CPU seconds to apply every payload through `path`; checks that all applied."""
    from services.dispatch.wiring import order_services

    await db.upgrade_async(url)
    engine = db.make_engine(url)
    service, _ = await order_services(db.make_session_factory(engine), lambda: START)
    apply = getattr(service, "apply_many" if path == CALL_LOG_ON_ORM else path)
    started = time.process_time()
    applied = 0
    with _call_log_on_orm(path == CALL_LOG_ON_ORM):
        for i in range(0, len(payloads), BATCH):
            events = [OrderEvent.from_json(line) for line in payloads[i:i + BATCH]]
            applied += sum(result is True for result in await apply(events))
    spent = time.process_time() - started
    await engine.dispose()
    if applied != len(payloads):
        raise SystemExit(f"{path}: {applied} of {len(payloads)} events applied")
    return spent


@contextlib.contextmanager
def _call_log_on_orm(active: bool) -> Iterator[None]:
    """The consumer as it was before the call log's Core handlers: their kinds left to
    the ORM handlers (apply_many hands a kind without a Core handler to the ORM)."""
    if not active:
        yield
        return
    from services.work_orders.service.batch_events import CORE_EVENTS

    saved = {kind: CORE_EVENTS.pop(kind) for kind in CALL_LOG_EVENTS}
    try:
        yield
    finally:
        CORE_EVENTS.update(saved)


async def run(calls: int, rounds: int, urls) -> dict[str, dict[str, list[float]]]:
    payloads = synthetic(calls)
    print(f"{calls} calls, {len(payloads)} events, batches of {BATCH}", flush=True)
    out: dict[str, dict[str, list[float]]] = {}
    for kind, make_url in urls:
        out[kind] = {path: [] for path, _ in PATHS}
        for r in range(rounds):
            for path, _ in PATHS:
                spent = await one_pass(await make_url(), payloads, path)
                out[kind][path].append(spent * 1000 / calls)
                print(f"{kind} round {r + 1} {path}: {spent * 1000 / calls:.3f} ms CPU/call",
                      flush=True)
    return out


def table(results: dict, calls: int, rounds: int, events: int) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT, check=False).stdout.strip()
    header = (f"| database | path | ms CPU per call (median of {rounds}) | spread (min-max) "
              "| events per call |")
    lines = [header, "|---|---|---|---|---|"]
    for kind, paths in results.items():
        for path, label in PATHS:
            values = paths[path]
            lines.append(f"| {kind} | {label} | {statistics.median(values):.3f} | "
                         f"{min(values):.3f}-{max(values):.3f} | {events / calls:.2f} |")
        core = statistics.median(paths["apply_many"])
        for path, label in (("apply_many_orm", "ORM / Core"), (CALL_LOG_ON_ORM, "before / Core")):
            lines.append(f"| {kind} | {label} | {statistics.median(paths[path]) / core:.1f}x | | |")
    return "\n".join(lines) + f"\n\ncommit {commit}, {calls} calls per pass\n"


async def sqlite_urls(directory: Path):
    counter = iter(range(10_000))

    async def make() -> str:
        return f"sqlite+aiosqlite:///{directory / f'bench-{next(counter)}.db'}"
    return ("sqlite", make)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--note", default="", help="a line about the machine, for the results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="consumer-bench-") as tmp:
        urls = [asyncio.run(sqlite_urls(Path(tmp)))]
        cluster = _postgres(urls) if args.postgres else None
        try:
            results = asyncio.run(run(args.calls, args.rounds, urls))
        finally:
            if cluster is not None:
                cluster.destroy()
    events = len(synthetic(args.calls))
    text = table(results, args.calls, args.rounds, events)
    print(text)
    if not args.no_write:
        _write(text, args)
    return 0


def _postgres(urls: list) -> object:
    from tests.support.postgres import PgCluster, pg_bin

    bin_dir = pg_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL binaries not found (HOTLINE_PG_BIN)")
    cluster = PgCluster(bin_dir)
    cluster.start()
    counter = iter(range(10_000))

    async def make() -> str:
        import asyncpg
        from sqlalchemy.engine import make_url

        base = make_url(cluster.url)
        name = f"bench_{next(counter)}"
        conn = await asyncpg.connect(host=base.host, port=base.port, user=base.username,
                                     password=base.password, database="postgres")
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        return base.set(database=name).render_as_string(hide_password=False)
    urls.append(("postgresql", make))
    return cluster


def _write(text: str, args: argparse.Namespace) -> None:
    out = ROOT / "bench" / "results" / "consumer.md"
    body = out.read_text() if out.exists() else ""
    marker = "<!-- results -->"
    command = (f"`.venv/bin/python bench/consumer_bench.py --calls {args.calls} "
               f"--rounds {args.rounds}{' --postgres' if args.postgres else ''}`")
    block = f"{marker}\n{command} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    block += f"; {args.note}\n\n" if args.note else "\n\n"
    if marker in body:
        body = body.split(marker)[0]
    out.write_text(body + block + text)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
