"""One call's log row from its steps: outcomes, waits, legs and who hung up."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.call_log.record import Arrival, End, Step, summarize

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def arrival(via_trunk: bool = False) -> Arrival:
    return Arrival("c1", "12345", "12345", "12345", via_trunk, "13800138000",
                   "WO-20261201-000001", "PO-20261201-000001", T0)


def test_answered_call_has_its_wait_seat_handling_time_and_who_hung_up():
    row = summarize(arrival(), [Step("seat_answered", at(4.5), "1001")],
                    End(at(64.5), "citizen", "connected", "12345"))
    assert row["outcome"] == "answered"
    assert (row["wait_s"], row["handled_s"], row["seat"]) == (4.5, 60.0, "1001")
    assert row["ended_by"] == "citizen" and row["taken_by"] == "12345"
    assert row["legs"] == [{"seat": "1001", "answered_at": at(4.5).isoformat(),
                            "left_at": at(64.5).isoformat(), "outcome": "ended"}]


def test_abandoned_call_waited_until_the_citizen_left():
    row = summarize(arrival(), [Step("abandoned", at(12), detail={"waited_s": 12})],
                    End(at(12), "citizen", "waiting"))
    assert (row["outcome"], row["wait_s"], row["handled_s"], row["answered_at"]) == (
        "abandoned", 12.0, None, None)


def test_a_callback_request_is_not_an_abandonment_outcome():
    row = summarize(arrival(), [Step("callback_requested", at(30))], End(at(33), "citizen",
                                                                       "waiting"))
    assert row["outcome"] == "callback"


def test_a_failed_seat_then_another_seat():
    row = summarize(arrival(), [Step("seat_failed", at(5), "1001", {"reason": "busy"}),
                                Step("seat_answered", at(8), "1002")],
                    End(at(20), "agent", "connected"))
    assert row["seat"] == "1002" and row["wait_s"] == 8.0 and row["ended_by"] == "agent"
    assert [(leg["seat"], leg["outcome"]) for leg in row["legs"]] == [("1001", "busy"),
                                                                      ("1002", "ended")]


def test_handed_over_with_star1_the_agent_is_released_at_the_target_answer():
    row = summarize(arrival(), [
        Step("seat_answered", at(2), "1001"),
        Step("transfer_started", at(10), "1001", {"mode": "handover", "line": None}),
        Step("transfer_completed", at(13), None, {"mode": "handover", "taken_by": "110"}),
    ], End(at(40), "citizen", "handed_over", "110"))
    assert row["outcome"] == "handed_over" and row["taken_by"] == "110"
    assert row["legs"][0]["outcome"] == "released"
    assert row["legs"][0]["left_at"] == at(13).isoformat()
    [transfer] = row["transfers"]
    assert (transfer["mode"], transfer["outcome"], transfer["by_seat"]) == (
        "handover", "completed", "1001")
    assert transfer["answered_at"] == at(13).isoformat()


def test_failed_transfer_keeps_the_call_answered_here_with_the_reason():
    row = summarize(arrival(), [
        Step("seat_answered", at(2), "1006"),
        Step("transfer_started", at(5), "1006", {"mode": "handover"}),
        Step("transfer_failed", at(6), None, {"reason": "busy", "mode": "handover"}),
    ], End(at(15), "citizen", "connected", "12345"))
    assert row["outcome"] == "transfer_failed"
    assert [(t["outcome"], t["reason"]) for t in row["transfers"]] == [("failed", "busy")]


@pytest.mark.parametrize("steps, outcome, transfer", [
    ([Step("negotiated", at(9), "1005", {"key": "*4", "taken_by": "12345"})],
     "three_way_kept", "kept"),
    ([Step("negotiated", at(9), "1005", {"key": "*3", "taken_by": "110"})],
     "handed_over", "handed_over"),
    ([], "three_way_unagreed", "unagreed"),
    ([Step("three_way_cancelled", at(9), None, {"key": "*0"})], "answered", "cancelled"),
])
def test_three_way_outcomes(steps, outcome, transfer):
    row = summarize(arrival(), [
        Step("seat_answered", at(1), "1005"),
        Step("transfer_started", at(3), "1005", {"mode": "three_way"}),
        Step("three_way_joined", at(5)), *steps,
    ], End(at(20), "citizen", "connected"))
    assert row["outcome"] == outcome
    assert row["transfers"][0]["outcome"] == transfer


def test_a_hand_over_arrival_nobody_took_is_refused_or_unanswered():
    refused = summarize(arrival(via_trunk=True), [Step("handover_refused", at(0.1),
                                                        detail={"reason": "busy"})],
                        End(at(0.1), "system", "refused"))
    assert refused["outcome"] == "refused"
    unanswered = summarize(arrival(via_trunk=True), [], End(at(3), "target", "waiting"))
    assert unanswered["outcome"] == "unanswered"


def test_a_live_call_has_no_outcome_yet_and_steps_in_any_order_give_one_row():
    steps = [Step("transfer_started", at(5), "1001", {"mode": "handover"}),
             Step("seat_answered", at(2), "1001")]
    row = summarize(arrival(), steps, None)
    assert row["outcome"] == "live" and row["handled_s"] is None and row["wait_s"] == 2.0
    assert row == summarize(arrival(), list(reversed(steps)), None)
