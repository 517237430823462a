"""Knowledge-base endpoints (一问一答): search, entries and their status flow, uses, the
surge FAQ and the per-department report. Exports its own `OPERATIONS`, added to the API's
table in `app.py`.

Who may do what: agents, supervisors, ops and department users search; a department user
reads and edits only its own department's entries and moves them draft ↔ in review;
supervisors publish and retire (the table in `services.knowledge.status`); agents see
published entries only and record that they used one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.api.accounts import DEPARTMENT_ROLE, User
from services.api.core import Ctx, Operation, Reply, _ready
from services.api.errors import ApiError, Forbidden
from services.knowledge.service import Editor, KnowledgeService
from services.knowledge.status import EntryStatus
from services.work_orders.categories import DEFAULT_CATEGORIES
from services.work_orders.ids import ORDER_ID_PATTERN

DEPARTMENTS_FILE = Path(__file__).resolve().parents[1] / "knowledge" / "data" / "departments.json"
DEPARTMENT_IDS = [d["id"] for d in json.loads(DEPARTMENTS_FILE.read_text(encoding="utf-8"))]

AGENTS = ("agent_12345", "agent_110")
READERS = (*AGENTS, "supervisor", "ops", DEPARTMENT_ROLE)
EDITORS = ("supervisor", DEPARTMENT_ROLE)
BOARD = ("supervisor", "ops")

TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]*$"


def text(limit: int, minimum: int = 0) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, "pattern": TEXT_PATTERN,
            **({"minLength": minimum} if minimum else {})}


STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
OPT_STR = {"type": ["string", "null"]}
ENTRY_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$"}
REGION = {"type": "string", "pattern": r"^\d{6}$"}
# an order code (housing) or the routing suggestion's category (住房城乡建设)
CATEGORY_Q = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TEXT_PATTERN}
CATEGORY = {"type": "string", "enum": [c.code for c in DEFAULT_CATEGORIES]}
DEPARTMENT = {"type": "string", "enum": DEPARTMENT_IDS}
WHEN = {"type": ["string", "null"], "maxLength": 40, "pattern": r"^[0-9T:.+\-Z ]*$",
        "description": "ISO date or date-time (UTC when no offset)"}
CONTENT = {
    "question": text(500, 1),
    "alternatives": {"type": "array", "maxItems": 50, "items": text(200, 1)},
    "answer": text(4000, 1),
    "department": DEPARTMENT,
    "region_code": REGION,
    "category": CATEGORY,
    "valid_from": WHEN, "valid_until": WHEN, "review_at": WHEN,
}
ENTRY_OUT = {"type": "object", "required": ["entry_id", "question", "answer", "status",
                                            "department", "version"],
             "properties": {"entry_id": STR, "topic": OPT_STR, "question": STR,
                            "alternatives": {"type": "array"}, "answer": STR, "department": STR,
                            "region_code": STR, "category": STR, "status": STR, "version": INT,
                            "uses": INT, "review_at": OPT_STR, "audio": OPT_STR}}
HIT_OUT = {"type": "object", "required": ["entry_id", "question", "answer", "score", "matched"],
           "properties": {"entry_id": STR, "question": STR, "answer": STR,
                          "score": {"type": "number"}, "bm25": {"type": "number"},
                          "category_match": BOOL, "matched": {"type": "array", "items": STR}}}
REPORT_ROW = {"type": "object", "required": ["department", "published", "past_review",
                                             "stale_share", "uses"],
              "properties": {"department": STR, "entries": INT, "published": INT,
                             "past_review": INT, "stale_share": {"type": ["number", "null"]},
                             "uses": INT, "by_status": {"type": "object"},
                             "ivr_outcomes": {"type": "object"}}}
ENTRY_PARAMS = {"entry_id": ENTRY_ID}


def _kb(ctx: Ctx) -> KnowledgeService:
    return _ready(getattr(ctx.deps, "knowledge", None), "knowledge-base")


def _editor(user: User) -> Editor:
    return Editor(name=f"api:{user.name}", role=user.role, department=user.department)


def _may_read(user: User, entry: dict[str, Any]) -> bool:
    if user.role == DEPARTMENT_ROLE:
        return entry["department"] == user.department or entry["status"] == EntryStatus.PUBLISHED
    if user.role in AGENTS:
        return entry["status"] == EntryStatus.PUBLISHED
    return True


async def _readable(ctx: Ctx) -> dict[str, Any]:
    entry = await _kb(ctx).get(ctx.params["entry_id"], history=True)
    if not _may_read(ctx.user, entry):
        # a draft is nobody's business but its department's and the supervisors'
        raise ApiError(f"no knowledge-base entry {ctx.params['entry_id']}",
                       error_id="kb_entry_not_found", status=404)
    return entry


# ---- handlers -------------------------------------------------------------------------------
async def kb_search(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query.get("q", "")
    if not q.strip():
        raise ApiError("give the text to search for in q", error_id="bad_query", status=400,
                       problems=[{"path": "/q", "message": "required"}])
    hits = await _kb(ctx).search(q, category=ctx.query.get("category"),
                                 region=ctx.query.get("region"),
                                 limit=ctx.query.get("limit", 5))
    return {"q": q, "category": ctx.query.get("category"), "region": ctx.query.get("region"),
            "hits": [h.to_dict() for h in hits]}


async def kb_list(ctx: Ctx) -> dict[str, Any]:
    filters = {k: ctx.query.get(k) for k in ("department", "status", "region", "category")}
    if ctx.user.role == DEPARTMENT_ROLE:
        filters["department"] = ctx.user.department
    elif ctx.user.role in AGENTS:
        filters["status"] = str(EntryStatus.PUBLISHED)
    entries = await _kb(ctx).entries(**filters, limit=ctx.query.get("limit", 100),
                                  offset=ctx.query.get("offset", 0))
    return {"entries": entries}


async def kb_create(ctx: Ctx) -> Reply:
    body = dict(ctx.body)
    if ctx.user.role == DEPARTMENT_ROLE:
        body.setdefault("department", ctx.user.department)
    elif "department" not in body:
        raise ApiError("a supervisor names the owning department", error_id="invalid_body",
                       status=422, field="department")
    topic = body.pop("topic", None)
    return Reply(await _kb(ctx).create(_editor(ctx.user), body, topic=topic), 201)


async def kb_get(ctx: Ctx) -> dict[str, Any]:
    return await _readable(ctx)


async def kb_update(ctx: Ctx) -> dict[str, Any]:
    body = dict(ctx.body)
    note = body.pop("note", "")
    return await _kb(ctx).update(_editor(ctx.user), ctx.params["entry_id"], body, note=note)


async def kb_move(ctx: Ctx) -> dict[str, Any]:
    return await _kb(ctx).move(_editor(ctx.user), ctx.params["entry_id"], ctx.body["status"],
                               note=ctx.body.get("note", ""))


async def kb_use(ctx: Ctx) -> Reply:
    body = ctx.body
    return Reply(await _kb(ctx).record_use(
        ctx.params["entry_id"], actor=f"api:{ctx.user.name}", channel=body.get("channel", "desk"),
        order_id=body.get("order_id"), call_id=body.get("call_id"),
        region_code=body.get("region_code")), 201)


async def kb_faq(ctx: Ctx) -> dict[str, Any]:
    region = ctx.query.get("region")
    if not region:
        raise ApiError("give the site's region", error_id="bad_query", status=400,
                       problems=[{"path": "/region", "message": "required"}])
    return {"region": region,
            "items": await _kb(ctx).faq_menu(region, size=ctx.query.get("size", 3))}


async def kb_report(ctx: Ctx) -> dict[str, Any]:
    rows = await _kb(ctx).department_report(since=ctx.query.get("since"),
                                            until=ctx.query.get("until"))
    if ctx.user.role == DEPARTMENT_ROLE:
        rows = [r for r in rows if r["department"] == ctx.user.department]
    elif ctx.user.role not in BOARD:
        raise Forbidden("only supervisors, ops and departments see this report")
    return {"rows": rows}


OPERATIONS: list[Operation] = [
    Operation("GET", "/kb/search", kb_search,
              "Ranked published knowledge-base answers for a text", "knowledge",
              roles=READERS, errors=(403,),
              ok_schema={"type": "object", "required": ["hits"],
                         "properties": {"hits": {"type": "array", "items": HIT_OUT}}},
              query={"q": text(1000), "category": CATEGORY_Q, "region": REGION,
                     "limit": {"type": "integer", "minimum": 1, "maximum": 20}},
              description="jieba words and BM25 over the question, its phrasings and the "
              "answer; entries of the `category` (an order code such as `housing`, or the "
              "routing suggestion's diversion-list category such as `住房城乡建设`) score "
              "1.5×; `region` keeps only "
              "that region's entries. Each hit has its score and the words that matched."),
    Operation("GET", "/kb/entries", kb_list, "List knowledge-base entries", "knowledge",
              roles=READERS, errors=(403,),
              ok_schema={"type": "object", "required": ["entries"],
                         "properties": {"entries": {"type": "array", "items": ENTRY_OUT}}},
              query={"department": DEPARTMENT, "region": REGION, "category": CATEGORY_Q,
                     "status": {"type": "string", "enum": [str(s) for s in EntryStatus]},
                     "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                     "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000}},
              description="A department user sees its own department's entries; agents see "
              "published entries only."),
    Operation("POST", "/kb/entries", kb_create, "Write a new entry (a draft)", "knowledge",
              roles=EDITORS, ok=201, errors=(403,), ok_schema=ENTRY_OUT,
              body={"type": "object", "required": ["question", "answer", "region_code",
                                                   "category"],
                    "properties": {**CONTENT, "topic": text(32, 1)},
                    "additionalProperties": False}),
    Operation("GET", "/kb/entries/{entry_id}", kb_get,
              "One entry with its versions and audit", "knowledge", roles=READERS,
              params=ENTRY_PARAMS, errors=(403,), ok_schema=ENTRY_OUT),
    Operation("PATCH", "/kb/entries/{entry_id}", kb_update,
              "New text for a draft or an entry in review (a new version)", "knowledge",
              roles=EDITORS, params=ENTRY_PARAMS, errors=(403, 409), ok_schema=ENTRY_OUT,
              body={"type": "object", "properties": {**CONTENT, "note": text(2000)},
                    "additionalProperties": False, "minProperties": 1}),
    Operation("POST", "/kb/entries/{entry_id}/status", kb_move,
              "Move an entry along its status table (departments submit, supervisors publish)",
              "knowledge", roles=EDITORS, params=ENTRY_PARAMS, errors=(403, 409),
              ok_schema=ENTRY_OUT,
              body={"type": "object", "required": ["status"],
                    "properties": {"status": {"type": "string",
                                              "enum": [str(s) for s in EntryStatus]},
                                   "note": text(2000)},
                    "additionalProperties": False},
              description="draft → in_review (department, supervisor); in_review → draft, "
              "published → draft (reopen to edit); in_review → published and published → "
              "retired: supervisors only. Publishing renders the answer's audio for the surge "
              "IVR."),
    Operation("POST", "/kb/entries/{entry_id}/uses", kb_use,
              "Record that an entry's answer was used (put into an order's reply)",
              "knowledge", roles=(*AGENTS, "supervisor"), params=ENTRY_PARAMS, ok=201,
              errors=(403, 409),
              ok_schema={"type": "object", "required": ["entry_id", "uses", "answer"],
                         "properties": {"entry_id": STR, "uses": INT, "answer": STR,
                                        "version": INT, "order_id": OPT_STR}},
              body={"type": "object",
                    "properties": {"order_id": {"type": "string",
                                                "pattern": ORDER_ID_PATTERN.pattern},
                                   "call_id": text(128, 1), "region_code": REGION,
                                   "channel": {"type": "string", "enum": ["desk", "api"]}},
                    "additionalProperties": False}),
    Operation("GET", "/kb/faq", kb_faq, "The surge IVR's FAQ menu for a region", "knowledge",
              roles=BOARD, errors=(403,),
              query={"region": REGION, "size": {"type": "integer", "minimum": 1, "maximum": 9}},
              ok_schema={"type": "object", "required": ["region", "items"],
                         "properties": {"region": STR, "items": {"type": "array"}}},
              description="The region's most-used published entries that have rendered audio."),
    Operation("GET", "/reports/kb", kb_report,
              "Knowledge-base freshness and usage per department", "reports",
              roles=(*BOARD, DEPARTMENT_ROLE), errors=(403,),
              query={"since": {"type": "string", "format": "date-time", "maxLength": 40},
                     "until": {"type": "string", "format": "date-time", "maxLength": 40}},
              ok_schema={"type": "object", "required": ["rows"],
                         "properties": {"rows": {"type": "array", "items": REPORT_ROW}}},
              description="Per department: entries by status, published entries past their "
              "review date and their share (`stale_share`), and uses in the period. A "
              "department user gets its own row."),
]
