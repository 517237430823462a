import io

import pytest

from services.knowledge.errors import (
    EntryNotFound,
    IllegalEntryTransition,
    InvalidEntry,
    NotYourEntry,
)
from services.knowledge.exchange import read_jsonl, seed_records, write_jsonl
from services.knowledge.service import Editor
from tests.unit.knowledge.conftest import HOUSING, HRSS, SUP, entry


async def publish(kb, entry_id):
    await kb.move(HOUSING, entry_id, "in_review")
    return await kb.move(SUP, entry_id, "published")


async def test_given_a_department_draft_when_submitted_and_published_then_audio_is_rendered(
        kb, rendered):
    made = await kb.create(HOUSING, entry())
    assert (made["status"], made["version"]) == ("draft", 1)
    published = await publish(kb, made["entry_id"])
    assert published["status"] == "published"
    assert published["audio"] == f"hotline/kb/{made['entry_id']}-v1"
    assert rendered == [(made["entry_id"], 1, "物业不作为怎么投诉。" + entry()["answer"])]


async def test_a_department_may_not_publish_its_own_entry(kb):
    made = await kb.create(HOUSING, entry())
    await kb.move(HOUSING, made["entry_id"], "in_review")
    with pytest.raises(NotYourEntry):
        await kb.move(HOUSING, made["entry_id"], "published")


async def test_a_department_touches_only_its_own_entries(kb):
    made = await kb.create(HOUSING, entry())
    with pytest.raises(NotYourEntry):
        await kb.update(HRSS, made["entry_id"], {"answer": "别的口径"})
    with pytest.raises(NotYourEntry):
        await kb.move(HRSS, made["entry_id"], "in_review")
    with pytest.raises(NotYourEntry):
        await kb.create(HRSS, entry())
    with pytest.raises(NotYourEntry):
        await kb.update(HOUSING, made["entry_id"], {"department": "hrss"})


async def test_ops_and_agents_cannot_edit(kb):
    with pytest.raises(NotYourEntry):
        await kb.create(Editor("ops", "ops"), entry())


async def test_every_edit_is_a_version_and_the_history_keeps_the_old_text(kb, clock):
    made = await kb.create(HOUSING, entry())
    clock.advance(minutes=5)
    await kb.update(HOUSING, made["entry_id"], {"answer": "新的口径"}, note="政策调整")
    full = await kb.get(made["entry_id"], history=True)
    assert [v["answer"] for v in full["versions"]] == [entry()["answer"], "新的口径"]
    assert [a["kind"] for a in full["audit"]] == ["created", "edited"]
    assert full["audit"][1]["note"] == "政策调整"
    assert full["audit"][1]["data"] == {"fields": ["answer"]}


async def test_a_published_entry_is_reopened_before_it_is_edited(kb):
    made = await kb.create(HOUSING, entry())
    await publish(kb, made["entry_id"])
    with pytest.raises(IllegalEntryTransition):
        await kb.update(HOUSING, made["entry_id"], {"answer": "改"})
    await kb.move(HOUSING, made["entry_id"], "draft")
    edited = await kb.update(HOUSING, made["entry_id"], {"answer": "改"})
    assert (edited["status"], edited["version"]) == ("draft", 2)


async def test_bad_content_is_refused_with_what_is_wrong(kb):
    with pytest.raises(InvalidEntry, match="missing: answer"):
        await kb.create(SUP, {k: v for k, v in entry().items() if k != "answer"})
    with pytest.raises(InvalidEntry, match="valid_until"):
        await kb.create(SUP, entry(valid_from="2027-01-01", valid_until="2026-01-01"))
    with pytest.raises(InvalidEntry, match="ISO"):
        await kb.create(SUP, entry(review_at="next spring"))
    with pytest.raises(EntryNotFound):
        await kb.get("kb-nope")


async def test_uses_are_counted_for_published_entries_only(kb):
    made = await kb.create(HOUSING, entry())
    with pytest.raises(NotYourEntry):
        await kb.record_use(made["entry_id"], actor="api:agent1001")
    await publish(kb, made["entry_id"])
    await kb.record_use(made["entry_id"], actor="api:agent1001", order_id="WO-1")
    used = await kb.record_use(made["entry_id"], actor="api:agent1002")
    assert used["uses"] == 2


async def test_import_export_round_trip_keeps_every_entry_and_status(kb, tmp_path):
    records = [
        {**entry(), "entry_id": "kb-a", "topic": "T1", "status": "published"},
        {**entry(question="公租房怎么申请？"), "entry_id": "kb-b", "topic": "T2",
         "status": "in_review"},
        {**entry(question="旧口径"), "entry_id": "kb-c", "topic": None, "status": "retired"},
    ]
    assert await kb.import_records(records) == {"created": 3, "updated": 0, "unchanged": 0}
    out = io.StringIO()
    write_jsonl(await kb.export_records(), out)
    again = list(read_jsonl(io.StringIO(out.getvalue())))
    assert [(r["entry_id"], r["status"], r["question"]) for r in again] == [
        (r["entry_id"], r["status"], r["question"]) for r in records]
    assert await kb.import_records(again) == {"created": 0, "updated": 0, "unchanged": 3}
    changed = [{**again[0], "answer": "新口径"}, again[1], again[2]]
    assert await kb.import_records(changed) == {"created": 0, "updated": 1, "unchanged": 2}
    back = await kb.get("kb-a", history=True)
    assert (back["status"], back["answer"], back["version"]) == ("published", "新口径", 2)


