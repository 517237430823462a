"""The JSON Schema pieces the endpoint table is built from, and the roles it names."""
from __future__ import annotations

from typing import Any

from services.work_orders.ids import ORDER_ID_PATTERN
from services.work_orders.levels import ResponseLevel

# ---- schemas --------------------------------------------------------------------------------
PLATFORMS = ["12345", "110"]
NAME = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"}
SITE = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"}
ORDER_ID = {"type": "string", "pattern": ORDER_ID_PATTERN.pattern}
DATETIME = {"type": "string", "format": "date-time", "maxLength": 40}
NUMBER = {"type": "string", "pattern": r"^\+?[0-9]{3,20}$"}
REGION = {"type": "string", "pattern": r"^\d{6}(\d{3}(\d{3})?)?$"}
CATEGORY = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"}
LEVEL = {"type": "string", "enum": [str(level) for level in ResponseLevel]}


# Free text: anything but control characters (tab and newlines allowed), as schema.py checks.
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]*$"


def text(limit: int, minimum: int = 0) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, "pattern": TEXT_PATTERN,
            **({"minLength": minimum} if minimum else {})}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def obj(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


def shape(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    """A response object: these keys at least (more may come later)."""
    return {"type": "object", "required": required, "properties": properties}


def listing(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return shape([key], **{key: {"type": "array", "items": item}})


STR, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
OPT_STR = {"type": ["string", "null"]}
USER_OUT = shape(["name", "role", "site", "seat"], name=STR, role=STR, site=OPT_STR,
                 seat=OPT_STR)
CALL_OUT = shape(["call_id", "site", "platform", "state", "citizen_number", "order_id", "seat"],
                 call_id=STR, site=STR, platform=STR, state=STR, citizen_number=OPT_STR,
                 order_id=OPT_STR, linked_order_id=OPT_STR, seat=OPT_STR,
                 allowed_actions={"type": "array", "items": {"type": "string"}})
SEAT_OUT = shape(["site", "seat", "state"], site=STR, seat=STR, state=STR, registered=BOOL)
ORDER_ROW = shape(["order_id", "platform", "status", "level", "citizen"], order_id=STR,
                  platform=STR, status=STR, level=STR, category=OPT_STR, department=OPT_STR,
                  opened_at=STR, deadline_at=STR, citizen=STR)
ORDER_OUT = shape(["order_id", "platform", "status", "restricted"], order_id=STR, platform=STR,
                  status=STR, restricted=BOOL, citizen_number=STR,
                  history={"type": "array"}, links={"type": "array"},
                  linked={"type": "array"}, feedback={"type": "array"})
RATE_ROW = shape(["group", "orders", "response_rate", "resolution_rate", "satisfaction_rate"],
                 group={"type": "object"}, orders=INT,
                 response_rate={"type": ["number", "null"]},
                 resolution_rate={"type": ["number", "null"]},
                 satisfaction_rate={"type": ["number", "null"]})
HOTSPOT_ROW = shape(["category", "region", "period", "orders"], category=STR, region=STR,
                    period=STR, orders=INT)
BOARD_ROW = shape(["order_id", "platform", "tier", "deadline_at", "overdue_by_s"],
                  order_id=STR, platform=STR, tier=INT, deadline_at=STR,
                  overdue_by_s={"type": "number"})
SUGGESTION_OUT = shape(["target", "category", "emergency", "confidence", "uncertain",
                        "reasons"], target=STR, category=OPT_STR, emergency=BOOL,
                       confidence={"type": "number"}, uncertain=BOOL,
                       reasons={"type": "array"}, alternatives={"type": "array"})

AGENTS = ("agent_12345", "agent_110")
ORDER_ROLES = (*AGENTS, "supervisor")
BOARD_ROLES = ("supervisor", "ops")
