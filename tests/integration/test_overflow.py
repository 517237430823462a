"""Overflow to remote seats when local seats are short, with hysteresis, and
emergencies answered first: more SIPp citizens than registered local seats."""
from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from tests.integration.conftest import citizen_call, hotline_cli, wait_until

pytestmark = pytest.mark.integration


def health(lab) -> dict:
    return lab.health() or {}


def overflow(lab) -> dict:
    return health(lab).get("overflow", {}).get("12345", {})


def journal() -> list[dict]:
    with urllib.request.urlopen("http://127.0.0.1:8080/lab/journal", timeout=2) as resp:
        return json.loads(resp.read())


async def test_queue_past_max_overflows_to_remote_seats_then_stops_after_calm(
        lab, settings, seats, orders):
    local = await seats("1001", calls=3)
    remote = [await seats("3001", calls=3), await seats("3002", calls=3)]
    assert not overflow(lab)["active"]
    # 5 citizens, 1 local seat: 4 wait > max_queue 3 with every local seat busy
    citizens = await citizen_call(settings, "12345", "13611112222", hold_ms=3000, calls=5,
                                  rate=20)
    await wait_until(lambda: overflow(lab)["active"], 10, what="overflow trips")
    assert "every local seat busy" in overflow(lab)["why"]
    assert await citizens.wait(60) == 0, citizens.output()

    invites = [m for ua in remote for m in ua.received("INVITE")]
    assert len(invites) >= 2 and local.received("INVITE")
    for invite in invites:   # the remote UA sees the citizen and the origin's order
        assert "sip:13611112222@" in invite.header("From")
        assert "sip:13611112222@" in invite.header("P-Asserted-Identity")
        assert invite.header("X-Work-Order").startswith("WO-")
        assert invite.header("X-Origin-Site") == "12345"
    record = await orders(invites[0].header("X-Work-Order"))
    assert record["region_code"] == "410300"   # remote seats work the origin's case
    assert sum(e["kind"] == "overflowed" for e in journal()) >= 2

    # hysteresis: overflow holds until local seats have been free for calm_s
    assert overflow(lab)["active"]
    await wait_until(lambda: not overflow(lab)["active"], 20, what="overflow stops after calm")
    for ua in (local, *remote):
        ua.stop()


async def test_emergency_caller_is_answered_before_earlier_callers(lab, settings, seats):
    seat = await seats("1005", calls=3)
    first = await citizen_call(settings, "12345", "13700000001", hold_ms=2500)
    await wait_until(lambda: seat.received("INVITE"), 10, what="the seat is busy")
    # the controller answers at once: hold counts from then, so long enough to wait
    ordinary = await citizen_call(settings, "12345", "13700000002", hold_ms=12000)
    await asyncio.sleep(0.3)
    urgent = await citizen_call(settings, "12345", "13700000003", hold_ms=3000, ivr="medical")
    for run in (first, ordinary, urgent):
        assert await run.wait(60) == 0, run.output()
    callers = [m.header("P-Asserted-Identity") for m in seat.received("INVITE")]
    order = [next(n for n in ("13700000001", "13700000002", "13700000003") if n in c)
             for c in callers]
    assert order == ["13700000001", "13700000003", "13700000002"]


async def test_a_caller_who_gives_up_waiting_gets_a_callback_order(lab, settings, seats, orders):
    seat = await seats("1006", calls=2)
    busy = await citizen_call(settings, "12345", "13700000004", hold_ms=3000)
    await wait_until(lambda: seat.received("INVITE"), 10, what="the only seat is busy")
    gives_up = await citizen_call(settings, "12345", "13700000005", hold_ms=800)
    assert await gives_up.wait(30) == 0, gives_up.output()
    entry = await wait_until(lambda: next((e for e in journal() if e["kind"] == "abandoned"
                                           and e["site"] == "12345"), None), 10,
                             what="abandoned call noticed")
    record = await orders(entry["order"], until=lambda r: "[回拨" in (r["summary"] or ""))
    assert record["citizen_number"] == "13700000005"
    assert await busy.wait(30) == 0
    seat.stop()


async def test_ops_switch_forces_overflow_on_and_off(lab, settings, seats):
    local = await seats("1009", calls=4)
    remote = await seats("3003", calls=4)
    try:
        assert "ACTIVE (forced on: 启动应急联动预案" in hotline_cli(
            "overflow", "on", "--site", "12345", "--reason", "启动应急联动预案 drill")
        # forced on: a new call goes to the remote seat although a local one is free
        first = await citizen_call(settings, "12345", "13800000011", hold_ms=1500)
        assert await first.wait(30) == 0, first.output()
        assert remote.received("INVITE") and not local.received("INVITE")

        assert "inactive (forced off" in hotline_cli(
            "overflow", "off", "--site", "12345", "--reason", "remote site needed elsewhere")
        # forced off: 5 callers, 1 local seat, past max_queue: nobody goes remote
        crowd = await citizen_call(settings, "12345", "13800000012", hold_ms=12000, calls=5,
                                   rate=20)
        await wait_until(lambda: health(lab).get("load", {}).get("12345", {}).get("waiting", 0)
                         >= 4, 10, what="callers queue up")
        await asyncio.sleep(1.0)
        assert not overflow(lab)["active"]
        assert len(remote.received("INVITE")) == 1
        assert "automatic" in hotline_cli("overflow", "auto", "--site", "12345",
                                      "--reason", "back to thresholds")
        await wait_until(lambda: len(remote.received("INVITE")) >= 2, 10,
                         what="overflow resumes under automatic thresholds")
        assert await crowd.wait(60) == 0, crowd.output()
        audit = (settings.data_dir / "overflow-audit.jsonl").read_text().splitlines()
        assert [json.loads(line)["mode"] for line in audit[-3:]] == ["on", "off", "auto"]
        assert all(json.loads(line)["actor"] == "api:ops" for line in audit[-3:])
    finally:
        hotline_cli("overflow", "auto", "--site", "12345", "--reason", "test cleanup")
        local.stop()
        remote.stop()


async def test_a_paused_seat_gets_no_call_until_resumed(lab, settings, seats):
    seat = await seats("1007")
    assert '"state": "paused"' in hotline_cli("seat", "pause", "--site", "12345", "--seat", "1007")
    try:
        citizen = await citizen_call(settings, "12345", "13800000021", hold_ms=6000)
        await wait_until(lambda: health(lab).get("load", {}).get("12345", {}).get("waiting") == 1,
                         10, what="the caller waits")
        assert not seat.received("INVITE")
        assert '"state": "available"' in hotline_cli("seat", "resume", "--site", "12345",
                                                 "--seat", "1007")
        await wait_until(lambda: seat.received("INVITE"), 10, what="the resumed seat rings")
        assert await citizen.wait(30) == 0, citizen.output()
    finally:
        hotline_cli("seat", "resume", "--site", "12345", "--seat", "1007")
