"""What an entry is outside the database: its editable content (checked), the editor who
changes it, its dict form for the API and exports, and how an import walks the status
table to the status a record asks for."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import InvalidEntry, NotYourEntry
from .models import KbAudit, KbEntry, KbVersion
from .status import Actor, EntryStatus

CONTENT = ("question", "alternatives", "answer", "department", "region_code", "category",
           "valid_from", "valid_until", "review_at")
ENTRY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
USE_CHANNELS = ("desk", "ivr", "api")
IVR_OUTCOMES = ("helped", "person", "callback")   # after the answer: enough, 1, 2
DEFAULT_REVIEW = timedelta(days=180)
# The index is rebuilt this long after it was built even without a change made here: an
# import by `hotline kb import` from another process, a validity period that began or ended.
INDEX_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class Editor:
    """Who changes the knowledge base: a name for the audit, a role, and for a
    department editor its department id."""

    name: str
    role: str                      # "department" | "supervisor" (ops and agents: read only)
    department: str | None = None

    @property
    def actor(self) -> Actor:
        if self.role == "supervisor":
            return Actor.SUPERVISOR
        if self.role == "department" and self.department:
            return Actor.DEPARTMENT
        raise NotYourEntry(f"role {self.role} may not change the knowledge base", role=self.role)


SYSTEM = Editor("system:kb-import", "supervisor")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def entry_dict(entry: KbEntry) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id, "topic": entry.topic, "question": entry.question,
        "alternatives": list(entry.alternatives or []), "answer": entry.answer,
        "department": entry.department, "region_code": entry.region_code,
        "category": entry.category, "valid_from": iso(entry.valid_from),
        "valid_until": iso(entry.valid_until), "review_at": iso(entry.review_at),
        "status": entry.status, "version": entry.version, "uses": entry.uses,
        "audio": entry.audio, "created_at": iso(entry.created_at),
        "updated_at": iso(entry.updated_at), "published_at": iso(entry.published_at),
    }


def version_dict(row: KbVersion) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in CONTENT}
    for name in ("valid_from", "valid_until", "review_at"):
        out[name] = iso(out[name])
    return {"version": row.version, **out, "actor": row.actor, "at": iso(row.at)}


def audit_dict(row: KbAudit) -> dict[str, Any]:
    return {"seq": row.seq, "kind": row.kind, "actor": row.actor, "at": iso(row.at),
            "from_status": row.from_status, "to_status": row.to_status, "note": row.note,
            "data": row.data}


def parse_time(value: Any, name: str) -> datetime | None:
    """An aware datetime from an ISO string or a date (midnight UTC); None stays None."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            raise InvalidEntry(f"{name} needs a time zone", field=name)
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidEntry(f"{name} is not an ISO date or date-time: {value!r}"[:200],
                           field=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def clean_content(raw: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The content fields of `raw`, checked; refuses what would make a useless entry."""
    out: dict[str, Any] = {}
    for name in CONTENT:
        if name not in raw:
            continue
        value = raw[name]
        if name in ("valid_from", "valid_until", "review_at"):
            value = parse_time(value, name)
        elif name == "alternatives":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidEntry("alternatives must be a list of strings", field=name)
            value = [v.strip() for v in value if v.strip()][:50]
        else:
            if not isinstance(value, str) or not value.strip():
                raise InvalidEntry(f"{name} must be a non-empty string", field=name)
            value = value.strip()
        out[name] = value
    if not partial:
        missing = [n for n in ("question", "answer", "department", "region_code", "category")
                   if n not in out]
        if missing:
            raise InvalidEntry(f"missing: {', '.join(missing)}", missing=missing)
    start, end = out.get("valid_from"), out.get("valid_until")
    if start and end and end <= start:
        raise InvalidEntry("valid_until must come after valid_from", field="valid_until")
    return out


def spoken_text(question: str, answer: str) -> str:
    """What the surge IVR says for an entry: the question, a pause, the answer."""
    return f"{question.rstrip('？?。')}。{answer}"


def valid_at(entry: Mapping[str, Any], now: datetime) -> bool:
    start = entry["valid_from"] and datetime.fromisoformat(entry["valid_from"])
    end = entry["valid_until"] and datetime.fromisoformat(entry["valid_until"])
    return (not start or start <= now) and (not end or now < end)


MAIN_LINE = (EntryStatus.DRAFT, EntryStatus.IN_REVIEW, EntryStatus.PUBLISHED,
              EntryStatus.RETIRED)


def status_path(current: EntryStatus, target: EntryStatus) -> list[EntryStatus]:
    """Moves along the main line from `current` to `target` (import brings entries there)."""
    if current == target:
        return []
    if target == EntryStatus.RETIRED:
        return [EntryStatus.RETIRED] if current != EntryStatus.IN_REVIEW else [
            EntryStatus.DRAFT, EntryStatus.RETIRED]
    if current in (EntryStatus.RETIRED, EntryStatus.PUBLISHED):
        return [EntryStatus.DRAFT, *status_path(EntryStatus.DRAFT, target)]
    start, end = MAIN_LINE.index(current), MAIN_LINE.index(target)
    if end < start:
        return [EntryStatus.DRAFT]
    return list(MAIN_LINE[start + 1:end + 1])
