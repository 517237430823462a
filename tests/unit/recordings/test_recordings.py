"""Recording rows, access, retention and the recorder's requests, without a switch: a real
SQLite database migrated to head, fake ARI clients."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.recordings.access import may_hear
from services.recordings.library import RecordingLibrary
from services.recordings.policy import PolicyError, RecordingPolicy
from services.recordings.store import RecordingStore
from services.work_orders import db
from telephony.calls.model import Call, CallState, Leg, LegRole, Notice
from telephony.recording import CallRecorder

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    await db.upgrade_async(url)
    engine = db.make_engine(url)
    yield RecordingStore(db.make_session_factory(engine), lambda: T0)
    await engine.dispose()


@dataclass
class Who:
    role: str
    site: str | None = None
    seat: str | None = None


def test_supervisors_of_the_site_and_agents_who_took_part_may_hear():
    assert may_hear(Who("supervisor"), "12345", ("1001",))
    assert may_hear(Who("supervisor", "12345"), "12345", ())
    assert not may_hear(Who("supervisor", "110"), "12345", ("1001",))
    assert may_hear(Who("agent_12345", "12345", "1001"), "12345", ("1001",))
    assert not may_hear(Who("agent_12345", "12345", "1002"), "12345", ("1001",))
    assert not may_hear(Who("agent_12345", "remote", "1001"), "12345", ("1001",))
    assert not may_hear(Who("ops"), "12345", ("1001",))
    assert not may_hear(Who("department"), "12345", ("1001",))


@pytest.mark.parametrize("raw", [{"enabled": "yes"}, {"retention_days": 0},
                                 {"retention_days": True}, {"announcement": "../../etc"},
                                 {"announcment": "typo"}])
def test_a_bad_site_policy_is_refused_with_what_to_fix(raw):
    with pytest.raises(PolicyError, match="sites.12345.recording"):
        RecordingPolicy.parse(raw, "sites.12345")


def test_a_site_policy_reads_its_three_settings():
    policy = RecordingPolicy.parse({"announcement": "hotline/recorded", "retention_days": 30},
                                   "sites.12345")
    assert policy == RecordingPolicy(True, "hotline/recorded", 30.0)
    assert policy.retention == timedelta(days=30)
    assert RecordingPolicy.parse(None, "sites.x") is None


async def test_rows_link_orders_and_seats_and_are_found_by_call_and_order(store):
    await store.started("rec-abc-00000001", "abc", "12345", "12345", "1001",
                        ["WO-1"], T0)
    await store.started("rec-abc-00000001", "abc", "12345", "12345", "1001",
                        ["WO-1"], T0)   # replayed: no second row
    await store.linked("rec-abc-00000001", "PO-1")
    await store.linked("rec-abc-00000001", "PO-1")
    await store.linked("rec-abc-00000001", seat="1003")
    await store.started("rec-def-00000002", "def", "110", "110", "2001", ["PO-1", "WO-1"], T0)
    await store.ended("rec-abc-00000001", T0 + timedelta(seconds=30))

    (info,) = await store.for_call("abc")
    assert info.order_ids == ("PO-1", "WO-1") and info.seats == ("1001", "1003")
    assert info.ended_at == T0 + timedelta(seconds=30)
    assert {i.recording_id for i in await store.for_order("PO-1")} == {
        "rec-abc-00000001", "rec-def-00000002"}
    assert await store.for_order("WO-9") == []
    joined = await store.recordings_of_calls(["abc", "def", "zzz"])
    assert set(joined) == {"abc", "def"}
    assert joined["def"][0]["order_ids"] == ["PO-1", "WO-1"]


async def test_retention_deletes_only_expired_audio_and_audits_each(store, tmp_path):
    folder = tmp_path / "12345"
    folder.mkdir()
    library = RecordingLibrary(lambda: store, str(tmp_path / "{site}"))
    for rid, ended in (("rec-old-00000001", T0 - timedelta(days=40)),
                       ("rec-new-00000002", T0 - timedelta(days=10))):
        await store.started(rid, rid[4:7], "12345", "12345", "1001", ["WO-1"], ended)
        await store.ended(rid, ended)
        (folder / f"{rid}.wav").write_bytes(b"RIFF")
    await store.started("rec-live-0000003", "liv", "12345", "12345", "1001", ["WO-1"],
                        T0 - timedelta(days=99))   # not ended: never deleted
    await store.audit("agent1001", "agent_12345", "listen", "rec-old-00000001", "old")

    expired = await store.expire({"12345": timedelta(days=30)}, library.delete)
    assert expired == ["rec-old-00000001"]
    assert not (folder / "rec-old-00000001.wav").exists()
    assert (folder / "rec-new-00000002.wav").exists()
    info = await store.get("rec-old-00000001")
    assert info.deleted_at == T0 and library.audio(info) is None
    trail = await store.audit_trail(recording_id="rec-old-00000001")
    assert [e["action"] for e in trail] == ["expired", "listen"]
    assert trail[0]["detail"] == {"site": "12345", "retention_days": 30, "file_existed": True}
    assert await store.expire({"12345": timedelta(days=30)}, library.delete) == []


def test_the_library_never_reads_a_path_a_name_could_escape_to(tmp_path):
    library = RecordingLibrary(lambda: None, str(tmp_path / "{site}"))
    (tmp_path / "x").mkdir()
    (tmp_path / "secret.wav").write_bytes(b"x")
    assert library.path("x", "../secret.wav") is None
    assert library.path("x", ".hidden") is None
    assert RecordingLibrary(lambda: None, None).path("x", "a.wav") is None


class FakeAri:
    def __init__(self):
        self.requests: list[tuple] = []

    async def play_bridge(self, bridge_id, media, playback_id):
        self.requests.append(("play", bridge_id, media))

    async def record_bridge(self, bridge_id, name):
        self.requests.append(("record", bridge_id, name))


def _call(**kw) -> Call:
    base = dict(id="c1", site="12345", platform="12345", citizen_number="13800138000",
                citizen_leg=Leg("cit", LegRole.CITIZEN), order_id="WO-1", linked_order_id="PO-1",
                state=CallState.CONNECTED, bridge_id="c1-b",
                agent_leg=Leg("c1-s1", LegRole.AGENT, "1001"))
    return Call(**{**base, **kw})


async def test_the_recorder_records_the_bridge_with_the_announcement_and_links_on_handover(
        store):
    ari = FakeAri()
    recorder = CallRecorder({"12345": ari}, {"12345": RecordingPolicy(True, "hotline/recorded")},
                            lambda: store, lambda: T0)
    runner = asyncio.create_task(recorder.run())
    call = _call()
    recorder.notice(call, Notice.SEAT_ANSWERED, {"seat": "1001"})
    rid = recorder.recording_of("c1")
    recorder.notice(call, Notice.SEAT_ANSWERED, {"seat": "1004"})   # same bridge, new seat
    recorder.notice(call, Notice.TRANSFER_COMPLETED, {"mode": "handover"})
    recorder.notice(call, Notice.CALL_ENDED, {})
    for _ in range(100):
        await asyncio.sleep(0.01)
        info = await store.get(rid)
        if info and info.ended_at:
            break
    runner.cancel()
    assert ari.requests == [("record", "c1-b", rid),
                            ("play", "c1-b", "sound:hotline/recorded")]
    assert info.order_ids == ("PO-1", "WO-1") and info.seats == ("1001", "1004")
    assert recorder.recording_of("c1") is None


async def test_a_site_that_does_not_record_sends_nothing(store):
    ari = FakeAri()
    recorder = CallRecorder({"12345": ari}, {"12345": RecordingPolicy(enabled=False)},
                            lambda: store, lambda: T0)
    recorder.notice(_call(), Notice.SEAT_ANSWERED, {"seat": "1001"})
    await asyncio.sleep(0.01)
    assert ari.requests == [] and recorder.recording_of("c1") is None


def test_a_bridges_parties_leave_out_the_recorder_and_announcer():
    from telephony.lab.bridges import parties

    names = {"a": "PJSIP/citizen-gw-00000001", "b": "PJSIP/1001-00000002",
             "r": "Recorder/ARI-00000003;1", "n": "Announcer/ARI-00000004;1"}
    assert parties({"channels": ["a", "r", "b", "n", "gone"]}, names) == ["a", "b"]
