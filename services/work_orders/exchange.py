"""The exchange template (schema/order.v1.json): records, JSONL, CSV and an Open311 view.

One record carries an order with its whole history, so a JSONL or CSV export
imported elsewhere rebuilds the same orders, audit log, links, visits and notices.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator

from .categories import DEFAULT_CATEGORIES, Category
from .errors import InvalidOrder
from .ids import platform_of
from .models import AuditEntry, Order, OrderLink, ReturnVisit, SupervisionNotice
from .status import Status

SCHEMA_ID = "hotline-link/order/v1"
SCHEMA_PATH = Path(__file__).with_name("schema") / "order.v1.json"
CHANNELS = ("phone", "online")

ORDER_FIELDS = (
    "order_id", "platform", "call_id", "citizen_number", "region_code", "channel",
    "opened_at", "suggestion", "category", "level", "deadline_at", "summary", "department",
    "status", "outcome", "next_steps", "source_order_id", "merged_into", "duplicate_of",
    "updated_at",
)  # fmt: skip
TIME_FIELDS = ("opened_at", "deadline_at", "updated_at")
NESTED = ("history", "links", "visits", "notices")
CSV_COLUMNS = ("schema", *ORDER_FIELDS, *NESTED)
NULLABLE = frozenset({
    "call_id", "suggestion", "category", "department", "outcome", "next_steps",
    "source_order_id", "merged_into", "duplicate_of",
})  # fmt: skip


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def order_to_record(
    order: Order,
    history: Iterable[AuditEntry],
    links: Iterable[OrderLink],
    visits: Iterable[ReturnVisit],
    notices: Iterable[SupervisionNotice],
) -> dict[str, Any]:
    record: dict[str, Any] = {"schema": SCHEMA_ID}
    for name in ORDER_FIELDS:
        value = getattr(order, name)
        record[name] = _time(value) if name in TIME_FIELDS else value
    record["history"] = [
        {"seq": e.seq, "kind": e.kind, "actor": e.actor, "at": _time(e.at),
         "from_status": e.from_status, "to_status": e.to_status, "note": e.note,
         "data": e.data}
        for e in history
    ]  # fmt: skip
    record["links"] = [
        {"source_order_id": link.source_order_id, "target_order_id": link.target_order_id,
         "kind": link.kind, "actor": link.actor, "created_at": _time(link.created_at)}
        for link in links
    ]  # fmt: skip
    record["visits"] = [
        {"visited_at": _time(v.visited_at), "actor": v.actor, "resolved": v.resolved,
         "satisfied": v.satisfied, "note": v.note}
        for v in visits
    ]  # fmt: skip
    record["notices"] = [
        {"tier": n.tier, "issued_at": _time(n.issued_at), "due_at": _time(n.due_at),
         "department": n.department}
        for n in notices
    ]  # fmt: skip
    return record


@dataclass
class RecordRows:
    order: Order
    history: list[AuditEntry]
    links: list[OrderLink]
    visits: list[ReturnVisit]
    notices: list[SupervisionNotice]


def record_to_rows(record: dict[str, Any]) -> RecordRows:
    """Validate an exchange record and turn it into rows; InvalidOrder says what is wrong."""
    order_id = record.get("order_id")
    try:
        return _record_to_rows(record)
    except InvalidOrder:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidOrder(f"bad order record: {exc!r}", order_id=order_id) from exc


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def record_problems(record: Any) -> list[dict[str, str]]:
    """What is wrong with `record` by the exchange schema (order.v1.json), as
    [{"path": "/history/0/at", "message": ...}]; [] when it is valid."""
    return [{"path": "/" + "/".join(str(p) for p in error.absolute_path),
             "message": error.message[:300]}
            for error in sorted(_validator().iter_errors(record), key=lambda e: e.json_path)]


def _check_record(record: dict[str, Any]) -> str:
    """The record's order id, once the record passed the schema and the one rule no schema
    keyword says (the id's prefix names the platform)."""
    found = record_problems(record)
    if found:
        order_id = record.get("order_id") if isinstance(record, dict) else None
        raise InvalidOrder("the record breaks the exchange schema (order.v1.json)",
                           order_id=order_id, problems=found[:20])
    order_id: str = record["order_id"]
    if platform_of(order_id) != record["platform"]:
        raise InvalidOrder("order id and platform disagree", order_id=order_id)
    return order_id


def _record_to_rows(record: dict[str, Any]) -> RecordRows:
    order_id = _check_record(record)
    values = {
        name: _parse_time(record[name]) if name in TIME_FIELDS else record.get(name)
        for name in ORDER_FIELDS
    }
    order = Order(**values)
    history = [
        AuditEntry(order_id=order_id, seq=int(e["seq"]), kind=e["kind"], actor=e["actor"],
                   at=_parse_time(e["at"]), from_status=_status(e.get("from_status")),
                   to_status=_status(e.get("to_status")), note=e.get("note") or "",
                   data=e.get("data"))
        for e in record.get("history") or ()
    ]  # fmt: skip
    links = [
        OrderLink(source_order_id=link["source_order_id"], target_order_id=link["target_order_id"],
                  kind=link["kind"], actor=link["actor"],
                  created_at=_parse_time(link["created_at"]))
        for link in record.get("links") or ()
    ]  # fmt: skip
    visits = [
        ReturnVisit(order_id=order_id, visited_at=_parse_time(v["visited_at"]), actor=v["actor"],
                    resolved=bool(v["resolved"]), satisfied=bool(v["satisfied"]),
                    note=v.get("note") or "")
        for v in record.get("visits") or ()
    ]  # fmt: skip
    notices = [
        SupervisionNotice(order_id=order_id, tier=int(n["tier"]),
                          issued_at=_parse_time(n["issued_at"]), due_at=_parse_time(n["due_at"]),
                          department=n.get("department"))
        for n in record.get("notices") or ()
    ]  # fmt: skip
    return RecordRows(order, history, links, visits, notices)


def _status(value: str | None) -> str | None:
    return str(Status(value)) if value else None


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise InvalidOrder(f"time {value!r} needs a UTC offset")
    return moment


# -- JSONL and CSV ---------------------------------------------------------------------------


def dump_jsonl(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def read_jsonl(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidOrder(f"line {number} is not JSON: {exc}", line=number) from exc


def record_to_csv_row(record: dict[str, Any]) -> dict[str, str]:
    """Flat columns; nested and JSON-valued fields as compact JSON, None as empty."""
    row = {}
    for column in CSV_COLUMNS:
        value = record.get(column)
        if column in NESTED or column == "suggestion":
            row[column] = "" if value is None else json.dumps(value, ensure_ascii=False)
        else:
            row[column] = "" if value is None else str(value)
    return row


def csv_row_to_record(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for column in CSV_COLUMNS:
        value = row.get(column, "")
        if column in NESTED or column == "suggestion":
            record[column] = json.loads(value) if value else ([] if column in NESTED else None)
        elif value == "" and column in NULLABLE:
            record[column] = None
        else:
            record[column] = value
    return record


def read_csv(stream: IO[str]) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(stream)
    missing = set(CSV_COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise InvalidOrder("CSV lacks columns of the exchange template", missing=sorted(missing))
    for row in reader:
        yield csv_row_to_record(row)


async def write_jsonl(records: AsyncIterable[dict[str, Any]], stream: IO[str]) -> int:
    count = 0
    async for record in records:
        stream.write(dump_jsonl(record) + "\n")
        count += 1
    return count


async def write_csv(records: AsyncIterable[dict[str, Any]], stream: IO[str]) -> int:
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    async for record in records:
        writer.writerow(record_to_csv_row(record))
        count += 1
    return count


def read_records(stream: IO[str], fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        return read_jsonl(stream)
    if fmt == "csv":
        return read_csv(stream)
    raise ValueError(f"format must be jsonl or csv, not {fmt!r}")


# -- Open311 GeoReport v2 --------------------------------------------------------------------


def open311_services(categories: Iterable[Category] = DEFAULT_CATEGORIES) -> list[dict[str, Any]]:
    """GET services: one realtime service per order category."""
    return [
        {"service_code": c.code, "service_name": c.name, "description": f"{c.name} ({c.level})",
         "metadata": False, "type": "realtime", "keywords": ",".join(c.keywords),
         "group": c.group}
        for c in categories
    ]  # fmt: skip


def open311_request(
    record: dict[str, Any],
    tz: ZoneInfo,
    categories: Iterable[Category] = DEFAULT_CATEGORIES,
    location: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """GET requests: an order as a GeoReport service request; no citizen data in it.
    `location` ({"address", "lat", "long"}) fills address, lat and long."""
    names = {c.code: c.name for c in categories}
    status = record["status"]
    is_open = status not in (Status.CLOSED, Status.REJECTED, Status.TRANSFERRED)
    notes = record["outcome"] or record.get("next_steps") or ""
    if status == Status.TRANSFERRED:
        notes = notes or "transferred to the other platform"
    return {
        "service_request_id": record["order_id"],
        "status": "open" if is_open else "closed",
        "status_notes": notes,
        "service_name": names.get(record["category"], record["category"]),
        "service_code": record["category"],
        "description": record["summary"],
        "agency_responsible": record["department"] or record["platform"],
        "service_notice": f"response level {record['level']}",
        "requested_datetime": _local(record["opened_at"], tz),
        "updated_datetime": _local(record["updated_at"], tz),
        "expected_datetime": _local(record["deadline_at"], tz),
        "address": (location or {}).get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": (location or {}).get("lat"),
        "long": (location or {}).get("long"),
        "media_url": None,
        "extended_attributes": {
            "platform": record["platform"],
            "region_code": record["region_code"],
            "internal_status": status,
        },
    }


def _local(value: str, tz: ZoneInfo) -> str:
    return datetime.fromisoformat(value).astimezone(tz).isoformat()
