"""Links: an order handed to the other platform (transfer, hand-over, online), the
negotiation over who takes a case, and repeat orders folded into the main one."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InvalidOrder
from ..events import NegotiationRecorded, OrderTransferred, TransferFailed
from ..ids import new_order_id, platform_of
from ..models import Order, OrderLink
from ..status import Status
from .store import OrderStore, audit, find_order, get_order, move, other_platform

TRANSFER_LINKS = ("handover", "three_way", "online")


class Links(OrderStore):
    async def _on_transferred(self, session: AsyncSession, e: OrderTransferred) -> None:
        source = await get_order(session, e.source_order_id)
        if (
            e.target_platform == source.platform
            or platform_of(e.target_order_id) != e.target_platform
        ):
            raise InvalidOrder("a transfer goes to the other platform", target=e.target_order_id)
        target = await find_order(session, e.target_order_id) or await self._open_target(
            session, source, e
        )
        target.source_order_id = target.source_order_id or source.order_id
        await move(
            session,
            source,
            Status.TRANSFERRED,
            e.actor,
            e.at,
            note=f"to {target.order_id} ({e.mode}) {e.note}".strip(),
            data={"target_order_id": target.order_id, "mode": e.mode},
        )
        session.add(
            OrderLink(
                source_order_id=source.order_id,
                target_order_id=target.order_id,
                kind=e.mode,
                actor=e.actor,
                created_at=e.at,
            )
        )

    async def _open_target(self, session: AsyncSession, source: Order,
                           e: OrderTransferred) -> Order:
        """The other platform's order, with the source's matter and level, received now."""
        return await self._open(
            session,
            e.actor,
            level=source.level,
            note=f"from {source.order_id} ({e.mode})",
            order_id=e.target_order_id,
            platform=e.target_platform,
            call_id=None,
            citizen_number=source.citizen_number,
            region_code=source.region_code,
            channel="online" if e.mode == "online" else source.channel,
            opened_at=e.at,
            suggestion=source.suggestion,
            category=source.category,
            summary=source.summary,
        )

    async def _on_negotiation(self, session: AsyncSession, e: NegotiationRecorded) -> None:
        order = await get_order(session, e.order_id)
        taker, rule = (e.outcome, "agreed") if e.outcome else (order.platform, "first_contact")
        await audit(session, order, "negotiation", e.actor, e.at,
                    note=f"key {e.key}: {taker} takes the case ({rule})",
                    data={"key": e.key, "platform": taker, "rule": rule})

    async def _on_transfer_failed(self, session: AsyncSession, e: TransferFailed) -> None:
        order = await get_order(session, e.order_id)
        await audit(session, order, "transfer_failed", e.actor, e.at, note=e.reason,
                    data={"target_platform": e.target_platform})

    async def transfer(self, order_id: str, mode: str, actor: str, note: str = "") -> str:
        """Open the linked order on the other platform; returns its id."""
        now = self._clock()
        async with self._sessions() as session:
            source = await get_order(session, order_id, lock=False)
        target_platform = other_platform(source.platform)
        target_id = new_order_id(target_platform, now.astimezone(self.calendar.tz))
        await self.apply(
            OrderTransferred(
                source_order_id=order_id,
                target_order_id=target_id,
                target_platform=target_platform,
                mode=mode,
                actor=actor,
                at=now,
                note=note,
            )
        )
        return target_id

    async def forward_online(self, order_id: str, actor: str, note: str = "") -> str:
        """Hand an order to the other platform as a linked order (在线转交)."""
        return await self.transfer(order_id, "online", actor, note)

    async def mark_duplicate(self, order_id: str, of_order_id: str, actor: str) -> None:
        """Close a repeat call's order as a duplicate of the order that handles the matter."""
        await self._fold(order_id, of_order_id, actor, "duplicate")

    async def merge(self, into_order_id: str, order_ids: Iterable[str], actor: str) -> None:
        """Fold repeat orders about the same matter into one; each is closed with a link."""
        for order_id in order_ids:
            await self._fold(order_id, into_order_id, actor, "merged")

    async def _fold(self, order_id: str, main_id: str, actor: str, kind: str) -> None:
        if order_id == main_id:
            raise InvalidOrder("an order cannot be folded into itself", order_id=order_id)
        now = self._clock()
        async with self._sessions() as session, session.begin():
            main = await get_order(session, main_id)
            if main.merged_into or main.duplicate_of:
                raise InvalidOrder("fold into the main order, not into a repeat", order_id=main_id)
            order = await get_order(session, order_id)
            if kind == "duplicate":
                order.duplicate_of = main_id
            else:
                order.merged_into = main_id
            await move(session, order, Status.CLOSED, actor, now,
                       note=f"{kind} of {main_id}", data={kind: main_id})
            await audit(session, main, "details", actor, now,
                        note=f"{order_id} folded in ({kind})", data={kind: order_id})
            session.add(
                OrderLink(
                    source_order_id=order_id,
                    target_order_id=main_id,
                    kind=kind,
                    actor=actor,
                    created_at=now,
                )
            )
