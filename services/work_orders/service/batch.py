"""A batch of order events applied with SQLAlchemy Core: the consumer's hot path.

The ORM's unit of work cost the consumer most of its CPU (identity map, change
tracking, a flush and a savepoint per event). Here a batch reads what it needs
in a few statements (the ids already applied, the orders it touches with their
last audit number), applies every event to plain row dicts in memory, and writes
the result with one bulk statement per table. The rules stay the ORM path's:

- exactly once: an event id already in `applied_events` (or earlier in the
  batch) is a duplicate; the ids go in with the rows, in the same transaction;
- a refused event rolls back alone: its changes to the rows in memory are undone
  (each event keeps an undo copy of what it touches) and it comes back as its
  error, while the batch's other events are written;
- a database error fails the whole batch, for the consumer to retry.

The handlers (`batch_events.CORE_EVENTS`) mirror the ORM ones in intake, links
and status_flow row for row (tests/unit/work_orders/test_core_batch.py compares
the two), and the call log's ones in services/call_log/apply.py (`BatchRows.calls`,
services/call_log/batch.py; test_core_batch_call_log.py). An event kind without a
Core handler is applied by the ORM path, in order, in a transaction of its own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.call_log.batch import CallRows

from ..errors import OrderNotFound
from ..events import OrderEvent
from ..ids import is_order_id
from ..models import AppliedEvent, AuditEntry, Order, OrderLink
from ..status import Status, check_transition

ORDERS = Order.__table__
AUDIT = AuditEntry.__table__
LINKS = OrderLink.__table__
APPLIED = AppliedEvent.__table__
# every column but the key (an update writes them all; a new order's unset ones are None)
ORDER_COLUMNS = tuple(c.name for c in ORDERS.columns if c.name != "order_id")
Row = dict[str, Any]


class BatchRows:
    """The rows one batch reads and writes, in memory, with an undo log per event."""

    def __init__(self, conn: AsyncConnection, *, lock: bool) -> None:
        self._conn = conn
        self._lock = lock                      # FOR UPDATE (PostgreSQL)
        self.orders: dict[str, Row | None] = {}   # None: looked up, not there
        self.seqs: dict[str, int] = {}         # last audit seq per order
        self.new: set[str] = set()             # orders this batch opens
        self.dirty: set[str] = set()           # existing orders it changes
        self.audits: list[Row] = []
        self.links: list[Row] = []
        self._undo: dict[str, tuple[Row | None, int, bool, bool]] = {}
        self._marks = (0, 0)
        # the call log rides the same batches (services/call_log/batch.py)
        self.calls = CallRows(conn, lock=lock)

    # -- reading -------------------------------------------------------------------
    async def load(self, order_ids: Iterable[str]) -> None:
        """Read the orders not read yet, and their last audit numbers: two statements."""
        wanted = sorted({i for i in order_ids if i and i not in self.orders})
        if not wanted:
            return
        query = select(ORDERS).where(ORDERS.c.order_id.in_(wanted))
        rows = await self._conn.execute(query.with_for_update() if self._lock else query)
        found = {row.order_id: dict(row._mapping) for row in rows}
        seqs = await self._conn.execute(
            select(AUDIT.c.order_id, func.max(AUDIT.c.seq))
            .where(AUDIT.c.order_id.in_(wanted)).group_by(AUDIT.c.order_id))
        last = {order_id: seq for order_id, seq in seqs}
        for order_id in wanted:
            self.orders[order_id] = found.get(order_id)
            self.seqs[order_id] = last.get(order_id) or 0

    async def find(self, order_id: str) -> Row | None:
        if order_id not in self.orders:
            await self.load([order_id])
        return self.orders[order_id]

    async def get(self, order_id: str) -> Row:
        order = await self.find(order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id}", order_id=order_id,
                                valid_id=is_order_id(order_id))
        return order

    # -- one event's changes, undone if it is refused -------------------------------
    def begin(self) -> None:
        self._undo.clear()
        self._marks = (len(self.audits), len(self.links))
        self.calls.begin()

    def rollback(self) -> None:
        for order_id, (row, seq, was_new, was_dirty) in self._undo.items():
            self.orders[order_id], self.seqs[order_id] = row, seq
            if not was_new:
                self.new.discard(order_id)
            if not was_dirty:
                self.dirty.discard(order_id)
        del self.audits[self._marks[0]:], self.links[self._marks[1]:]
        self._undo.clear()
        self.calls.rollback()

    def _save(self, order_id: str) -> None:
        if order_id not in self._undo:
            row = self.orders.get(order_id)
            self._undo[order_id] = (copy.deepcopy(row), self.seqs.get(order_id, 0),
                                    order_id in self.new, order_id in self.dirty)

    def touch(self, order: Row) -> Row:
        """`order`, about to change: saved for an undo, marked for the update."""
        self._save(order["order_id"])
        if order["order_id"] not in self.new:
            self.dirty.add(order["order_id"])
        return order

    def add_order(self, row: Row) -> Row:
        self._save(row["order_id"])
        full = {name: None for name in ORDER_COLUMNS} | row
        self.orders[row["order_id"]], self.seqs[row["order_id"]] = full, 0
        self.new.add(row["order_id"])
        return full

    def audit(self, order: Row, kind: str, actor: str, at: datetime, *,
              from_status: Status | str | None = None, to_status: Status | str | None = None,
              note: str = "", data: dict[str, Any] | None = None) -> None:
        order_id = order["order_id"]
        self._save(order_id)
        self.seqs[order_id] += 1
        self.audits.append({
            "order_id": order_id, "seq": self.seqs[order_id], "kind": kind, "actor": actor,
            "at": at, "from_status": str(from_status) if from_status else None,
            "to_status": str(to_status) if to_status else None, "note": note, "data": data})

    def move(self, order: Row, target: Status, actor: str, at: datetime, *,
             note: str = "", data: dict[str, Any] | None = None) -> None:
        current = Status(order["status"])
        check_transition(current, target)
        self.touch(order)
        order["status"], order["updated_at"] = str(target), at
        self.audit(order, "status", actor, at, from_status=current, to_status=target,
                   note=note, data=data)

    # -- writing -------------------------------------------------------------------
    async def write(self, applied: Sequence[Row]) -> None:
        """One bulk statement per table: new orders, changed orders, history, links, ids;
        then the call log's (CallRows.write)."""
        conn = self._conn
        new = [row for i in sorted(self.new) if (row := self.orders[i]) is not None]
        if new:
            await conn.execute(insert(ORDERS), new)
        changed = [{"_id": i, **{c: row[c] for c in ORDER_COLUMNS}}
                   for i in sorted(self.dirty - self.new) if (row := self.orders[i]) is not None]
        if changed:
            await conn.execute(_UPDATE_ORDER, changed)
        for table, rows in ((AUDIT, self.audits), (LINKS, self.links), (APPLIED, applied)):
            if rows:
                await conn.execute(insert(table), list(rows))
        await self.calls.write()


_UPDATE_ORDER = (
    update(ORDERS)
    .where(ORDERS.c.order_id == bindparam("_id"))
    .values({name: bindparam(name, type_=ORDERS.c[name].type) for name in ORDER_COLUMNS})
)


async def applied_ids(conn: AsyncConnection, events: Sequence[OrderEvent]) -> set[str]:
    """The batch's event ids applied before: one statement."""
    ids = sorted({e.event_id for e in events})
    result = await conn.execute(select(APPLIED.c.event_id).where(APPLIED.c.event_id.in_(ids)))
    return set(result.scalars().all())
