"""Listen-in, whisper and barge against a fake switch: which requests each mode makes,
what is refused, and that every session is audited."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.errors import DomainError
from telephony.ari.calls import StasisStart, _channel, to_signal
from telephony.calls.model import Call, CallState, Leg, LegRole, Notice
from telephony.supervision import SupervisionDesk, SupervisionLeg

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class FakeAri:
    def __init__(self):
        self.requests: list[tuple] = []

    async def originate(self, endpoint, **kw):
        self.requests.append(("originate", endpoint, kw["channel_id"], kw["app_args"]))

    async def create_bridge(self, bridge_id, name=""):
        self.requests.append(("bridge", bridge_id))

    async def add_to_bridge(self, bridge_id, *channels):
        self.requests.append(("add", bridge_id, *channels))

    async def snoop(self, channel_id, *, spy, whisper, app, app_args, snoop_id):
        self.requests.append(("snoop", channel_id, spy, whisper, snoop_id))

    async def hangup(self, channel_id, reason="normal"):
        self.requests.append(("hangup", channel_id))

    async def destroy_bridge(self, bridge_id):
        self.requests.append(("destroy", bridge_id))


class FakeStore:
    def __init__(self):
        self.lines: list[tuple] = []

    async def audit(self, actor, role, action, recording_id, call_id, **detail):
        self.lines.append((actor, action, call_id, detail["mode"], detail["seat"]))


CALL = Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
            citizen_leg=Leg("cit", LegRole.CITIZEN), order_id="WO-1", linked_order_id="PO-1",
            state=CallState.CONNECTED, bridge_id="c1-b",
            agent_leg=Leg("c1-s1", LegRole.AGENT, "1001"))


def desk(call: Call | None = CALL):
    ari, store, events = FakeAri(), FakeStore(), []
    return SupervisionDesk({"12345": ari}, "hotline", {"12345": ("1091", "1092")},
                           lambda cid: call if call and cid == call.id else None,
                           lambda: store, events.append), ari, store, events


@pytest.mark.parametrize("mode, whisper", [("listen", "none"), ("whisper", "out")])
async def test_listen_and_whisper_join_a_snoop_on_the_agent_never_the_calls_bridge(mode, whisper):
    d, ari, store, events = desk()
    session = await d.start("c1", mode, "1091", "supervisor12345", "supervisor")
    sid = session["session_id"]
    sup, snoop = f"{sid}-sup", f"{sid}-snoop"
    await d.entered("12345", SupervisionLeg(sup, sid, "supervisor"))
    await d.entered("12345", SupervisionLeg(snoop, sid, "snoop"))
    assert ari.requests == [
        ("originate", "PJSIP/1091", sup, f"supervision,{sid}"), ("bridge", f"{sid}-b"),
        ("add", f"{sid}-b", sup), ("snoop", "c1-s1", "both", whisper, snoop),
        ("add", f"{sid}-b", snoop)]
    assert not any(r[0] == "add" and r[1] == "c1-b" for r in ari.requests)
    assert events[-1]["type"] == "supervision_joined" and events[-1]["roles"] == [
        "supervisor", "ops"]
    assert d.owns(sup) and d.owns(snoop)
    await d.gone(snoop)   # the agent's leg went: the session ends, the supervisor is hung up
    assert ("hangup", sup) in ari.requests and ("destroy", f"{sid}-b") in ari.requests
    assert [line[1] for line in store.lines] == ["supervision_started", "supervision_ended"]
    assert d.sessions() == [] and not d.owns(sup)


async def test_barge_joins_the_calls_bridge_and_a_call_end_takes_the_session_along():
    d, ari, store, _ = desk()
    sid = (await d.start("c1", "barge", "1092", "supervisor", "supervisor"))["session_id"]
    await d.entered("12345", SupervisionLeg(f"{sid}-sup", sid, "supervisor"))
    assert ari.requests[-1] == ("add", "c1-b", f"{sid}-sup")
    d.notice(CALL, Notice.CALL_ENDED, {})
    for _ in range(20):
        await asyncio.sleep(0)
    assert ("hangup", f"{sid}-sup") in ari.requests
    assert [line[1] for line in store.lines] == ["supervision_started", "supervision_ended"]


@pytest.mark.parametrize("call, mode, seat, error_id", [
    (None, "listen", "1091", "call_not_found"),
    (CALL, "listen", "1001", "not_a_supervisor_seat"),     # a citizen's seat
    (CALL, "eavesdrop", "1091", "bad_mode"),
    (Call(id="c1", site="12345", platform="12345", citizen_number="1",
          citizen_leg=Leg("cit", LegRole.CITIZEN), order_id="WO-1", linked_order_id="PO-1",
          state=CallState.WAITING), "listen", "1091", "call_not_answered"),
])
async def test_what_cannot_be_supervised_is_refused_with_its_reason(call, mode, seat, error_id):
    d, ari, store, _ = desk(call)
    with pytest.raises(DomainError) as refused:
        await d.start("c1", mode, seat, "supervisor", "supervisor")
    assert refused.value.error_id == error_id
    assert ari.requests == [] and store.lines == []


async def test_one_seat_supervises_one_call_at_a_time():
    d, _, _, _ = desk()
    await d.start("c1", "listen", "1091", "supervisor", "supervisor")
    with pytest.raises(DomainError, match="already"):
        await d.start("c1", "whisper", "1091", "supervisor", "supervisor")


def test_supervision_legs_are_not_call_controls():
    raw = {"id": "sv1-snoop", "name": "Snoop/x", "caller": {}, "dialplan": {}}
    assert to_signal(StasisStart(_channel(raw), ("supervision", "sv1", "snoop"))) == \
        SupervisionLeg("sv1-snoop", "sv1", "snoop")
    assert to_signal(StasisStart(_channel({**raw, "id": "sv1-sup"}), ("supervision", "sv1"))) == \
        SupervisionLeg("sv1-sup", "sv1", "supervisor")
