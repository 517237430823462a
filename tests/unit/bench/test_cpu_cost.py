"""The CPU-per-call account of the capacity bench (bench/cpu_cost.py): the idle rate is
taken off, repetitions give median and range, and the ratio is of the totals."""
from __future__ import annotations

import pytest

from bench.cpu_cost import CONSUMER, cost_table, per_call_ms, rates, settled, spread


def test_per_call_takes_off_what_the_process_spends_idle():
    first, last = (100.0, {"controller": 10.0}), (160.0, {"controller": 13.0})
    # 3 s of CPU in 60 s, of which 0.6 s idle (1 % of a core): 2.4 s over 400 calls
    assert per_call_ms(first, last, {"controller": 0.01}, 400) == pytest.approx({"controller": 6.0})
    assert per_call_ms(first, last, {"controller": 0.5}, 400) == {"controller": 0.0}
    assert per_call_ms(first, last, {}, 0) == {}


def test_settled_once_the_last_window_is_back_to_idle():
    busy = [(0.0, {"c": 0.0}), (1.0, {"c": 0.5}), (2.0, {"c": 1.0})]
    assert rates(busy[0], busy[-1]) == {"c": 0.5}
    assert not settled(busy, {"c": 0.01}, "c")
    quiet = busy + [(3.0, {"c": 1.01}), (4.0, {"c": 1.02})]
    assert settled(quiet, {"c": 0.01}, "c")
    assert not settled(busy[:1], {"c": 0.0}, "c")   # too short to tell


def test_the_table_gives_medians_ranges_and_the_ratio_of_totals():
    runs = {"controller": [{"controller": 4.0, CONSUMER: 1.0, "asterisk": 10.0, "tcpdump": 9.0},
                           {"controller": 6.0, CONSUMER: 2.0, "asterisk": 12.0},
                           {"controller": 5.0, CONSUMER: 1.5, "asterisk": 11.0}],
            "baseline": [{"controller": 0.0, "asterisk": 10.0}]}
    table, figures = cost_table(runs, ("controller", "asterisk", "tcpdump"))
    assert "| controller | 5.00 (4.00–6.00) | 0.00 |" in table
    assert f"| … of which the {CONSUMER} | 1.50 (1.00–2.00) | – |" in table
    assert "tcpdump" not in table          # the capture is not part of a call's cost
    assert figures == {"ratio": pytest.approx(1.6), "ours": 16.0, "bare": 10.0}
    assert "1.60× the bare dialplan (target ≤ 1.6×: yes)" in table
    assert spread([]) is None


def test_idle_waits_for_a_busy_consumer_to_settle():
    from bench.cpu_cost import idle_rates
    clock, spent = [0.0], {"consumer": 0.0, "asterisk": 0.0}
    busy = iter([0.5, 0.2, 0.01, 0.01])      # cores the consumer uses in each window

    def sample():
        return clock[0], dict(spent)

    def wait(seconds):
        rate = next(busy)
        clock[0] += seconds
        spent["consumer"] += rate * seconds
        spent["asterisk"] += 0.01 * seconds

    assert idle_rates(sample, wait, seconds=10, settle="consumer") == pytest.approx(
        {"consumer": 0.01, "asterisk": 0.01})
    clock[0] = 0.0
    assert idle_rates(lambda: (clock[0], {"x": 0.0}), lambda s: clock.__setitem__(0, clock[0] + s),
                      seconds=5) == {"x": 0.0}


def test_a_steady_backlog_is_not_taken_as_idle():
    """A consumer working through a backlog at a steady rate is not idle: the bench waits
    for it to go quiet, and takes its quietest window if it never does."""
    from bench.cpu_cost import idle_rates
    clock, spent = [0.0], {"consumer": 0.0}
    busy = iter([0.07, 0.067, 0.066, 0.01])
    said: list[str] = []

    def sample():
        return clock[0], dict(spent)

    def wait(seconds):
        clock[0] += seconds
        spent["consumer"] += next(busy) * seconds

    assert idle_rates(sample, wait, seconds=10, settle="consumer") == pytest.approx(
        {"consumer": 0.01})
    clock[0], spent["consumer"], busy = 0.0, 0.0, iter([0.07, 0.05, 0.06])
    assert idle_rates(sample, wait, seconds=10, settle="consumer", tries=3,
                      say=said.append) == pytest.approx({"consumer": 0.05})
    assert said and "quietest" in said[0]


def test_waiting_for_a_quiet_controller_reads_proc_and_gives_up_with_a_word():
    import os

    import subprocess

    from bench.cpu_cost import children, children_cpu_seconds, cpu_seconds, wait_quiet
    said: list[str] = []
    assert cpu_seconds(os.getpid()) > 0 and children_cpu_seconds(os.getpid()) >= 0
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in children(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds(child.pid) == 0.0   # gone: nothing to read
    # quiet at once (no process uses 64 cores): back without a word
    wait_quiet(os.getpid(), said.append, quiet=64.0, window_s=0.01)
    assert not said
    # a process that never goes quiet enough (no process uses less than 0 cores)
    wait_quiet(os.getpid(), said.append, quiet=0.0, window_s=0.01, max_s=0.03)
    assert said and "still above" in said[0]
