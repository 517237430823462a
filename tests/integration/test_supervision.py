"""Supervisor listen-in and whisper (issue 18), through the real lab: the supervisor's
softphone (a SIPp UA on a supervisor seat) is rung by the API and joins through a snoop
on the agent's leg; what each phone heard is read off its own RTP socket (RtpProbe)."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from telephony.lab.rtp_pcap import spoken_wav, write_audio_pcap
from telephony.lab.rtp_probe import RtpProbe, sdp_media
from telephony.lab.sipp import (
    agent_scenario,
    citizen_scenario,
    free_udp_port,
    probe_answer_scenario,
    probe_citizen_scenario,
    register_seat,
    start_sipp,
)
from tests.integration.conftest import CITIZEN_IP, SEAT_IP, wait_until

pytestmark = pytest.mark.integration

BASE = "http://127.0.0.1:8080/api/v1"
SUPERVISOR = "supervisor:lab-token-supervisor"
QUIET = 0.003     # µ-law silence decodes to 0; line noise of a mix stays far below this
LOUD = 0.01       # espeak-ng speech is ~0.1


def api(method: str, path: str, body: dict | None = None,
        token: str = SUPERVISOR) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{BASE}{path}", method=method, data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    folder = tmp_path_factory.mktemp("supervisor")
    wav = spoken_wav(folder / "sup.wav", "注意核实来电人的地址和联系电话，然后再派单。")
    return write_audio_pcap(folder / "sup.pcap", wav)


@pytest.fixture
async def supervisor_phone(settings):
    """A supervisor's softphone on its seat: registered, answering with `scenario`."""
    runs, registered = [], []

    async def on_duty(seat: str, scenario):
        site = settings.site_of_supervisor_seat(seat)
        port = free_udp_port(SEAT_IP)
        password = settings.credentials.seat_password(seat)
        await register_seat(seat, password, f"{site.address}:{site.sip_port}",
                            contact_ip=SEAT_IP, contact_port=port)
        registered.append((seat, site, port, password))
        run = await start_sipp(str(scenario), "", local_ip=SEAT_IP, local_port=port,
                               service=seat, timeout_s=90, name=f"sup-{seat}-{port}")
        runs.append(run)
        return run

    yield on_duty
    for run in runs:
        run.stop()
    for seat, site, port, password in registered:
        await register_seat(seat, password, f"{site.address}:{site.sip_port}",
                            contact_ip=SEAT_IP, contact_port=port, expires=0)


async def live_call(site: str, number: str) -> dict:
    """This citizen's answered call (supervisors see the number whole)."""
    async def answered():
        calls = api("GET", f"/calls?site={site}")[1]["calls"]
        return next((c for c in calls if c["state"] == "connected"
                     and c["citizen_number"] == number), None)
    return await wait_until(answered, 15, interval=0.2, what=f"an answered call at {site}")


async def rang(run) -> tuple[str, int]:
    invite = await wait_until(lambda: run.received("INVITE"), 10, what="the supervisor rung")
    return sdp_media(invite[0].body)


async def audit_of(settings, call_id: str) -> list[dict]:
    from services.recordings.store import RecordingStore
    from services.work_orders import db

    engine = db.make_engine(settings.db_url or db.default_url(settings.data_dir))
    try:
        store = RecordingStore(db.make_session_factory(engine), lambda: datetime.now(UTC))
        return await store.audit_trail(call_id=call_id)
    finally:
        await engine.dispose()


async def test_a_supervisor_listens_in_and_hears_the_call(
        settings, seats, supervisor_phone, speech, tmp_path):
    ear = await RtpProbe.open(SEAT_IP)
    await seats("1004")
    sup = await supervisor_phone("1091", probe_answer_scenario(
        tmp_path / "sup.xml", SEAT_IP, ear.port))
    citizen_xml = tmp_path / "citizen.xml"
    citizen_scenario(citizen_xml, [("pause", 1000), ("audio", str(speech)), ("pause", 14000)])
    target = settings.site("12345")
    citizen = await start_sipp(str(citizen_xml), f"{target.address}:{target.sip_port}",
                               local_ip=CITIZEN_IP, service="12345",
                               variables={"citizen": "13612345678"}, timeout_s=90)
    try:
        call = await live_call("12345", "13612345678")
        # an agent may not, a supervisor of another site may not, a citizen's seat is no
        # supervisor seat
        assert api("POST", f"/calls/{call['call_id']}/supervision",
                   {"mode": "listen", "seat": "1091"},
                   token="agent1001:lab-token-agent1001")[0] == 403
        status, refused = api("POST", f"/calls/{call['call_id']}/supervision",
                              {"mode": "listen", "seat": "1005"})
        assert (status, refused["error_id"]) == (422, "not_a_supervisor_seat")
        status, session = api("POST", f"/calls/{call['call_id']}/supervision",
                              {"mode": "listen", "seat": "1091"},
                              token="supervisor12345:lab-token-supervisor12345")
        assert status == 201, session
        ear.talk_to(await rang(sup))
        await wait_until(lambda: ear.rms() > LOUD, 15, interval=0.3,
                         what="the citizen's voice at the supervisor's phone")
        status, ended = api("DELETE", f"/calls/{call['call_id']}/supervision")
        assert status == 200 and ended["ended"] == [session["session_id"]]
        assert await sup.wait(15) == 0, sup.output()   # hung up with a BYE
        assert await citizen.wait(30) == 0, citizen.output()
        trail = await audit_of(settings, call["call_id"])
        assert [(e["actor"], e["action"]) for e in reversed(trail)] == [
            ("supervisor12345", "supervision_started"), ("supervisor12345", "supervision_ended")]
        assert trail[0]["detail"]["mode"] == "listen" and trail[0]["detail"]["seat"] == "1091"
    finally:
        ear.close()
        citizen.stop()


