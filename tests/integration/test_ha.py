"""Several controllers sharing the sites by site leases, in the real lab (issue 16).

Takeover under load, a kill inside the write window, and split brain: citizens, agents
and targets are SIPp UAs; what counts is what they and Asterisk saw. Times are
measured and reported (`hotline drill` prints them), not asserted.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from telephony.lab.sipp import agent_scenario, free_udp_port, poke, register_seat, start_sipp
from tests.integration.conftest import (
    CITIZEN_IP,
    SEAT_IP,
    assert_site_clean,
    citizen_call,
    on_demand,
    report,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.drill]

FULL = os.environ.get("HOTLINE_DRILL_FULL") == "1"
CITIZEN = "13987654300"
SECOND = 2   # `lab up --controllers 2`: the second is "controller-2"


def holder_of(lab, site: str) -> int | None:
    """The index of the lab controller whose /healthz says it holds `site`."""
    for index in lab.controller_indexes():
        if site in (((lab.health(index) or {}).get("controller") or {}).get("sites") or []):
            return index
    return None


def calls_of(lab, index: int) -> dict[str, int]:
    return (lab.health(index) or {}).get("calls") or {}


@pytest.fixture
async def two_controllers(lab):
    """The session's controller and a second one, splitting the sites by leases; after the
    test the second stops (handing its sites back) and the first is running and ready."""
    lab.start_controller(SECOND)
    lab.wait_controller(index=SECOND)
    await wait_until(lambda: all(holder_of(lab, s.name) for s in lab.settings.sites), 15,
                     what="every site held")
    yield lab
    lab.stop_controller(SECOND)
    lab.start_controller(1)   # a no-op unless a drill killed it
    lab.wait_controller()
    await wait_until(lambda: len(((lab.health() or {}).get("controller") or {})
                                 .get("sites") or []) == len(lab.settings.sites), 15,
                     what="the first controller holding every site again")


async def _redis(settings):
    import redis.asyncio as aioredis
    return aioredis.from_url(settings.redis_url)


# ---- split brain ------------------------------------------------------------------------------
async def test_split_brain_only_the_holder_takes_calls_and_a_stolen_lease_stops_commands(
        two_controllers, settings, seats, probes, tmp_path):
    lab = two_controllers
    holder = holder_of(lab, "12345")
    other = next(i for i in lab.controller_indexes() if i != holder)
    agent = await seats("1007", agent_scenario(tmp_path / "agent.xml",
                                               [("await", 30000), ("info", "*1")]))
    target = await seats("2007")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=14000)

    async def bridged():
        return any(len(b["channels"]) == 2 for b in await probes["12345"].bridges())
    await wait_until(bridged, 10, what="citizen and agent bridged")
    order = agent.received("INVITE")[0].header("X-Work-Order")
    # a controller without the lease took no call: it never heard of this one
    assert calls_of(lab, holder).get("connected") == 1
    assert "12345" not in (lab.health(other) or {})["controller"]["sites"]
    assert not calls_of(lab, other)

    # the lease is stolen (a controller that saw the old one as dead took it)
    redis = await _redis(settings)
    try:
        epoch = int(await redis.incr("hotline:lease-epoch"))
        await redis.set("hotline:lease:12345", f"intruder {epoch}", px=60000)
        t0 = time.monotonic()
        await wait_until(lambda: not (lab.health(holder) or {})["sites"]["12345"]["held"], 5,
                         interval=0.02, what="the robbed controller stepping down")
        stepped_down = time.monotonic() - t0
        assert not calls_of(lab, holder), "its calls are let go, not hung up"
        assert await bridged(), "the call stays up in Asterisk"
        poke(agent, agent.received("INVITE")[0].header("Call-ID"))   # *1 now: nobody acts
        await asyncio.sleep(3)
        assert target.received("INVITE") == [], "a controller without the lease sent a command"
        assert await bridged()
    finally:
        await redis.delete("hotline:lease:12345")   # the intruder leaves; a real holder takes over
        await redis.aclose()
    await wait_until(lambda: holder_of(lab, "12345"), 10, what="12345 held again")
    new = holder_of(lab, "12345")
    await wait_until(lambda: calls_of(lab, new).get("connected") == 1, 10,
                     what="the call adopted by the new holder")
    assert await citizen.wait(40) == 0, citizen.output()
    assert await agent.wait(40) == 0, agent.output()
    assert target.received("INVITE") == []
    await assert_site_clean(probes["12345"])
    report("split brain (lease stolen)", 1, 0, 0, stepped_down,
           f"order {order}: the robbed controller stepped down; no command after; re-adopted")


# ---- takeover under load ----------------------------------------------------------------------
@on_demand
async def test_takeover_under_load_every_call_stays_and_star1_transfers_after_it(
        two_controllers, settings, probes, orders, seats, tmp_path):
    lab = two_controllers
    # a site has ten seats: at full size nine carry the load and the tenth of each is the
    # agent who presses *1 (12345) and its target (110): 19 bridged calls at the kill
    per_site = 9 if FULL else 3
    calls = 2 * per_site
    victim = holder_of(lab, "12345")
    survivor = next(i for i in lab.controller_indexes() if i != victim)
    uas: dict[str, tuple] = {}
    try:
        for name, first in (("12345", 1001), ("110", 2001)):
            uas[name] = await _load(lab, settings, name, first, per_site)

        async def bridged() -> int:
            count = 0
            for name in uas:
                count += sum(len(b["channels"]) == 2 for b in await probes[name].bridges())
            return count
        await wait_until(lambda: _at_least(bridged, calls), 30, what=f"{calls} calls bridged")
        # the load's seats are all busy now: the agent and the target get only their call
        agent = await seats("1010", agent_scenario(tmp_path / "agent.xml",
                                                   [("await", 60000), ("info", "*1")]))
        target = await seats("2010")
        transfer = await citizen_call(settings, "12345", CITIZEN, hold_ms=30000)
        await wait_until(lambda: _at_least(bridged, calls + 1), 30,
                         what=f"{calls + 1} calls bridged")
        order = agent.received("INVITE")[0].header("X-Work-Order")

        killed = time.monotonic()
        lab.book.stop(lab.controller_name(victim), sig=signal.SIGKILL)
        assert await bridged() == calls + 1, "bridges live in Asterisk: every call stays up"

        def took_over() -> bool:
            health = lab.health(survivor) or {}
            return (health.get("sites", {}).get("12345", {}).get("ari")
                    and health.get("calls", {}).get("connected", 0) >= calls + 1)
        await wait_until(took_over, 20, interval=0.02, what="the survivor serving 12345")
        takeover = time.monotonic() - killed
        assert await bridged() == calls + 1

        poke(agent, agent.received("INVITE")[0].header("Call-ID"))   # *1 after the takeover
        assert await target.wait(40) == 0, target.output()
        invite = target.received("INVITE")[0]
        assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
        assert invite.header("X-Linked-Order") == order
        assert await transfer.wait(60) == 0, transfer.output()
        for _, _, seats_ua, citizens in uas.values():
            assert await citizens.wait(60) == 0, citizens.output()   # each hung up itself
            assert await seats_ua.wait(60) == 0, seats_ua.output()
    finally:
        await _unload(settings, uas)
    order_ids = [m.header("X-Work-Order") for _, _, seats_ua, _ in uas.values()
                 for m in seats_ua.received("INVITE")]
    assert len(order_ids) == len(set(order_ids)) == calls
    for order_id in order_ids:
        record = await orders(order_id)
        assert record["citizen_number"] == "13700137100"
    record = await orders(order, until=lambda r: r["status"] == "transferred")
    assert record["citizen_number"] == CITIZEN
    for name in uas:
        await assert_site_clean(probes[name])
    report("takeover under load", calls + 1, 0, 0, takeover,
           f"holder of 12345 SIGKILLed; the other serving it with {calls + 1} calls adopted; "
           "*1 after it transferred")


async def _load(lab, settings, name: str, first: int, per_site: int) -> tuple:
    site = settings.site(name)
    target = f"{site.address}:{site.sip_port}"
    seat_ids = [str(first + i) for i in range(per_site)]
    port = free_udp_port(SEAT_IP)
    for seat in seat_ids:   # every seat's softphone of a site is one answering UA
        await register_seat(seat, settings.credentials.seat_password(seat), target,
                            contact_ip=SEAT_IP, contact_port=port)
    holder = holder_of(lab, name)
    await wait_until(lambda: list((lab.health(holder) or {}).get("seats", {}).get(name, {})
                                  .values()).count("available") >= per_site, 15,
                     what=f"{per_site} seats on duty at {name}")
    seats_ua = await start_sipp("seat_answer.xml", "", local_ip=SEAT_IP, local_port=port,
                                service=seat_ids[0], calls=per_site, timeout_s=120,
                                name=f"ha-seats-{name}")
    citizens = await start_sipp(
        "citizen.xml", target, local_ip=CITIZEN_IP, service=site.service_number,
        calls=per_site, variables={"citizen": "13700137100"},
        extra=["-d", "40000", "-r", "10", "-l", str(per_site)], timeout_s=120,
        name=f"ha-citizens-{name}")
    return seat_ids, port, seats_ua, citizens


async def _unload(settings, uas: dict) -> None:
    for name, (seat_ids, port, seats_ua, citizens) in uas.items():
        seats_ua.stop()
        citizens.stop()
        site = settings.site(name)
        for seat in seat_ids:
            await register_seat(seat, settings.credentials.seat_password(seat),
                                f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP,
                                contact_port=port, expires=0)


async def _at_least(count, n: int) -> bool:
    return await count() >= n


# ---- kill inside the write window -------------------------------------------------------------
def _slow_seat(path: Path, ring_ms: int) -> Path:
    """The lab's answering seat, ringing `ring_ms` before it answers."""
    from telephony.lab.sipp import SCENARIOS
    xml = (SCENARIOS / "seat_answer.xml").read_text()
    marker = '  <send retrans="500">'
    path.write_text(xml.replace(marker, f'  <pause milliseconds="{ring_ms}" />\n{marker}', 1))
    return path


