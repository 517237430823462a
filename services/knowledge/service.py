"""The knowledge-base service: the one place that changes entries.

Every change happens in one transaction with its audit line; every change of text
adds a version row, so an entry's whole history can be read back. Departments edit
their own entries; supervisors publish and retire (the table in `status`). Search
runs on an in-memory index of the published entries, rebuilt after a change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .entries import (
    CONTENT,
    DEFAULT_REVIEW,
    ENTRY_ID_RE,
    INDEX_TTL,
    IVR_OUTCOMES,
    SYSTEM,
    USE_CHANNELS,
    Editor,
    audit_dict,
    clean_content,
    entry_dict,
    iso,
    spoken_text,
    status_path,
    valid_at,
    version_dict,
)
from .errors import EntryNotFound, IllegalEntryTransition, InvalidEntry, NotYourEntry
from .models import KbAudit, KbEntry, KbUse, KbVersion
from .reports import department_report
from .search import Hit, SearchIndex
from .status import EDITABLE, Actor, EntryStatus, check_transition

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# (entry_id, version, answer text) -> the rendered file's name, or None; runs in a thread
Renderer = Callable[[str, int, str], str | None]


class KnowledgeService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 clock: Clock = lambda: datetime.now(UTC), renderer: Renderer | None = None,
                 index_factory: Callable[[], SearchIndex] = SearchIndex) -> None:
        self._sessions = sessions
        self._clock = clock
        self._renderer = renderer
        self._index_factory = index_factory
        self._index: SearchIndex | None = None
        self._index_at = datetime.min.replace(tzinfo=UTC)
        self._index_lock = asyncio.Lock()

    # ---- reading ---------------------------------------------------------------------------
    async def get(self, entry_id: str, *, history: bool = False) -> dict[str, Any]:
        async with self._sessions() as session:
            entry = await self._entry(session, entry_id)
            out = entry_dict(entry)
            if history:
                versions = await session.scalars(select(KbVersion).where(
                    KbVersion.entry_id == entry_id).order_by(KbVersion.version))
                audit = await session.scalars(select(KbAudit).where(
                    KbAudit.entry_id == entry_id).order_by(KbAudit.seq))
                out["versions"] = [version_dict(v) for v in versions]
                out["audit"] = [audit_dict(a) for a in audit]
            return out

    async def entries(self, *, department: str | None = None, status: str | None = None,
                   region: str | None = None, category: str | None = None,
                   limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        query = select(KbEntry)
        for column, value in ((KbEntry.department, department), (KbEntry.status, status),
                              (KbEntry.region_code, region), (KbEntry.category, category)):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(KbEntry.entry_id).limit(limit).offset(offset)
        async with self._sessions() as session:
            return [entry_dict(e) for e in await session.scalars(query)]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(KbEntry)) or 0)

    # ---- changing --------------------------------------------------------------------------
    async def create(self, editor: Editor, raw: Mapping[str, Any], *,
                     entry_id: str | None = None, topic: str | None = None,
                     moves: Iterable[EntryStatus] = ()) -> dict[str, Any]:
        """A new draft; `moves` (import) then walk it along the status table in the same
        transaction, each move checked and audited (no audio yet: `render_missing`)."""
        content = clean_content(raw)
        self._check_department(editor, content["department"])
        content.setdefault("alternatives", [])
        now = self._clock()
        content.setdefault("review_at", now + DEFAULT_REVIEW)
        entry_id = entry_id or await self._new_id(content["region_code"])
        if not ENTRY_ID_RE.match(entry_id):
            raise InvalidEntry(f"bad entry id {entry_id!r}"[:100], field="entry_id")
        async with self._sessions() as session, session.begin():
            entry = KbEntry(entry_id=entry_id, topic=topic, status=str(EntryStatus.DRAFT),
                            version=1, uses=0, created_at=now, updated_at=now, **content)
            session.add(entry)
            try:
                await session.flush()
            except IntegrityError:
                raise InvalidEntry(f"entry {entry_id} exists already", entry_id=entry_id) from None
            self._add_version(session, entry, editor, now)
            await self._audit(session, entry, editor, "created", now, to_status=entry.status)
            for step in moves:
                check_transition(entry.status, step, editor.actor)
                before, entry.status = entry.status, str(step)
                if entry.status == EntryStatus.PUBLISHED:
                    entry.published_at = now
                await self._audit(session, entry, editor, "status", now, from_status=before,
                                  to_status=entry.status, note="import")
            result = entry_dict(entry)
        if moves:
            self._index = None
        return result

    async def update(self, editor: Editor, entry_id: str, raw: Mapping[str, Any],
                     note: str = "") -> dict[str, Any]:
        """New text for a draft or an entry in review: a new version."""
        changes = clean_content(raw, partial=True)
        now = self._clock()
        async with self._sessions() as session, session.begin():
            entry = await self._entry(session, entry_id, lock=True)
            self._check_department(editor, entry.department)
            if "department" in changes:
                self._check_department(editor, changes["department"])
            if EntryStatus(entry.status) not in EDITABLE:
                raise IllegalEntryTransition(
                    f"a {entry.status} entry is not edited in place; move it to draft first",
                    status=entry.status, entry_id=entry_id)
            changed = {k: v for k, v in changes.items() if getattr(entry, k) != v}
            if not changed:
                return entry_dict(entry)
            for name, value in changed.items():
                setattr(entry, name, value)
            entry.version += 1
            entry.updated_at = now
            self._add_version(session, entry, editor, now)
            await self._audit(session, entry, editor, "edited", now, note=note,
                              data={"fields": sorted(changed)})
            return entry_dict(entry)

    async def move(self, editor: Editor, entry_id: str, target: str,
                   note: str = "") -> dict[str, Any]:
        """One move of the status table; publishing renders the answer's audio."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            entry = await self._entry(session, entry_id, lock=True)
            self._check_department(editor, entry.department)
            check_transition(entry.status, target, editor.actor)
            before = entry.status
            entry.status = str(EntryStatus(target))
            entry.updated_at = now
            if entry.status == EntryStatus.PUBLISHED:
                entry.published_at = now
                entry.audio = await self._render(entry)
            await self._audit(session, entry, editor, "status", now, from_status=before,
                              to_status=entry.status, note=note)
            result = entry_dict(entry)
        self._index = None
        return result

    async def record_use(self, entry_id: str, *, actor: str, channel: str = "desk",
                         order_id: str | None = None, call_id: str | None = None,
                         region_code: str | None = None,
                         outcome: str | None = None) -> dict[str, Any]:
        """The entry's answer was used (put in a reply, played by the IVR): counted. For the
        IVR, `outcome` is what the caller chose after hearing it."""
        if channel not in USE_CHANNELS:
            raise InvalidEntry(f"channel must be one of {USE_CHANNELS}", field="channel")
        if outcome is not None and outcome not in IVR_OUTCOMES:
            raise InvalidEntry(f"outcome must be one of {IVR_OUTCOMES}", field="outcome")
        now = self._clock()
        async with self._sessions() as session, session.begin():
            entry = await self._entry(session, entry_id, lock=True)
            if entry.status != EntryStatus.PUBLISHED:
                raise NotYourEntry("only a published entry's answer may be used",
                                   status=entry.status, entry_id=entry_id)
            entry.uses = (entry.uses or 0) + 1
            session.add(KbUse(entry_id=entry_id, version=entry.version, at=now, actor=actor,
                              channel=channel, order_id=order_id, call_id=call_id,
                              region_code=region_code, outcome=outcome))
            return {"entry_id": entry_id, "version": entry.version, "uses": entry.uses,
                    "answer": entry.answer, "order_id": order_id}

    async def render_missing(self, pause: float = 0.2) -> int:
        """Render the audio of published entries that have none (after an import, or when
        the renderer failed at publish time); one at a time, so calls keep the CPU."""
        if self._renderer is None:
            return 0
        async with self._sessions() as session:
            todo = list(await session.scalars(select(KbEntry).where(
                KbEntry.status == str(EntryStatus.PUBLISHED), KbEntry.audio.is_(None))))
        done = 0
        for stale in todo:
            audio = await self._render(stale)   # outside any transaction: it takes a while
            if audio is None:
                continue
            async with self._sessions() as session, session.begin():
                entry = await self._entry(session, stale.entry_id, lock=True)
                if entry.version == stale.version and entry.status == EntryStatus.PUBLISHED:
                    entry.audio = audio
                    done += 1
            await asyncio.sleep(pause)   # leave the CPU to calls between two renders
        return done

    # ---- import / export -------------------------------------------------------------------
    async def import_records(self, records: Iterable[Mapping[str, Any]],
                             editor: Editor = SYSTEM) -> dict[str, int]:
        """Entries from exported records: new ones created and brought to their status,
        known ones (same entry_id) given the record's text as a new version when it
        differs. A bad record is refused with its line number; nothing is half-written."""
        created = updated = unchanged = 0
        for line, record in enumerate(records, start=1):
            try:
                outcome = await self._import_one(record, editor)
            except InvalidEntry as exc:
                raise InvalidEntry(f"record {line}: {exc.message}", line=line,
                                   **exc.details) from None
            created += outcome == "created"
            updated += outcome == "updated"
            unchanged += outcome == "unchanged"
        self._index = None
        return {"created": created, "updated": updated, "unchanged": unchanged}

    async def _import_one(self, record: Mapping[str, Any], editor: Editor) -> str:
        if not isinstance(record, Mapping):
            raise InvalidEntry("a record must be a JSON object")
        entry_id = record.get("entry_id")
        status = EntryStatus(record.get("status", "draft")) \
            if record.get("status") in set(EntryStatus) else None
        if status is None:
            raise InvalidEntry(f"status must be one of {[str(s) for s in EntryStatus]}",
                               field="status")
        try:
            current = await self.get(entry_id) if entry_id else None
        except EntryNotFound:
            current = None
        if current is None:
            await self.create(editor, record, entry_id=entry_id, topic=record.get("topic"),
                              moves=status_path(EntryStatus.DRAFT, status))
            return "created"
        content = clean_content(record)
        differs = any(current[k] != (iso(v) if isinstance(v, datetime) else v)
                      for k, v in content.items())
        if not differs and current["status"] == status:
            return "unchanged"
        if differs:
            if EntryStatus(current["status"]) not in EDITABLE:
                await self.move(editor, current["entry_id"], EntryStatus.DRAFT, note="import")
                current["status"] = str(EntryStatus.DRAFT)
            await self.update(editor, current["entry_id"], content, note="import")
        for step in status_path(EntryStatus(current["status"]), status):
            await self.move(editor, current["entry_id"], step, note="import")
        return "updated"

    async def export_records(self) -> list[dict[str, Any]]:
        """Every entry as one record, in id order: what `import_records` reads back."""
        out = []
        for entry in await self.entries(limit=10**9):
            out.append({k: entry[k] for k in ("entry_id", "topic", *CONTENT, "status")})
        return out

    # ---- search, FAQ, reports --------------------------------------------------------------
    async def index(self) -> SearchIndex:
        """The search index over published entries valid now, built when first needed."""
        index = self._index
        if index is not None and self._clock() - self._index_at < INDEX_TTL:
            return index
        async with self._index_lock:
            if self._index is None or self._clock() - self._index_at >= INDEX_TTL:
                entries = await self.entries(status=str(EntryStatus.PUBLISHED), limit=10**9)
                now = self._clock()
                live = [e for e in entries if valid_at(e, now)]
                built = self._index_factory()
                await asyncio.to_thread(built.build, live)
                self._index, self._index_at = built, now
            return self._index

    async def search(self, q: str, *, category: str | None = None, region: str | None = None,
                     limit: int = 10) -> list[Hit]:
        return (await self.index()).search(q, category=category, region=region, limit=limit)

    async def faq_menu(self, region: str, size: int = 3) -> list[dict[str, Any]]:
        """The surge IVR's FAQ for a site's region: its most-used published entries that
        have audio and are valid now, most used first (ties: the older entry first).

        The controller asks this every few seconds, under load too: the database picks the
        few rows and their four columns, rather than every published entry of the region
        being loaded as an object and filtered here."""
        now = self._clock()
        query = (select(KbEntry.entry_id, KbEntry.question, KbEntry.audio, KbEntry.uses)
                 .where(KbEntry.status == str(EntryStatus.PUBLISHED),
                        KbEntry.region_code == region, KbEntry.audio.is_not(None),
                        or_(KbEntry.valid_from.is_(None), KbEntry.valid_from <= now),
                        or_(KbEntry.valid_until.is_(None), KbEntry.valid_until > now))
                 .order_by(KbEntry.uses.desc(), KbEntry.published_at, KbEntry.entry_id)
                 .limit(size))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [{"entry_id": r.entry_id, "question": r.question, "audio": r.audio,
                 "uses": r.uses} for r in rows]

    async def department_report(self, *, since: datetime | None = None,
                                until: datetime | None = None) -> list[dict[str, Any]]:
        """Per department: entries by status, how many published ones are past their
        review date (freshness), and uses in the period (services/knowledge/reports.py)."""
        async with self._sessions() as session:
            return await department_report(session, self._clock(), since=since, until=until)

    # ---- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _check_department(editor: Editor, department: str) -> None:
        if editor.actor == Actor.DEPARTMENT and department != editor.department:
            raise NotYourEntry(f"department {editor.department} may not change entries of "
                               f"{department}", department=department)

    async def _entry(self, session: AsyncSession, entry_id: str, *, lock: bool = False) -> KbEntry:
        query = select(KbEntry).where(KbEntry.entry_id == entry_id)
        if lock:
            query = query.with_for_update()
        entry = await session.scalar(query)
        if entry is None:
            raise EntryNotFound(f"no knowledge-base entry {entry_id}"[:200], entry_id=entry_id)
        return entry

    async def _new_id(self, region: str) -> str:
        async with self._sessions() as session:
            n = int(await session.scalar(select(func.count()).select_from(KbEntry)) or 0)
        stamp = self._clock().strftime("%Y%m%d%H%M%S%f")
        return f"kb-{region}-{stamp}-{n + 1}"[:48]

    @staticmethod
    def _add_version(session: AsyncSession, entry: KbEntry, editor: Editor, now: datetime) -> None:
        session.add(KbVersion(entry_id=entry.entry_id, version=entry.version, actor=editor.name,
                              at=now, **{k: getattr(entry, k) for k in CONTENT}))

    @staticmethod
    async def _audit(session: AsyncSession, entry: KbEntry, editor: Editor, kind: str,
                     now: datetime, *, from_status: str | None = None,
                     to_status: str | None = None, note: str = "",
                     data: dict[str, Any] | None = None) -> None:
        # the next seq, read once per transaction and entry (the entry row is locked)
        seqs: dict[str, int] = session.info.setdefault("kb_audit_seq", {})
        if entry.entry_id not in seqs:
            seqs[entry.entry_id] = int(await session.scalar(
                select(func.coalesce(func.max(KbAudit.seq), 0)).where(
                    KbAudit.entry_id == entry.entry_id)) or 0)
        seqs[entry.entry_id] += 1
        seq = seqs[entry.entry_id]
        session.add(KbAudit(entry_id=entry.entry_id, seq=seq, kind=kind, actor=editor.name,
                            at=now, from_status=from_status, to_status=to_status, note=note,
                            data=data))

    async def _render(self, entry: KbEntry) -> str | None:
        if self._renderer is None:
            return entry.audio
        try:
            # the caller hears which question is answered, then the agreed answer
            return await asyncio.to_thread(self._renderer, entry.entry_id, entry.version,
                                           spoken_text(entry.question, entry.answer))
        except Exception as exc:  # noqa: BLE001 - no audio is no reason to refuse publishing
            log.warning("rendering entry %s's answer failed: %r", entry.entry_id, exc)
            return None


