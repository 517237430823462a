from __future__ import annotations

from services.seats import SeatBoard, SeatState
from services.waiting_line import WaitingLine


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Mirror:
    def __init__(self):
        self.changes = []

    def seat_changed(self, seat):
        self.changes.append((seat.id, seat.state))


def board(clock, mirror=None):
    return SeatBoard([("12345", s) for s in ("1001", "1002", "1003")], clock, mirror)


def test_given_unregistered_seats_then_none_is_claimed():
    assert board(Clock()).claim_longest_idle("12345") is None


def test_given_registered_seats_then_the_one_idle_longest_answers_first():
    clock = Clock()
    b = board(clock)
    b.set_registered("12345", "1002", True)
    clock.now += 1
    b.set_registered("12345", "1001", True)
    assert b.claim_longest_idle("12345").id == "1002"
    assert b.claim_longest_idle("12345").id == "1001"
    assert b.claim_longest_idle("12345") is None


def test_given_released_seat_then_it_goes_to_the_back_of_the_idle_order():
    clock = Clock()
    b = board(clock)
    for seat in ("1001", "1002"):
        b.set_registered("12345", seat, True)
    first = b.claim_longest_idle("12345")
    clock.now += 5
    b.release("12345", first.id)
    assert b.claim_longest_idle("12345").id != first.id


def test_given_failed_seat_then_it_rests_before_being_offered_again():
    clock = Clock()
    b = board(clock)
    b.set_registered("12345", "1001", True)
    b.claim_longest_idle("12345")
    b.release("12345", "1001", rest_s=2.0)
    assert b.claim_longest_idle("12345") is None
    assert b.next_ready_at("12345") == 102.0
    clock.now = 102.0
    assert b.claim_longest_idle("12345").id == "1001"


def test_given_unregistration_then_seat_is_offline_and_mirror_told():
    mirror = Mirror()
    b = board(Clock(), mirror)
    b.set_registered("12345", "1001", True)
    b.set_registered("12345", "1001", False)
    assert b.get("12345", "1001").state is SeatState.OFFLINE
    assert mirror.changes == [("1001", SeatState.AVAILABLE), ("1001", SeatState.OFFLINE)]


def test_unknown_seat_is_ignored():
    assert board(Clock()).set_registered("12345", "9999", True) is None


def test_waiting_line_is_first_come_first_served_and_reports_positions():
    clock = Clock()
    line = WaitingLine(clock)
    assert line.join("a") == 1
    clock.now += 3
    assert line.join("b") == 2
    assert line.join("a") == 1  # idempotent
    assert line.longest_wait() == 3
    line.leave("a")
    assert line.position("b") == 1
    assert line.pop() == "b"
    assert line.pop() is None


def test_paused_seat_gets_no_call_until_resumed():
    clock = Clock()
    b = board(clock)
    b.set_registered("12345", "1001", True)
    assert b.pause("12345", "1001").state is SeatState.PAUSED
    assert b.claim_longest_idle("12345") is None
    b.resume("12345", "1001")
    assert b.claim_longest_idle("12345").id == "1001"


def test_pausing_a_busy_seat_keeps_its_call_and_pauses_it_after():
    clock = Clock()
    b = board(clock)
    b.set_registered("12345", "1001", True)
    b.claim_longest_idle("12345")
    assert b.pause("12345", "1001").state is SeatState.BUSY
    assert b.release("12345", "1001").state is SeatState.PAUSED
    assert b.claim_longest_idle("12345") is None


def test_a_resting_seat_is_passed_over_then_answers_once_rested_and_counts_stay_right():
    clock = Clock()
    b = board(clock)
    for seat in ("1001", "1002", "1003"):
        b.set_registered("12345", seat, True)
        clock.now += 1
    assert b.claim_longest_idle("12345").id == "1001"
    b.release("12345", "1001", rest_s=5)          # it failed: rests 5 s, back of the line
    assert b.claim_longest_idle("12345").id == "1002"
    assert b.claim_longest_idle("12345").id == "1003"
    assert b.claim_longest_idle("12345") is None  # 1001 still resting
    assert (b.available("12345"), b.on_duty("12345")) == (1, 3)
    clock.now += 5
    assert b.claim_longest_idle("12345").id == "1001"
    b.set_registered("12345", "1002", False)
    assert (b.available("12345"), b.on_duty("12345")) == (0, 2)


def test_a_call_whose_agent_was_lost_rejoins_at_the_head_but_behind_later_emergencies():
    line = WaitingLine(lambda: 0.0)
    line.join("a")
    line.join("b")
    assert line.join("lost", first=True) == 1
    line.join("sos", urgent=True)
    assert line.calls() == ["sos", "lost", "a", "b"]
