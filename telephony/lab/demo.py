"""`hotline demo`: the lab up, one simulated citizen call, each step timed."""
from __future__ import annotations

import asyncio
import time

import aiohttp

from services.privacy import mask_number
from telephony.ari.client import AriClient
from telephony.lab.lab import Lab, LabError
from telephony.lab.sipp import free_udp_port, register_seat, start_sipp
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
    lab = Lab(settings)
    started_here = not any(lab.processes().values())
    print("== hotline-link demo: a citizen calls 12345 ==", flush=True)
    try:
        lab.up()
        return asyncio.run(_call(settings, Steps()))
    except (LabError, RuntimeError, AssertionError) as exc:
        print(f"demo failed: {exc}", flush=True)
        return 1
    finally:
        if started_here and not keep:
            lab.down()


async def _call(settings: Settings, step: Steps) -> int:
    site = settings.site("12345")
    creds = settings.credentials
    async with aiohttp.ClientSession() as session:
        ari = AriClient(session, site.ari_url, creds.ari_user, creds.ari_password)
        port = free_udp_port(SEAT_IP)
        await register_seat("1001", creds.seat_password("1001"), f"{site.address}:{site.sip_port}",
                            contact_ip=SEAT_IP, contact_port=port)
        step(f"seat 1001 registered from {SEAT_IP}:{port} (SIPp softphone, digest auth)")
        seat = await start_sipp("seat_answer.xml", "", local_ip=SEAT_IP, local_port=port,
                                service="1001", timeout_s=60, name="demo-seat-1001")
        await asyncio.sleep(0.3)  # let the controller hear of the registration over AMI
        citizen = await start_sipp("citizen.xml", f"{site.address}:{site.sip_port}",
                                   local_ip=CITIZEN_IP, service="12345",
                                   variables={"citizen": CITIZEN}, extra=["-d", "3000"],
                                   timeout_s=60, name="demo-citizen")
        step(f"citizen {mask_number(CITIZEN)} dials 12345@{site.address} from {CITIZEN_IP}")
        try:
            bridge = await _wait_bridge(ari)
            step(f"controller answered, rang seat 1001 and bridged: bridge {bridge['id']} "
                 f"holds {len(bridge['channels'])} channels")
            await asyncio.wait_for(seat.proc.wait(), 30)
            invite = seat.received("INVITE")[0]
            for name in ("From", "P-Asserted-Identity"):
                value = invite.header(name) or ""
                verdict = "the citizen's own number" if f"sip:{CITIZEN}@" in value else "WRONG"
                step(f"seat 1001 received {name}: {value.replace(CITIZEN, mask_number(CITIZEN))}"
                     f"  <- {verdict}")
            for name in ("X-Work-Order", "X-Origin-Site", "Call-Info"):
                step(f"seat 1001 received {name}: {invite.header(name)}")
            code = await citizen.wait(30)
            step(f"citizen hung up after 3 s (SIPp exit {code}); seat got BYE")
            left = await ari.channels(), await ari.bridges()
            step(f"left on site 12345: {len(left[0])} channels, {len(left[1])} bridges")
        finally:
            seat.stop()
            citizen.stop()
            await register_seat("1001", creds.seat_password("1001"),
                                f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP,
                                contact_port=port, expires=0)
    ok = code == 0 and seat.proc.returncode == 0 and not left[0] and not left[1]
    print("== demo " + ("passed" if ok else "FAILED") + " ==", flush=True)
    return 0 if ok else 1


async def _wait_bridge(ari: AriClient, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for bridge in await ari.bridges():
            if len(bridge["channels"]) == 2:
                return bridge
        await asyncio.sleep(0.02)
    raise AssertionError("citizen and seat were not bridged within 10 s")
