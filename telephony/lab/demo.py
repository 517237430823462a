"""`hotline demo`: the lab up, one simulated citizen call handed from 12345 to
110 with one key press, each step timed, and the two linked orders shown."""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from services.privacy import mask_number
from telephony.ari.client import AriClient
from telephony.lab.bridges import parties
from telephony.lab.lab import Lab, LabError
from telephony.lab.sipp import agent_scenario, free_udp_port, register_seat, start_sipp
from telephony.settings import Settings

CITIZEN = "13800138000"
SEAT_IP, CITIZEN_IP = "127.0.2.1", "127.0.1.1"


class Steps:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.n = 0

    def __call__(self, text: str) -> None:
        self.n += 1
        print(f"  {time.monotonic() - self.t0:7.3f}s  {self.n:2d}. {text}", flush=True)


def run_demo(settings: Settings, keep: bool = False) -> int:
    return _in_lab(settings, keep, "a citizen calls 12345; agent 1001 presses *1; "
                   "seat 2001 at 110 takes the call", _demo)


def _in_lab(settings: Settings, keep: bool, title: str, scenario) -> int:
    """Bring the lab up, run one demo scenario, and stop what this run started."""
    lab = Lab(settings)
    started_here = not any(lab.processes().values())
    print(f"== hotline-link demo: {title} ==", flush=True)
    try:
        lab.up()
        return asyncio.run(scenario(settings, lab, Steps()))
    except (LabError, RuntimeError, AssertionError, TimeoutError) as exc:
        print(f"demo failed: {exc}", flush=True)
        return 1
    finally:
        if started_here and not keep:
            lab.down()


def _masked(value: str | None) -> str:
    return (value or "").replace(CITIZEN, mask_number(CITIZEN))


