"""Overflow to remote seats: thresholds, the ops switch and hysteresis."""
from __future__ import annotations

from dataclasses import replace

from services.overflow import OverflowPolicy, OverflowState, SiteLoad
from services.waiting_line import WaitingLine

POLICY = OverflowPolicy(to="remote", max_wait_s=30, max_queue=3, min_available_ratio=0.2,
                        calm_s=10)


def load(waiting=0, wait=0.0, available=0, on_duty=4) -> SiteLoad:
    return SiteLoad(waiting=waiting, longest_wait_s=wait, local_available=available,
                    local_on_duty=on_duty)


def test_no_overflow_while_local_seats_keep_up():
    state = OverflowState(POLICY)
    assert not state.update(load(waiting=1, wait=5, available=1), now=0)


def test_longest_wait_past_max_trips_overflow():
    state = OverflowState(POLICY)
    assert state.update(load(waiting=1, wait=31, available=0), now=0)
    assert "longest wait" in state.why


def test_queue_longer_than_max_with_every_seat_busy_trips_overflow():
    state = OverflowState(replace(POLICY, min_available_ratio=0.0))
    assert not state.update(load(waiting=3, wait=1, available=0), now=0)
    assert state.update(load(waiting=4, wait=1, available=0), now=0)


def test_available_ratio_below_minimum_trips_overflow():
    state = OverflowState(POLICY)
    assert state.update(load(waiting=1, wait=1, available=0, on_duty=10), now=0)


def test_no_local_seat_on_duty_overflows_at_once():
    state = OverflowState(POLICY)
    assert state.update(load(waiting=1, wait=0, available=0, on_duty=0), now=0)


def test_overflow_stops_only_after_local_seats_were_free_for_calm_s():
    state = OverflowState(POLICY)
    state.update(load(waiting=5, wait=40, available=0), now=0)
    assert state.update(load(waiting=0, available=2), now=1)        # calm starts
    assert state.update(load(waiting=0, available=2), now=10)       # 9 s calm
    assert state.update(load(waiting=1, wait=1, available=0), now=10.5)  # busy again: restart
    assert state.update(load(waiting=0, available=2), now=11)
    assert not state.update(load(waiting=0, available=2), now=21.5)
    assert [active for _, active, _ in state.changes] == [True, False]


def test_ops_switch_forces_overflow_on_and_off_whatever_the_load():
    state = OverflowState(POLICY)
    state.force(True, "启动应急联动预案", now=0)
    assert state.update(load(waiting=0, available=4), now=100)
    state.force(False, "drill over", now=101)
    assert not state.update(load(waiting=9, wait=99, available=0), now=102)
    state.force(None, "back to automatic", now=103)
    assert state.update(load(waiting=9, wait=99, available=0), now=104)


def test_emergencies_wait_ahead_of_everyone_else_in_arrival_order():
    now = [0.0]
    line = WaitingLine(lambda: now[0])
    line.join("a")
    now[0] = 1
    line.join("b")
    now[0] = 2
    assert line.join("e1", urgent=True) == 1
    now[0] = 3
    assert line.join("e2", urgent=True) == 2
    assert [line.pop() for _ in range(4)] == ["e1", "e2", "a", "b"]


def test_longest_wait_counts_from_the_earliest_arrival_even_behind_an_emergency():
    now = [0.0]
    line = WaitingLine(lambda: now[0])
    line.join("a")
    now[0] = 5
    line.join("e", urgent=True)
    now[0] = 8
    assert line.longest_wait() == 8