def _stall_redis(lab, stalled: bool) -> None:
    """Redis stops answering (SIGSTOP) or answers again (SIGCONT): the controller's writes
    hang until their timeout and fail, as in a network stall."""
    proc = lab.book.running("redis")
    assert proc is not None, "the lab's Redis is not running"
    os.kill(proc.pid, signal.SIGSTOP if stalled else signal.SIGCONT)


async def _kill_and_restart(lab) -> float:
    lab.book.stop("controller", sig=signal.SIGKILL)
    _stall_redis(lab, False)
    t0 = time.monotonic()
    lab.start_controller()
    lab.wait_controller()
    return time.monotonic() - t0


@on_demand   # CI's 20 minutes (30 s a call); recovery's unit tests cover the same cases
async def test_killed_while_answered_is_unwritten_the_bridged_agent_is_not_hung_up(
        lab, settings, seats, probes, tmp_path):
    agent = await seats("1009", _slow_seat(tmp_path / "slow.xml", 3000))
    # the citizen talks on while the controller is killed and restarted
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=30000)
    await wait_until(lambda: calls_of(lab, 1).get("ringing_seat") == 1, 10,
                     what="the seat ringing (and stored so)")
    await asyncio.sleep(0.5)
    _stall_redis(lab, True)   # "connected" will not be written
    try:
        async def bridged():
            return any(len(b["channels"]) == 2 for b in await probes["12345"].bridges())
        await wait_until(bridged, 10, what="citizen and agent bridged")
        await asyncio.sleep(0.5)
    finally:
        recovery = await _kill_and_restart(lab)
    await wait_until(lambda: calls_of(lab, 1).get("connected") == 1, 10,
                     what="the call adopted as connected")
    assert await bridged(), "the bridged agent was hung up"
    assert agent.received("BYE") == [] and calls_of(lab, 1).get("waiting") is None
    assert await citizen.wait(60) == 0, citizen.output()   # the citizen ends the call
    assert await agent.wait(60) == 0, agent.output()
    await assert_site_clean(probes["12345"])
    report("kill in write window (answer)", 1, 0, 0, recovery,
           "stored ringing_seat, Asterisk bridged: adopted connected, agent kept")