async def test_a_whisper_reaches_the_agent_and_never_the_citizen(
        settings, seats, supervisor_phone, speech, tmp_path):
    agent_ear, citizen_ear = await RtpProbe.open(SEAT_IP), await RtpProbe.open(CITIZEN_IP)
    agent = await seats("2004", probe_answer_scenario(tmp_path / "agent.xml", SEAT_IP,
                                                      agent_ear.port))
    sup = await supervisor_phone("2091", agent_scenario(
        tmp_path / "sup.xml", [("pause", 300), ("audio", str(speech))]))
    target = settings.site("110")
    citizen = await start_sipp(
        str(probe_citizen_scenario(tmp_path / "citizen.xml", CITIZEN_IP, citizen_ear.port,
                                   [("pause", 15000)])),
        f"{target.address}:{target.sip_port}", local_ip=CITIZEN_IP, service="110",
        variables={"citizen": "13512345678"}, timeout_s=90)
    try:
        invite = await wait_until(lambda: agent.received("INVITE"), 10, what="agent rung")
        agent_ear.talk_to(sdp_media(invite[0].body))
        ok = await wait_until(lambda: [m for m in citizen.messages()
                                       if m.start_line.startswith("SIP/2.0 200")], 10,
                              what="the citizen answered")
        citizen_ear.talk_to(sdp_media(ok[0].body))
        call = await live_call("110", "13512345678")
        await asyncio.sleep(1.0)   # music on hold is over; both phones send silence
        agent_ear.payloads.clear()
        citizen_ear.payloads.clear()
        status, session = api("POST", f"/calls/{call['call_id']}/supervision",
                              {"mode": "whisper", "seat": "2091"})
        assert status == 201, session
        await wait_until(lambda: agent_ear.rms() > LOUD, 20, interval=0.3,
                         what="the supervisor's voice at the agent's phone")
        await asyncio.sleep(3.0)   # more of the whisper: the citizen must still hear nothing
        assert len(citizen_ear.payloads) > 100   # the citizen's phone does receive audio
        assert citizen_ear.rms() < QUIET, citizen_ear.rms()
        assert api("DELETE", f"/calls/{call['call_id']}/supervision")[0] == 200
        assert await sup.wait(15) == 0, sup.output()   # hung up with a BYE
        assert await citizen.wait(30) == 0, citizen.output()   # hangs up: nothing left over
    finally:
        agent_ear.close()
        citizen_ear.close()
        citizen.stop()


async def test_a_barge_is_heard_by_the_citizen_too(
        settings, seats, supervisor_phone, speech, tmp_path):
    citizen_ear = await RtpProbe.open(CITIZEN_IP)
    await seats("2005")
    sup = await supervisor_phone("2092", agent_scenario(
        tmp_path / "sup.xml", [("pause", 300), ("audio", str(speech))]))
    target = settings.site("110")
    citizen = await start_sipp(
        str(probe_citizen_scenario(tmp_path / "citizen.xml", CITIZEN_IP, citizen_ear.port,
                                   [("pause", 15000)])),
        f"{target.address}:{target.sip_port}", local_ip=CITIZEN_IP, service="110",
        variables={"citizen": "13412345678"}, timeout_s=90)
    try:
        ok = await wait_until(lambda: [m for m in citizen.messages()
                                       if m.start_line.startswith("SIP/2.0 200")], 10,
                              what="the citizen answered")
        citizen_ear.talk_to(sdp_media(ok[0].body))
        call = await live_call("110", "13412345678")
        await asyncio.sleep(1.0)
        citizen_ear.payloads.clear()
        status, session = api("POST", f"/calls/{call['call_id']}/supervision",
                              {"mode": "barge", "seat": "2092"})
        assert status == 201, session
        await wait_until(lambda: citizen_ear.rms() > LOUD, 20, interval=0.3,
                         what="the supervisor's voice at the citizen's phone")
        assert api("DELETE", f"/calls/{call['call_id']}/supervision")[0] == 200
        assert await sup.wait(15) == 0, sup.output()
        trail = await audit_of(settings, call["call_id"])
        assert {e["detail"]["mode"] for e in trail} == {"barge"}
        assert await citizen.wait(30) == 0, citizen.output()
    finally:
        citizen_ear.close()
        citizen.stop()
