"""The real lab: three Asterisk sites, Redis and the controller, started once
for the session. Tests place real SIP calls with SIPp and read what each SIP
peer received, and what Asterisk holds, through ARI."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from telephony.lab.bridges import parties
from telephony.lab.lab import Lab
from telephony.lab.sipp import (
    SippRun,
    citizen_scenario,
    free_udp_port,
    poke,
    register_seat,
    start_sipp,
    unregister_all,
)
from telephony.settings import Settings, Site, load_settings

# drills too long for `./run test` (CI has 20 minutes for the whole suite): `hotline drill`
# runs them (it sets HOTLINE_DRILL_REPORT), as does HOTLINE_DRILL_FULL=1
on_demand = pytest.mark.skipif(
    not (os.environ.get("HOTLINE_DRILL_REPORT") or os.environ.get("HOTLINE_DRILL_FULL") == "1"),
    reason="an on-demand drill: `hotline drill` runs it")

SEAT_IP = "127.0.2.1"
CITIZEN_IP = "127.0.1.1"


@pytest.fixture(scope="session")
def settings() -> Settings:
    os.environ["HOTLINE_MODE"] = "lab"
    # short enough to test the "no answer" path quickly; the default is 20 s
    os.environ.setdefault("HOTLINE_TRANSFER_TIMEOUT_S", "4")
    os.environ.setdefault("HOTLINE_SURGE_AFTER_S", "3")
    return load_settings()


@pytest.fixture(scope="session")
def lab(settings: Settings):
    lab = Lab(settings)
    was_running = lab.processes()
    lab.stop_controller()  # always test the controller of this checkout
    lab.up()
    yield lab
    if not any(was_running.values()):
        lab.down()


class AriProbe:
    """Read-only look at what one site's Asterisk holds."""

    def __init__(self, session: aiohttp.ClientSession, site: Site, settings: Settings):
        self.site = site
        self._session = session
        creds = settings.credentials
        self._headers = {"Authorization": aiohttp.encode_basic_auth(creds.ari_user,
                                                                    creds.ari_password)}

    async def get(self, path: str):
        async with self._session.get(f"{self.site.ari_url}{path}", headers=self._headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def post(self, path: str, params: dict, body: dict | None = None):
        async with self._session.post(f"{self.site.ari_url}{path}", params=params, json=body,
                                      headers=self._headers) as resp:
            text = await resp.text()
            assert resp.status < 300, f"{path}: {resp.status} {text}"
            return await resp.json() if text else None

    async def delete(self, path: str) -> int:
        async with self._session.delete(f"{self.site.ari_url}{path}", headers=self._headers) as resp:
            return resp.status

    async def channels(self) -> list[dict]:
        return await self.get("/channels")

    async def bridges(self) -> list[dict]:
        """Each bridge with its parties' channels only: the recorder's (and an
        announcement's) media channel is Asterisk's, not a party to the call."""
        names = {c["id"]: c["name"] for c in await self.channels()}
        return [{**b, "channels": parties(b, names)} for b in await self.get("/bridges")]


async def wait_until(predicate: Callable, timeout: float = 10.0, interval: float = 0.05,
                     what: str = "condition"):
    """Poll an (async or sync) predicate until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture
async def probes(lab: Lab, settings: Settings):
    async with aiohttp.ClientSession() as session:
        yield {site.name: AriProbe(session, site, settings) for site in settings.sites}


@pytest.fixture
async def seats(lab: Lab, settings: Settings):
    """Register seats as SIPp softphones; unregister them when the test ends."""
    registered: list[tuple[str, Site, int]] = []
    answering: list[SippRun] = []
    # a clean slate: seats left on duty by an earlier run would take this test's calls
    for site_name, states in ((lab.health() or {}).get("seats") or {}).items():
        for seat, state in states.items():
            if state != "offline":
                site = settings.site(site_name)
                await unregister_all(seat, settings.credentials.seat_password(seat),
                                     f"{site.address}:{site.sip_port}", local_ip=SEAT_IP)

    async def on_duty(seat: str, scenario: str | Path = "seat_answer.xml",
                      calls: int = 1) -> SippRun:
        site = settings.site_of_seat(seat)
        port = free_udp_port(SEAT_IP)
        await register_seat(seat, settings.credentials.seat_password(seat),
                            f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP,
                            contact_port=port)
        registered.append((seat, site, port))
        run = await start_sipp(str(scenario), "", local_ip=SEAT_IP, local_port=port, service=seat,
                               timeout_s=90, calls=calls, name=f"seat-{seat}-{port}")
        answering.append(run)
        await wait_until(lambda: seat_state(lab, site.name, seat) == "available", 10,
                         what=f"seat {seat} available in the controller")
        return run

    yield on_duty
    for run in answering:
        run.stop()
    for seat, site, port in registered:
        try:
            await register_seat(seat, settings.credentials.seat_password(seat),
                                f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP,
                                contact_port=port, expires=0)
        except RuntimeError:
            pass  # the site may be down in a failure test; a fresh lab forgets it


def seat_state(lab: Lab, site: str, seat: str) -> str | None:
    health = lab.health() or {}
    return (health.get("seats", {}).get(site, {}) or {}).get(seat)


async def citizen_call(settings: Settings, service: str, number: str, hold_ms: int,
                       site: str | None = None, ivr: str | None = None, calls: int = 1,
                       rate: float | None = None) -> SippRun:
    target = settings.site(site or service)
    variables = {"citizen": number, **({"ivr": ivr} if ivr else {})}
    extra = ["-d", str(hold_ms)] + (["-r", str(rate)] if rate else [])
    return await start_sipp("citizen_ivr.xml" if ivr else "citizen.xml",
                            f"{target.address}:{target.sip_port}", local_ip=CITIZEN_IP,
                            service=service, variables=variables, extra=extra, calls=calls,
                            timeout_s=90)


async def held_citizen(settings: Settings, number: str, workdir: Path,
                       service: str = "12345", max_s: int = 60) -> SippRun:
    """A citizen who stays on the line until `hang_up` (at most `max_s`, then the call
    fails): a test ends the call once it has seen what it came for, instead of waiting
    out a hold long enough for the slowest machine."""
    target = settings.site(service)
    scenario = citizen_scenario(workdir / f"citizen-{number}.xml", [("await", max_s * 1000)])
    return await start_sipp(str(scenario), f"{target.address}:{target.sip_port}",
                            local_ip=CITIZEN_IP, service=service,
                            variables={"citizen": number}, timeout_s=max_s + 30,
                            name=f"citizen-{number}", workdir=workdir)


def hang_up(citizen: SippRun) -> None:
    """The held citizen hangs up (a BYE follows the poke in its scenario)."""
    sent = citizen.messages("sent")
    assert sent, f"the citizen sent nothing: {citizen.output()}"
    poke(citizen, sent[0].header("Call-ID") or "")


async def assert_site_clean(probe: AriProbe, timeout: float = 10.0) -> None:
    """Nothing left behind: no channel and no bridge on the site."""
    async def clean():
        return not await probe.channels() and not await probe.bridges()
    await wait_until(clean, timeout, what=f"site {probe.site.name} free of channels and bridges")


@pytest.fixture
async def orders(settings):
    """Read the lab's shared order database the way the API will: through the service."""
    from datetime import UTC, datetime

    from services.work_orders import db
    from services.work_orders.errors import OrderNotFound
    from services.work_orders.levels import Calendar
    from services.work_orders.service import WorkOrderService

    engine = db.make_engine(settings.db_url or db.default_url(settings.data_dir))
    service = WorkOrderService(db.make_session_factory(engine), clock=lambda: datetime.now(UTC),
                               calendar=Calendar())

    async def record(order_id: str, until=lambda r: True, timeout: float = 15.0) -> dict:
        async def ready():
            try:
                found = await service.record(order_id)
            except OrderNotFound:
                return None
            return found if until(found) else None
        return await wait_until(ready, timeout, interval=0.2, what=f"order {order_id} in the database")

    yield record
    await engine.dispose()


def report(drill: str, calls: int, dropped: int, orders_lost: int, recovery_s: float | None,
           note: str = "") -> None:
    """A drill's row for `hotline drill`'s table (HOTLINE_DRILL_REPORT names the file)."""
    import json
    row = {"drill": drill, "calls": calls, "dropped": dropped, "orders_lost": orders_lost,
           "recovery_s": None if recovery_s is None else round(recovery_s, 2), "note": note}
    print(json.dumps(row, ensure_ascii=False))
    path = os.environ.get("HOTLINE_DRILL_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def lab_api(method: str, path: str, user: str, body: dict | None = None) -> tuple[int, dict]:
    """(status, JSON body) of one request to the lab controller's API as a lab user; a 4xx is
    an answer here, not an exception."""
    import json
    import urllib.error
    import urllib.request

    from telephony.settings import lab_accounts
    token = lab_accounts()["api"]["users"][user]["token"]
    request = urllib.request.Request(
        f"http://127.0.0.1:8080/api/v1{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {user}:{token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def hotline_cli(*args: str) -> str:
    """The real `hotline` command, as an operator runs it in the lab."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "telephony.cli", *args], capture_output=True,
                         text=True, env={**os.environ, "HOTLINE_MODE": "lab"}, timeout=30,
                         check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def pytest_collection_modifyitems(config, items):
    """The log audit reads the logs of the whole run: it goes last."""
    items.sort(key=lambda item: "test_log_masking" in item.nodeid)
