"""Small builders shared by the work-order tests."""

from __future__ import annotations

from services.work_orders.events import OrderOpened
from services.work_orders.ids import new_order_id
from services.work_orders.service import WorkOrderService
from services.work_orders.status import Status, path_to

CITIZEN = "13800138000"
REGION = "620102"  # 兰州市城关区


def opened(service: WorkOrderService, platform: str = "12345", **overrides) -> OrderOpened:
    now = service._clock()
    fields = {
        "order_id": new_order_id(platform, now),
        "platform": platform,
        "call_id": "call-1",
        "citizen_number": CITIZEN,
        "region_code": REGION,
        "channel": "phone",
        "opened_at": now,
        "suggestion": {"target": platform, "reasons": ["keyword"]},
        "category": "other",
        "level": None,
        "summary": "",
    }
    fields.update(overrides)
    return OrderOpened(**fields)


async def open_order(service: WorkOrderService, platform: str = "12345", **overrides) -> str:
    event = opened(service, platform, **overrides)
    assert await service.apply(event)
    return event.order_id


async def drive(service: WorkOrderService, order_id: str, target: Status) -> None:
    """Move an order from received to `target` along legal moves."""
    for step in path_to(target):
        await service.transition(
            order_id,
            step,
            "agent-1",
            note=f"to {step}",
            department="城关区住建局",
            next_steps="派员核查",
            outcome="已处理",
        )
