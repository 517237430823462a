"""Transfers and three-ways as resources: the machine's requests (pure), the book that
follows them (records, events, bounded memory) and the controller's desk that posts the
API's requests on a call's queue (a real CallController on a fake switch)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.api.event_schemas import SCHEMAS
from services.errors import DomainError
from telephony.calls import transfers as tr
from telephony.calls.controller import CallRunner
from telephony.calls.journal import Observers
from telephony.calls.model import (
    HangupLeg,
    KeyPressed,
    LegHungUp,
    RingSeat,
    RingTarget,
    StartRingback,
    TargetAnswered,
    TargetFailed,
    TransferMode,
)
from telephony.desk import allowed_actions
from telephony.transfers import ControllerTransfers, TransferBook

from .test_commands import FakeSwitch, controller
from .test_machine import S, actions, connected, notices, run


def api_request(call, mode=TransferMode.HANDOVER, flow="warm", timeout_s=None, line=None,
                transfer_id="x1"):
    kind = tr.kind_of(mode)
    return tr.TransferRequested(call.agent_leg.id, tr.Transfer(transfer_id, kind, flow,
                                                               timeout_s, "api"), mode, line)


# ---- the machine ------------------------------------------------------------------------------
def test_an_api_transfer_rings_as_star1_does_with_its_own_timeout():
    by_key, [key_cmds] = run(connected(), KeyPressed("c1-s1", "*1"))
    call, [cmds] = run(connected(), api_request(connected(), timeout_s=45))
    (ring,) = actions(cmds)
    (key_ring,) = actions(key_cmds)
    assert ring == RingTarget(**{**vars(key_ring), "timeout_s": 45})
    assert call.state is by_key.state is S.TRANSFER_RINGING
    assert call.transfer == tr.Transfer("x1", "transfer", "warm", 45, "api")
    assert by_key.transfer == tr.Transfer("c1-t2", "transfer", "warm", None, "key")
    assert notices(cmds)[0][1]["transfer_id"] == "x1"


def test_a_transfers_flow_overrides_the_sites_for_that_transfer_only():
    blind, [cmds] = run(connected(), api_request(connected(), flow="blind"))
    assert blind.state is S.BLIND_RINGING and HangupLeg("c1-s1") in cmds
    warm, _ = run(connected(blind_transfer=True), api_request(connected(), flow="warm"))
    assert warm.state is S.TRANSFER_RINGING and warm.agent_leg is not None
    # the next key press follows the site's setting again
    back, _ = run(connected(blind_transfer=True), KeyPressed("c1-s1", "*1"))
    assert back.state is S.BLIND_RINGING


def test_an_api_line_transfer_takes_the_suggested_line_when_none_is_given():
    call = connected(suggested_line="119")
    _, [cmds] = run(call, api_request(call, TransferMode.LINE))
    assert actions(cmds)[0].line == "119"
    _, [cmds] = run(connected(), api_request(connected(), TransferMode.LINE))
    assert notices(cmds) == [("transfer_refused", {
        "transfer_id": "x1", "state": "connected", "why": "no line given and no suggested line"})]


def test_a_request_while_a_transfer_runs_is_refused_and_changes_nothing():
    ringing, _ = run(connected(), KeyPressed("c1-s1", "*1"))
    call, [cmds] = run(ringing, api_request(connected(), transfer_id="x2"))
    assert call == ringing and actions(cmds) == ()   # no tone: nobody pressed a key
    assert notices(cmds)[0][1]["why"] == "a transfer or three-way is already running"


def test_completing_a_warm_transfer_releases_the_agent_and_keeps_the_seat_for_a_return():
    ringing, _ = run(connected(), api_request(connected()))
    call, [cmds] = run(ringing, tr.TransferCompleteRequested("x1"))
    assert call.state is S.BLIND_RINGING and call.reserved_seat == "1001"
    assert actions(cmds) == (HangupLeg("c1-s1"), StartRingback("chan-citizen"))
    assert call.transfer.flow == "blind"
    back, [cmds] = run(call, TargetFailed("c1-t2", "busy"))
    assert back.state is S.RINGING_SEAT and back.ringing_leg.seat == "1001"
    # a stale id or a state with nothing to complete: refused, unchanged
    assert run(ringing, tr.TransferCompleteRequested("zz"))[0] == ringing
    assert run(connected(), tr.TransferCompleteRequested("x1"))[0] == connected()


def test_cancelling_a_blind_transfer_rings_the_agent_back():
    ringing, _ = run(connected(), api_request(connected(), flow="blind"))
    call, [cmds] = run(ringing, tr.TransferCancelRequested("x1"))
    assert call.state is S.RINGING_SEAT and call.target_leg is None
    assert actions(cmds)[0] == HangupLeg("c1-t2")
    assert isinstance(actions(cmds)[1], RingSeat) and actions(cmds)[1].seat == "1001"
    assert [kind for kind, _ in notices(cmds)] == ["transfer_cancelled"]


def test_allowed_actions_stay_truthful_for_api_started_transfers():
    ringing, _ = run(connected(), api_request(connected()))
    assert allowed_actions(ringing) == ["cancel"]
    joined, _ = run(connected(), api_request(connected(), TransferMode.THREE_WAY),
                    TargetAnswered("c1-t2"))
    assert allowed_actions(joined) == ["hand_over", "keep", "cancel"]


# ---- the book -----------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def follow(book: TransferBook, call, *events):
    """Step the machine and tell the book what the call's runner would."""
    for event in events:
        call, [cmds] = run(call, event)
        for kind, detail in notices(cmds):
            book.notice(call, kind, detail)
    return call


