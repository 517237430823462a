"""The dispatch service: the catalogue in the database, the suggestion on each 12345 order,
and the flow (派单, 签收, 退单, 改派) through the table in `flow.py`.

Each step changes, in one transaction with the order's row locked: the order's dispatch
row, its `status` (by the moves the table lists, checked against the order status table)
and its `department` (the department holding it now; none after a return), and it
appends the step and the order's audit entries, so the step shows in the order's history.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from services.dispatch.catalogue import Catalogue, Department, Item
from services.dispatch.flow import Action, Actor, State
from services.dispatch.models import DispatchDepartment, DispatchItem, DispatchStep, OrderDispatch
from services.dispatch.steps import (
    SEQ_KEY,
    allowed_step,
    append_audit,
    locked_order,
    record_step,
)
from services.dispatch.suggester import DispatchSuggester, DispatchSuggestion
from services.privacy import mask_number
from services.work_orders.errors import InvalidOrder, OrderNotFound
from services.work_orders.events import OrderEvent, OrderOpened, SummaryUpdated
from services.work_orders.ids import is_order_id
from services.work_orders.models import Order
from services.work_orders.status import check_transition

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PLATFORM = "12345"          # departments take 12345 work orders; 110 dispatches its own
# Before the first dispatch, and after a return, the suggestion follows the summary;
# once a department holds the order it stays as it was when dispatched.
_SUGGEST_IN = (State.NEW, State.RETURNED)


@dataclass(frozen=True)
class StepResult:
    order_id: str
    action: str
    state: str
    department: str | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "action": self.action, "state": self.state,
                "department": self.department, "status": self.status}


class DispatchService:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock,
                 suggester: DispatchSuggester | None = None) -> None:
        self._sessions = session_factory
        self._clock = clock
        self.suggester = suggester

    # -- the catalogue -------------------------------------------------------------------
    async def import_catalogue(self, departments: Iterable[Department],
                               items: Iterable[Item]) -> dict[str, int]:
        """Add or update departments and items by id; nothing is deleted."""
        now = self._clock()
        counts = {"departments": 0, "items": 0, "updated": 0, "unchanged": 0}
        async with self._sessions() as session, session.begin():
            for dept in departments:
                row = await session.get(DispatchDepartment, dept.id)
                if row is None:
                    session.add(DispatchDepartment(id=dept.id, name=dept.name, remit=dept.remit,
                                                   updated_at=now))
                    counts["departments"] += 1
                elif (row.name, row.remit) != (dept.name, dept.remit):
                    row.name, row.remit, row.updated_at = dept.name, dept.remit, now
                    counts["updated"] += 1
            await session.flush()
            for item in items:
                if await session.get(DispatchDepartment, item.department) is None:
                    raise InvalidOrder(f"item {item.item_id}: unknown department "
                                       f"{item.department}", item_id=item.item_id)
                counts[await self._put_item(session, item, now)] += 1
        return counts

    async def _put_item(self, session: AsyncSession, item: Item, now: datetime) -> str:
        row = await session.get(DispatchItem, item.item_id)
        values = {"department": item.department, "title": item.title,
                  "categories": list(item.categories), "regions": list(item.regions),
                  "keywords": list(item.keywords)}
        if row is None:
            session.add(DispatchItem(item_id=item.item_id, updated_at=now, **values))
            return "items"
        if any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            return "updated"
        return "unchanged"

    async def catalogue(self) -> Catalogue:
        async with self._sessions() as session:
            departments = (await session.scalars(
                select(DispatchDepartment).order_by(DispatchDepartment.id))).all()
            items = (await session.scalars(
                select(DispatchItem).order_by(DispatchItem.item_id))).all()
        return Catalogue(
            {d.id: Department(d.id, d.name, d.remit) for d in departments},
            tuple(Item(i.item_id, i.department, i.title, tuple(i.categories),
                       tuple(i.regions), tuple(i.keywords)) for i in items))

    async def ensure_catalogue(self, shipped: Callable[[], Catalogue]) -> bool:
        """Load `shipped()` when the database holds no department yet; True if it did."""
        async with self._sessions() as session:
            if await session.scalar(select(func.count()).select_from(DispatchDepartment)):
                return False
        catalogue = shipped()
        await self.import_catalogue(catalogue.departments.values(), catalogue.items)
        return True

    async def load_suggester(self) -> DispatchSuggester:
        """A suggester over the database's catalogue (built off the event loop)."""
        catalogue = await self.catalogue()
        self.suggester = await asyncio.to_thread(DispatchSuggester, catalogue)
        return self.suggester

    def department_name(self, department: str) -> str | None:
        if self.suggester is None:
            return None
        found = self.suggester.catalogue.departments.get(department)
        return found.name if found else None

    # -- the suggestion on each order ------------------------------------------------------
    async def after_apply(self, session: AsyncSession, event: OrderEvent) -> None:
        """The work-order service's hook: a new order or a new summary gets a suggestion.

        Runs in the event's transaction, in a savepoint of its own: a failure here is
        logged and never costs the order its event.
        """
        if not isinstance(event, (OrderOpened, SummaryUpdated)) or self.suggester is None:
            return
        try:
            async with session.begin_nested():
                await self._suggest_in(session, event.order_id)
        except Exception:
            session.info.pop(SEQ_KEY, None)   # re-read after the rollback
            log.exception("dispatch suggestion for %s failed", event.order_id)

    async def after_batch(self, conn: AsyncConnection, events: Sequence[OrderEvent],
                          orders: Mapping[str, dict[str, Any] | None]) -> None:
        """The same suggestion for the consumer's Core batches: once per order the batch
        opened or re-summarised, from the order as the batch left it, in one read and
        one write per table, in a savepoint (a failure is logged, the orders stay)."""
        wanted = sorted({e.order_id for e in events if isinstance(e, (OrderOpened, SummaryUpdated))
                         and (o := orders.get(e.order_id)) is not None
                         and o["platform"] == PLATFORM and (o["summary"] or "").strip()})
        if not wanted or self.suggester is None:
            return
        try:
            async with conn.begin_nested():
                await self._suggest_rows(conn, [orders[i] for i in wanted])
        except Exception:
            log.exception("dispatch suggestions for %d orders failed", len(wanted))

    async def _suggest_rows(self, conn: AsyncConnection, orders: list[dict[str, Any]]) -> None:
        table = OrderDispatch.__table__
        states = dict((await conn.execute(select(table.c.order_id, table.c.state).where(
            table.c.order_id.in_([o["order_id"] for o in orders])))).all())
        assert self.suggester is not None
        now, new, changed = self._clock(), [], []
        for order in orders:
            state = states.get(order["order_id"])
            if state is not None and State(state) not in _SUGGEST_IN:
                continue
            found = self.suggester.suggest(order["summary"], order["category"],
                                           order["region_code"])
            row = {"suggested": found.department, "confidence": found.confidence,
                   "suggestion": found.to_dict(), "suggested_at": now}
            if state is None:
                new.append({"order_id": order["order_id"], "state": str(State.NEW),
                            "department": None, "updated_at": now, **row})
            else:
                changed.append({"_id": order["order_id"], **row})
        if new:
            await conn.execute(insert(table), new)
        if changed:
            await conn.execute(update(table).where(table.c.order_id == bindparam("_id"))
                               .values({k: bindparam(k, type_=table.c[k].type) for k in row}),
                               changed)

    async def _suggest_in(self, session: AsyncSession, order_id: str) -> None:
        await session.flush()
        order = await session.get(Order, order_id)
        if order is None or order.platform != PLATFORM or not order.summary.strip():
            return
        row = await session.get(OrderDispatch, order_id)
        if row is not None and State(row.state) not in _SUGGEST_IN:
            return
        assert self.suggester is not None
        suggestion = self.suggester.suggest(order.summary, order.category, order.region_code)
        now = self._clock()
        if row is None:
            row = OrderDispatch(order_id=order_id, state=str(State.NEW), updated_at=now)
            session.add(row)
        # Kept beside the order, not in its audit log: the log holds what people did.
        row.suggested, row.confidence = suggestion.department, suggestion.confidence
        row.suggestion, row.suggested_at = suggestion.to_dict(), now

    def suggest(self, text: str, category: str | None = None,
                region: str | None = None) -> DispatchSuggestion:
        if self.suggester is None:
            raise RuntimeError("the dispatch suggester is not loaded")
        return self.suggester.suggest(text, category, region)

    # -- the flow --------------------------------------------------------------------------
    async def dispatch(self, order_id: str, department: str, actor: str, *,
                       as_: Actor = Actor.HOTLINE, note: str = "") -> StepResult:
        """派单: send the order to `department`."""
        return await self._step(order_id, Action.DISPATCH, actor, as_, department=department,
                                reason=note)

    async def accept(self, order_id: str, department: str, actor: str) -> StepResult:
        """签收: the department holding the order takes it on."""
        return await self._step(order_id, Action.ACCEPT, actor, Actor.DEPARTMENT,
                                acting=department)

    async def return_(self, order_id: str, department: str, actor: str,
                      reason: str) -> StepResult:
        """退单: the department holding the order sends it back, saying why."""
        return await self._step(order_id, Action.RETURN, actor, Actor.DEPARTMENT,
                                acting=department, reason=reason)

    async def reassign(self, order_id: str, department: str, actor: str,
                       reason: str) -> StepResult:
        """改派: a supervisor sends the order to another department."""
        return await self._step(order_id, Action.REASSIGN, actor, Actor.SUPERVISOR,
                                department=department, reason=reason)

    async def _step(self, order_id: str, action: Action, actor: str, as_: Actor, *,
                    department: str | None = None, acting: str | None = None,
                    reason: str = "") -> StepResult:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            order = await locked_order(session, order_id)
            if order.platform != PLATFORM:
                raise InvalidOrder("only 12345 work orders are dispatched to departments",
                                   order_id=order_id, platform=order.platform)
            row = await session.get(OrderDispatch, order_id)
            if row is None:
                row = OrderDispatch(order_id=order_id, state=str(State.NEW), updated_at=now)
                session.add(row)
            current, previous = State(row.state), row.department
            found = allowed_step(row, action, as_, acting, reason)
            if found.new_department:
                department = await self._known_department(session, department)
                if action is Action.REASSIGN and department == previous:
                    raise InvalidOrder("reassigning needs another department",
                                       order_id=order_id, department=department)
            holder = department if found.new_department else (
                None if found.next is State.RETURNED else previous)
            await self._move_order(session, order, found.moves, holder, actor, now,
                                   f"{action}: {reason}".rstrip(": "))
            row.state, row.department, row.updated_at = str(found.next), holder, now
            await record_step(session, order, action, current, found.next, holder, previous,
                               actor, now, reason)
            status = order.status
        log.info("order %s: dispatch %s -[%s by %s]-> %s (%s)", order_id, current, action,
                 actor, found.next, holder)
        return StepResult(order_id, str(action), str(found.next), holder, status)

    async def _known_department(self, session: AsyncSession, department: str | None) -> str:
        if not department or await session.get(DispatchDepartment, department) is None:
            raise InvalidOrder(f"no department {department!r} in the dispatch catalogue",
                               department=department)
        return department

    async def _move_order(self, session: AsyncSession, order: Order, moves: Sequence[Any],
                          holder: str | None, actor: str, at: datetime, note: str) -> None:
        for target in moves:
            current = order.status
            check_transition(current, target)
            order.status = str(target)
            await append_audit(session, order, actor, at, kind="status", from_status=current,
                         to_status=str(target), note=note)
        order.department = holder
        order.updated_at = at

    # -- reading ---------------------------------------------------------------------------
    async def of_order(self, order_id: str) -> dict[str, Any]:
        """The order's dispatch state, holder, suggestion and every step."""
        async with self._sessions() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise OrderNotFound(f"no order {order_id}", order_id=order_id,
                                    valid_id=is_order_id(order_id))
            row = await session.get(OrderDispatch, order_id)
            steps = (await session.scalars(
                select(DispatchStep).where(DispatchStep.order_id == order_id)
                .order_by(DispatchStep.id))).all()
        return {
            "order_id": order_id, "status": order.status, "department": order.department,
            "state": row.state if row else str(State.NEW),
            "suggestion": row.suggestion if row else None,
            "steps": [_step_dict(s) for s in steps],
        }

    async def holder(self, order_id: str) -> str | None:
        async with self._sessions() as session:
            row = await session.get(OrderDispatch, order_id)
        return row.department if row else None

    async def queue(self, department: str, state: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        """Orders a department holds now (dispatched or accepted), oldest deadline first."""
        async with self._sessions() as session:
            query = (select(Order, OrderDispatch)
                     .join(OrderDispatch, OrderDispatch.order_id == Order.order_id)
                     .where(OrderDispatch.department == department)
                     .order_by(Order.deadline_at, Order.order_id).limit(limit))
            if state:
                query = query.where(OrderDispatch.state == state)
            rows = (await session.execute(query)).all()
        return [{"order_id": o.order_id, "state": d.state, "status": o.status,
                 "level": o.level, "category": o.category, "summary": o.summary,
                 "region_code": o.region_code, "deadline_at": o.deadline_at,
                 "citizen": mask_number(o.citizen_number)} for o, d in rows]

    # -- reports ---------------------------------------------------------------------------
    async def returns(self, since: datetime | None = None,
                      until: datetime | None = None) -> list[dict[str, Any]]:
        """退单 per department: how many, and the latest reasons."""
        async with self._sessions() as session:
            query = select(DispatchStep).where(DispatchStep.action == str(Action.RETURN))
            if since:
                query = query.where(DispatchStep.at >= since)
            if until:
                query = query.where(DispatchStep.at < until)
            steps = (await session.scalars(query.order_by(DispatchStep.at.desc()))).all()
            dispatched = Counter(dict((await session.execute(
                select(DispatchStep.department, func.count())
                .where(DispatchStep.action.in_([str(Action.DISPATCH), str(Action.REASSIGN)]))
                .group_by(DispatchStep.department))).all()))
        by_department: dict[str, list[DispatchStep]] = defaultdict(list)
        for s in steps:
            by_department[s.previous_department or "unknown"].append(s)
        return [{"department": d, "returns": len(rows), "dispatched": dispatched.get(d, 0),
                 "reasons": [{"order_id": s.order_id, "at": s.at, "reason": s.reason}
                             for s in rows[:5]]}
                for d, rows in sorted(by_department.items())]

    async def accuracy(self) -> dict[str, Any]:
        """The suggestion against the department that holds the order now, over orders a
        department holds (dispatched or accepted) that had a suggestion."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(OrderDispatch.suggested, OrderDispatch.department)
                .where(OrderDispatch.state.in_([str(State.DISPATCHED), str(State.ACCEPTED)]),
                       OrderDispatch.suggested.is_not(None)))).all()
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for suggested, final in rows:
            per[final or "unknown"][0] += 1
            per[final or "unknown"][1] += suggested == final
        total, right = len(rows), sum(v[1] for v in per.values())
        return {"orders": total, "correct": right,
                "accuracy": right / total if total else None,
                "departments": [{"department": d, "orders": n, "correct": c,
                                 "accuracy": c / n} for d, (n, c) in sorted(per.items())]}


def _step_dict(s: DispatchStep) -> dict[str, Any]:
    return {"action": s.action, "from": s.from_state, "to": s.to_state,
            "department": s.department, "previous_department": s.previous_department,
            "actor": s.actor, "at": s.at, "reason": s.reason}