async def test_a_bad_import_line_is_named(kb):
    with pytest.raises(InvalidEntry, match="line 2"):
        list(read_jsonl(io.StringIO('{"a": 1}\nnot json\n')))
    with pytest.raises(InvalidEntry, match="record 1"):
        await kb.import_records([{**entry(), "status": "live"}])


def test_the_seed_knowledge_base_is_large_plain_and_one_entry_per_topic():
    records = seed_records()
    assert len(records) >= 150
    topics = [r["topic"] for r in records]
    assert len(set(topics)) == len(topics)
    assert all(r["status"] == "published" and r["region_code"] == "410300" for r in records)
    assert all(len(r["answer"]) >= 20 for r in records)


async def test_faq_menu_is_the_regions_most_used_entries_with_audio(kb):
    ids = []
    for n in range(4):
        made = await kb.create(HOUSING, entry(question=f"问题{n}"))
        await publish(kb, made["entry_id"])
        ids.append(made["entry_id"])
    other = await kb.create(HOUSING, entry(region_code="410100"))
    await publish(kb, other["entry_id"])
    for _ in range(3):
        await kb.record_use(ids[2], actor="a")
        await kb.record_use(other["entry_id"], actor="a")
    await kb.record_use(ids[1], actor="a")
    played = await kb.record_use(ids[0], actor="ivr", channel="ivr", outcome="callback")
    assert played["uses"] == 1
    with pytest.raises(InvalidEntry):
        await kb.record_use(ids[0], actor="ivr", channel="ivr", outcome="hung up")
    menu = await kb.faq_menu("410300", size=3)
    assert [m["entry_id"] for m in menu] == [ids[2], ids[0], ids[1]]
    assert all(m["audio"] for m in menu)
    housing = (await kb.department_report())[0]
    assert housing["ivr_outcomes"] == {"callback": 1}


async def test_faq_menu_leaves_out_entries_not_valid_now_and_keeps_to_its_size(kb, clock):
    """The clock stands at 2026-12-01: an entry valid from next year, and one that ended
    last year, are not offered to callers however often they were used."""
    future = await kb.create(HOUSING, entry(question="明年的政策", valid_from="2027-01-01"))
    ended = await kb.create(HOUSING, entry(question="去年的政策", valid_until="2026-01-01"))
    live = []
    for n in range(4):
        made = await kb.create(HOUSING, entry(question=f"现行{n}", valid_from="2026-01-01",
                                              valid_until="2027-12-31"))
        live.append(made["entry_id"])
    for made in (future["entry_id"], ended["entry_id"], *live):
        await publish(kb, made)
    for made in (future["entry_id"], ended["entry_id"]):
        for _ in range(3):
            await kb.record_use(made, actor="a")
    await kb.record_use(live[3], actor="a")
    menu = await kb.faq_menu("410300", size=2)
    assert [m["entry_id"] for m in menu] == [live[3], live[0]]


async def test_department_report_gives_freshness_and_usage(kb, clock):
    fresh = await kb.create(HOUSING, entry(review_at="2027-06-30"))
    stale = await kb.create(HOUSING, entry(review_at="2026-12-01T08:00:00+00:00"))
    hr = await kb.create(HRSS, entry(department="hrss", category="labour"))
    for made in (fresh, stale):
        await publish(kb, made["entry_id"])
    await kb.record_use(fresh["entry_id"], actor="a")
    rows = {r["department"]: r for r in await kb.department_report()}
    assert rows["housing"]["published"] == 2
    assert rows["housing"]["past_review"] == 1
    assert rows["housing"]["stale_share"] == 0.5
    assert rows["housing"]["uses"] == 1
    assert rows["hrss"]["by_status"]["draft"] == 1 and rows["hrss"]["stale_share"] is None
    assert hr["status"] == "draft"


async def test_search_sees_changes_made_elsewhere_after_the_index_ages(kb, clock):
    made = await kb.create(HOUSING, entry())
    await publish(kb, made["entry_id"])
    assert [h.entry["entry_id"] for h in await kb.search("物业")] == [made["entry_id"]]
    # another process (hotline kb import) publishes an entry: not seen until the index ages
    other = type(kb)(kb._sessions, clock=clock)
    await other.import_records([{**entry(question="公租房怎么申请", answer="向街道申请公租房。"),
                                 "entry_id": "kb-other", "status": "published"}])
    assert await kb.search("公租房") == []
    clock.advance(minutes=6)
    assert [h.entry["entry_id"] for h in await kb.search("公租房")] == ["kb-other"]


async def test_an_entry_outside_its_validity_period_is_not_found(kb):
    await kb.import_records([{**entry(valid_until="2026-11-30"), "entry_id": "kb-old",
                              "status": "published"}])
    assert await kb.search("物业") == []