@on_demand   # CI's 20 minutes (30 s a call); recovery's unit tests cover the same cases
async def test_killed_while_the_hand_over_is_unwritten_the_citizen_is_not_requeued(
        lab, settings, seats, probes, tmp_path):
    agent = await seats("1008", agent_scenario(tmp_path / "agent.xml",
                                               [("await", 30000), ("info", "*1")]))
    target = await seats("2008")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=30000)

    async def bridge_of_12345() -> list[str]:
        return next((b["channels"] for b in await probes["12345"].bridges()), [])
    await wait_until(lambda: calls_of(lab, 1).get("connected") == 1, 10, what="connected")
    await asyncio.sleep(0.5)
    _stall_redis(lab, True)   # the hand-over will not be written
    try:
        poke(agent, agent.received("INVITE")[0].header("Call-ID"))
        await wait_until(lambda: target.received("INVITE"), 15, what="the target rung")
        await wait_until(lambda: agent.received("BYE"), 15, what="the agent released")
        await asyncio.sleep(0.5)
    finally:
        recovery = await _kill_and_restart(lab)
    await wait_until(lambda: calls_of(lab, 1).get("handed_over", 0) >= 1, 10,
                     what="the call adopted as handed over")
    assert calls_of(lab, 1).get("waiting") is None, "the citizen was queued again"
    members = await bridge_of_12345()
    assert len(members) == 2, f"citizen and target still bridged: {members}"
    assert await citizen.wait(60) == 0, citizen.output()
    assert await target.wait(60) == 0, target.output()
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])
    report("kill in write window (hand-over)", 1, 0, 0, recovery,
           "stored connected, Asterisk bridged the target: adopted handed_over, not requeued")