def event_problems(event: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator({"components": {"schemas": SCHEMAS},
                                      "$ref": "#/components/schemas/Event"})
    return [e.message for e in validator.iter_errors(event)]


def test_a_key_press_makes_a_record_that_follows_the_call_and_is_published():
    published: list[dict] = []
    book = TransferBook(published.append)
    follow(book, connected(), KeyPressed("c1-s1", "*1"), TargetAnswered("c1-t2"))
    record = book.get("c1-t2")
    assert record["via"] == "key" and record["status"] == "completed"
    assert record["taken_by"] == "110" and record["agent_released"] is True
    assert [e["type"] for e in published] == ["transfer_created", "transfer_ended"]
    assert published[0]["transfer"]["status"] == "ringing"
    for event in published:
        assert event_problems(event) == [], event


@pytest.mark.parametrize("events, status, reason", [
    ((KeyPressed("c1-s1", "*1"), TargetFailed("c1-t2", "busy")), "failed", "busy"),
    ((KeyPressed("c1-s1", "*1"), KeyPressed("c1-s1", "*0")), "cancelled", None),
    ((KeyPressed("c1-s1", "*1"), LegHungUp("chan-citizen")), "ended", "call_ended"),
    ((KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"), KeyPressed("c1-s1", "*3")),
     "completed", None),
    ((KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"), KeyPressed("c1-s1", "*4")),
     "kept", None),
    ((KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"), LegHungUp("c1-t2")),
     "ended", "target_left"),
    ((KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"), LegHungUp("c1-s1")),
     "ended", "agent_left"),
])
def test_a_records_status_follows_the_machine(events, status, reason):
    published: list[dict] = []
    book = TransferBook(published.append)
    follow(book, connected(), *events)
    record = book.get("c1-t2")
    assert (record["status"], record["reason"]) == (status, reason)
    assert published[-1]["type"] == "transfer_ended" and record["ended_at"]
    assert all(event_problems(e) == [] for e in published)


def test_a_three_way_is_answered_before_it_ends():
    published: list[dict] = []
    book = TransferBook(published.append)
    follow(book, connected(), KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"))
    assert book.get("c1-t2")["status"] == "answered" and book.get("c1-t2")["flow"] is None
    assert [e["type"] for e in published] == ["transfer_created", "transfer_updated"]


def test_ended_records_are_kept_for_a_while_and_in_bounded_number():
    clock = Clock()
    book = TransferBook(lambda e: None, keep=3, keep_s=60.0, monotonic=clock)
    call = connected()
    for _ in range(5):   # five transfers tried and failed on one call, one after the other
        call = follow(book, call, KeyPressed("c1-s1", "*1"),
                      TargetFailed(call.next_leg_id("t"), "busy"))
    kept = [r["transfer_id"] for r in book.records()]
    assert kept == ["c1-t4", "c1-t5", "c1-t6"]   # the oldest went first
    live = follow(book, call, KeyPressed("c1-s1", "*1"))
    clock.now = 61.0
    assert [r["status"] for r in book.records()] == ["ringing"]   # a live one stays
    assert book.live_for("c1")["transfer_id"] == live.transfer.id


def test_ended_records_go_when_their_own_time_is_up_and_not_before():
    clock = Clock()
    book = TransferBook(lambda e: None, keep=10, keep_s=60.0, monotonic=clock)
    call = connected()
    for at in (0.0, 30.0):   # two transfers tried and failed, 30 s apart
        clock.now = at
        call = follow(book, call, KeyPressed("c1-s1", "*1"),
                      TargetFailed(call.next_leg_id("t"), "busy"))
    clock.now = 61.0   # the first ended 61 s ago, the second 31 s ago
    assert [r["transfer_id"] for r in book.records()] == ["c1-t3"]
    clock.now = 91.0
    assert book.records() == []


# ---- the controller's desk ------------------------------------------------------------------------
def desk_with_call(call=None, site_up=lambda site: True):
    switch = FakeSwitch()
    book = TransferBook(lambda e: None)
    calls, _ = controller(switch, Observers(book), site_up=site_up)
    call = call or connected()
    calls._start(CallRunner(call))
    return ControllerTransfers(calls, book, frozenset({"119", "power"}), wait_s=2.0), calls, \
        switch


async def test_the_desk_starts_a_transfer_and_answers_with_the_ringing_record():
    desk, calls, switch = desk_with_call()
    record = await desk.start("c1", "transfer", "platform", flow="warm", timeout_s=30)
    assert record["status"] == "ringing" and record["via"] == "api"
    assert record["timeout_s"] == 30 and record["target"] == {"type": "platform", "line": None}
    ring = next(step for step in switch.done if step[0] == "ring")
    assert ring[-1] == 30   # the transfer's own timeout reaches the switch
    with pytest.raises(DomainError) as refused:
        await desk.start("c1", "three_way", "platform")
    assert refused.value.status == 409 and refused.value.error_id == "transfer_running"
    assert refused.value.details["transfer_id"] == record["transfer_id"]
    await calls.close()


async def test_the_desk_refuses_unknown_calls_and_lines():
    desk, calls, _ = desk_with_call()
    with pytest.raises(DomainError) as gone:
        await desk.start("nope", "transfer", "platform")
    assert gone.value.status == 404
    with pytest.raises(DomainError) as line:
        await desk.start("c1", "transfer", "line", line="999")
    assert line.value.status == 422 and line.value.error_id == "unknown_line"
    await calls.close()


async def test_deleting_a_ringing_transfer_presses_star0_and_ends_it_cancelled():
    desk, calls, switch = desk_with_call()
    record = await desk.start("c1", "transfer", "platform")
    cancelled, settled = await desk.cancel(record["transfer_id"])
    assert settled and cancelled["status"] == "cancelled"
    assert ("hangup", "c1-t2", "normal") in switch.done
    assert calls.call("c1").state is S.CONNECTED
    with pytest.raises(DomainError) as again:
        await desk.cancel(record["transfer_id"])
    assert again.value.error_id == "transfer_ended"
    await calls.close()


async def test_completing_a_warm_transfer_releases_the_agent_and_a_blind_cancel_rings_back():
    desk, calls, _ = desk_with_call()
    record = await desk.start("c1", "transfer", "platform")
    released, settled = await desk.complete(record["transfer_id"])
    assert settled and released["agent_released"] and released["flow"] == "blind"
    assert released["status"] == "ringing"
    cancelled, _ = await desk.cancel(record["transfer_id"])
    assert cancelled["status"] == "cancelled"
    assert calls.call("c1").state is S.RINGING_SEAT
    await calls.close()


async def test_a_three_way_is_kept_or_handed_over_by_the_same_keys():
    desk, calls, _ = desk_with_call()
    record = await desk.start("c1", "three_way", "platform")
    with pytest.raises(DomainError) as early:   # not answered yet: *3 would be refused
        await desk.complete(record["transfer_id"])
    assert early.value.error_id == "action_not_allowed"
    calls._post("c1", TargetAnswered(calls.call("c1").target_leg.id))
    await asyncio.sleep(0.01)
    kept, _ = await desk.keep(record["transfer_id"])
    assert kept["status"] == "kept" and kept["taken_by"] == "12345"
    again = await desk.start("c1", "three_way", "platform")
    calls._post("c1", TargetAnswered(calls.call("c1").target_leg.id))
    await asyncio.sleep(0.01)
    done, _ = await desk.complete(again["transfer_id"])
    assert done["status"] == "completed" and done["taken_by"] == "110"
    await calls.close()


async def test_a_transfer_to_a_site_that_is_down_is_created_then_fails():
    desk, calls, _ = desk_with_call(site_up=lambda site: False)
    record = await desk.start("c1", "transfer", "platform")
    assert record["status"] == "ringing"
    await asyncio.sleep(0.01)
    assert desk.get(record["transfer_id"])["status"] == "failed"
    assert desk.get(record["transfer_id"])["reason"] == "site_down"
    assert calls.call("c1").state is S.CONNECTED
    await calls.close()


async def test_a_request_the_call_never_acts_on_leaves_no_waiter_behind():
    desk, calls, _ = desk_with_call()
    desk._wait_s = 0.05
    calls.request = lambda call_id, event: True   # the call's runner never sees it
    with pytest.raises(DomainError) as late:
        await desk.start("c1", "transfer", "platform")
    assert late.value.status == 503
    assert desk._book._waiters == {}
    await calls.close()