async def _until(check, timeout: float = 10.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def docker_demo(settings: Settings, stack, step: Steps, seat_ip: str = SEAT_IP,
                      citizen_ip: str = CITIZEN_IP) -> int:
    """The same call against the compose deployment (telephony/deploy/demo.py)."""
    return await _demo(settings, stack, step, seat_ip, citizen_ip)


async def _demo(settings: Settings, lab, step: Steps, seat_ip: str = SEAT_IP,
                citizen_ip: str = CITIZEN_IP) -> int:
    """`lab`: anything with health() -> the controller's /healthz (the lab, a deployment)."""
    hotline, police = settings.site("12345"), settings.site("110")
    creds = settings.credentials
    work = Path(tempfile.mkdtemp(prefix="hotline-demo-"))
    registered: list[tuple[str, str, int]] = []
    async with aiohttp.ClientSession() as session:
        ari = {s.name: AriClient(session, s.ari_url, creds.ari_user, creds.ari_password)
               for s in (hotline, police)}
        uas = {}
        for seat, site, scenario in (
                ("1001", hotline, agent_scenario(work / "agent-1001.xml",
                                                 [("pause", 1500), ("info", "*1")])),
                ("2001", police, "seat_answer.xml")):
            port = free_udp_port(seat_ip)
            await register_seat(seat, creds.seat_password(seat), f"{site.address}:{site.sip_port}",
                                contact_ip=seat_ip, contact_port=port)
            registered.append((seat, f"{site.address}:{site.sip_port}", port))
            uas[seat] = await start_sipp(str(scenario), "", local_ip=seat_ip, local_port=port,
                                         service=seat, timeout_s=60, name=f"demo-seat-{seat}",
                                         workdir=work)
            step(f"seat {seat} registered at site {site.name} from {seat_ip}:{port}")
        await _until(lambda: _seat_available(lab, "12345", "1001"), what="seat 1001 on duty")
        await _until(lambda: _seat_available(lab, "110", "2001"), what="seat 2001 on duty")
        citizen = await start_sipp("citizen.xml", f"{hotline.address}:{hotline.sip_port}",
                                   local_ip=citizen_ip, service="12345",
                                   variables={"citizen": CITIZEN}, extra=["-d", "6000"],
                                   timeout_s=60, name="demo-citizen", workdir=work)
        step(f"citizen {mask_number(CITIZEN)} dials 12345@{hotline.address} from {citizen_ip}")
        try:
            await _until(lambda: _bridged(ari["12345"], "1001"), what="citizen bridged with 1001")
            invite = uas["1001"].received("INVITE")[0]
            order = invite.header("X-Work-Order")
            step(f"seat 1001 answers: From {_masked(invite.header('From')).split(';')[0]}, "
                 f"work order {order}")
            await _until(lambda: _async(uas["2001"].received("INVITE")), what="INVITE at 2001")
            step("agent 1001 presses *1 (SIP INFO): hand over to 110")
            target = uas["2001"].received("INVITE")[0]
            for name in ("From", "P-Asserted-Identity"):
                value = target.header(name) or ""
                verdict = "the citizen's own number" if f"sip:{CITIZEN}@" in value else "WRONG"
                step(f"seat 2001 at 110 rings: {name} {_masked(value).split(';')[0]}  <- {verdict}")
            for name in ("X-Work-Order", "X-Linked-Order", "X-Origin-Site", "Call-Info"):
                step(f"seat 2001 received {name}: {target.header(name)}")
            await _until(lambda: _bridged(ari["12345"], "trunk-110"), what="hand-over bridge")
            await _until(lambda: _bridged(ari["110"], "2001"), what="2001 bridged")
            step("2001 answered; agent 1001 released; the citizen now talks with 110")
            code = await citizen.wait(30)
            step(f"citizen hangs up (SIPp exit {code}); seats got BYE "
                 f"(1001: {await uas['1001'].wait(30)}, 2001: {await uas['2001'].wait(30)})")
            left = [len(await a.channels()) + len(await a.bridges()) for a in ari.values()]
            step(f"left on sites 12345 and 110: {left[0]} and {left[1]} channels+bridges")
            linked = target.header("X-Work-Order")
            assert order and linked, "the seats got no order headers"
            for line in await _orders(settings, order, linked):
                step(line)
        finally:
            citizen.stop()
            for run in uas.values():
                run.stop()
            for seat, registrar, port in registered:
                await register_seat(seat, creds.seat_password(seat), registrar,
                                    contact_ip=seat_ip, contact_port=port, expires=0)
    ok = code == 0 and all(r.proc.returncode == 0 for r in uas.values()) and left == [0, 0]
    print("== demo " + ("passed" if ok else "FAILED") + " ==", flush=True)
    return 0 if ok else 1


def _shown(number: str | None) -> str:
    """A number as a log may show it: masked, whether or not the view masked it."""
    number = number or ""
    return mask_number(number) if number.isdigit() else number


async def _async(value):
    return value


def _seat_available(lab, site: str, seat: str):
    async def check():
        return ((lab.health() or {}).get("seats", {}).get(site, {}) or {}).get(seat) == "available"
    return check()


async def _bridged(ari: AriClient, endpoint: str) -> dict | None:
    names = {c["id"]: c["name"] for c in await ari.channels()}
    for bridge in await ari.bridges():
        members = parties(bridge, names)   # not the recorder's channel
        if len(members) == 2 and any(names[cid].startswith(f"PJSIP/{endpoint}-")
                                     for cid in members):
            return bridge
    return None


async def _orders(settings: Settings, order: str, linked: str) -> list[str]:
    """The two linked orders, read back from the shared database."""
    from services.work_orders import db
    from services.work_orders.errors import OrderNotFound
    from services.work_orders.levels import Calendar
    from services.work_orders.service import WorkOrderService

    engine = db.make_engine(settings.db_url or db.default_url(settings.data_dir))
    service = WorkOrderService(db.make_session_factory(engine), clock=lambda: datetime.now(UTC),
                               calendar=Calendar())
    lines = []
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                source = await service.view(order, "supervisor")
                target = await service.view(linked, "supervisor")
                if source["status"] == "transferred":
                    break
            except OrderNotFound:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("orders not in the database after 15 s")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
    for record in (source, target):
        lines.append(
            f"order {record['order_id']} ({record['platform']}): status {record['status']}, "
            f"level {record['level']}, deadline {record['deadline_at']}, citizen "
            f"{_shown(record['citizen_number'])}, region {record['region_code']}"
            + (f", from {record['source_order_id']}" if record.get("source_order_id") else ""))
    lines.append("links: " + json.dumps([(link["kind"], link["source_order_id"],
                                           link["target_order_id"]) for link in source["links"]]))
    return lines




# ---- hotline demo --surge ------------------------------------------------------------------
def run_surge_demo(settings: Settings, keep: bool = False) -> int:
    return _in_lab(settings, keep, "--surge: 6 citizens, 1 local seat at 12345, 2 remote seats; "
                   "overflow trips", _surge)


async def _surge(settings: Settings, lab: Lab, step: Steps) -> int:
    hotline = settings.site("12345")
    creds = settings.credentials
    work = Path(tempfile.mkdtemp(prefix="hotline-demo-"))
    registered, uas = [], []
    try:
        for seat in ("1001", "3001", "3002"):
            site = settings.site_of_seat(seat)
            port = free_udp_port(SEAT_IP)
            registrar = f"{site.address}:{site.sip_port}"
            await register_seat(seat, creds.seat_password(seat), registrar, contact_ip=SEAT_IP,
                                contact_port=port)
            registered.append((seat, registrar, port))
            uas.append(await start_sipp("seat_answer.xml", "", local_ip=SEAT_IP, local_port=port,
                                        service=seat, calls=6, timeout_s=90,
                                        name=f"surge-seat-{seat}", workdir=work))
            step(f"seat {seat} on duty at site {site.name}")
            await _until(lambda s=seat, n=site.name: _seat_available(lab, n, s),
                         what=f"seat {seat} on duty")
        citizens = await start_sipp("citizen.xml", f"{hotline.address}:{hotline.sip_port}",
                                    local_ip=CITIZEN_IP, service="12345", calls=6,
                                    variables={"citizen": CITIZEN},
                                    extra=["-d", "4000", "-r", "20"], timeout_s=90,
                                    name="surge-citizens", workdir=work)
        step("6 citizens dial 12345 within 0.3 s; each hangs up 4 s after the hotline answers")
        status = await _until(lambda: _overflow_on(lab), what="overflow")
        step(f"overflow to {status['to']} ON: {status['why']}")
        await citizens.proc.wait()
        step(f"all citizens done (SIPp exit {citizens.proc.returncode})")
        _counts(lab, step)
        policy = settings.site("12345").overflow
        assert policy is not None, "site 12345 has no overflow policy in dialplan/sites.toml"
        step(f"waiting {policy.calm_s:.0f}s of calm before overflow stops (hysteresis)")
        await _until(lambda: _async(not _overflow_status(lab)["active"]), policy.calm_s + 10,
                     what="overflow to stop")
        step(f"overflow off: {_overflow_status(lab)['why']}")
        remote_calls = sum(len(ua.received("INVITE")) for ua in uas[1:])
        ok = citizens.proc.returncode == 0 and remote_calls > 0
    finally:
        for ua in uas:
            ua.stop()
        for seat, registrar, port in registered:
            await register_seat(seat, creds.seat_password(seat), registrar, contact_ip=SEAT_IP,
                                contact_port=port, expires=0)
    print("== demo --surge " + ("passed" if ok else "FAILED") + " ==", flush=True)
    return 0 if ok else 1


def _overflow_status(lab: Lab) -> dict:
    return ((lab.health() or {}).get("overflow") or {}).get("12345", {})


async def _overflow_on(lab: Lab) -> dict | None:
    status = _overflow_status(lab)
    return status if status.get("active") else None


def _counts(lab: Lab, step: Steps) -> None:
    load = (lab.health() or {}).get("load", {})
    step(f"{'site':8} {'arrived':>8} {'answered':>9} {'in 15 s':>8} {'overflowed':>11} "
         f"{'abandoned':>10} {'waiting':>8}")
    for site, row in load.items():
        step(f"{site:8} {row['arrived']:>8} {row['answered']:>9} {row['answered_in_target']:>8} "
             f"{row['overflowed']:>11} {row['abandoned']:>10} {row['waiting']:>8}")
