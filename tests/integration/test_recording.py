"""Recording every call (issue 18), through the real lab: a SIPp citizen speaks (espeak-ng
audio as RTP), the bridge's recording is read back through the API as WAV and measured
with sox; a hand-over links both platforms' recordings to both orders; access by role,
every access in the audit; retention deletes the audio and keeps the audit line."""
from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from telephony.lab.rtp_pcap import spoken_wav, write_audio_pcap
from telephony.lab.sipp import agent_scenario, citizen_scenario, start_sipp
from tests.integration.conftest import CITIZEN_IP, assert_site_clean, hotline_cli, wait_until

pytestmark = pytest.mark.integration

CITIZEN = "13712345678"
BASE = "http://127.0.0.1:8080/api/v1"
TOKENS = {"supervisor": "lab-token-supervisor", "supervisor12345": "lab-token-supervisor12345",
          "agent1001": "lab-token-agent1001", "agent1002": "lab-token-agent1002",
          "agent2001": "lab-token-agent2001"}
RMS_FLOOR = 0.01   # speech at espeak-ng's level is ~0.1; a silent mix is ~0.0


def api(path: str, user: str) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(f"{BASE}{path}", headers={
        "Authorization": f"Bearer {user}:{TOKENS[user]}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def api_json(path: str, user: str) -> dict:
    status, body, _ = api(path, user)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def sent_and_received_at(run, sent: str, received: str) -> float:
    """Seconds between the UA sending a message starting `sent` and receiving one starting
    `received`, by SIPp's own trace timestamps."""
    text = run.message_log.read_text(errors="replace")
    stamps = {}
    for block in re.split(r"^(?=-{10,})", text, flags=re.MULTILINE):
        stamp = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", block.split("\n", 1)[0])
        direction = re.search(r"message (sent|received)", block)
        if not (stamp and direction):
            continue
        start = block[direction.end():].strip().split("\n", 1)[-1].lstrip()
        for key, want in (("sent", sent), ("received", received)):
            if direction.group(1) == key and start.startswith(want) and key not in stamps:
                stamps[key] = datetime.fromisoformat(stamp.group(1)).timestamp()
    return stamps["received"] - stamps["sent"]


def sox_rms(path: Path, after_s: float = 0.0) -> float:
    """RMS amplitude of the file, from `after_s` on."""
    out = subprocess.run(["sox", str(path), "-n", "trim", f"{after_s:.2f}", "stat"],
                         capture_output=True, text=True, check=True).stderr
    return float(re.search(r"RMS\s+amplitude:\s+([0-9.]+)", out).group(1))


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    wav = spoken_wav(folder / "citizen.wav", "你好，我家楼下的路灯坏了好几天了，晚上很黑，请派人来修一下。")
    return write_audio_pcap(folder / "citizen.pcap", wav)


async def speaking_citizen(settings, tmp_path: Path, speech: Path, service: str,
                           hold_ms: int):
    target = settings.site(service)
    scenario = citizen_scenario(tmp_path / "citizen.xml", [
        ("pause", 1500), ("audio", str(speech)), ("pause", hold_ms)])
    return await start_sipp(str(scenario), f"{target.address}:{target.sip_port}",
                            local_ip=CITIZEN_IP, service=service,
                            variables={"citizen": CITIZEN}, timeout_s=90)


async def recordings_of(path: str, count: int, user: str = "supervisor") -> list[dict]:
    """The listing once `count` recordings are there, each ended with its audio."""
    def ready():
        found = api_json(path, user)["recordings"]
        done = [r for r in found if r["ended_at"] and r["available"] and r["duration_s"]]
        return found if len(done) >= count else None
    return await wait_until(ready, 20, interval=0.3, what=f"{count} recordings at {path}")


@pytest.fixture
def announcement_s(lab) -> float:
    """How long site 12345's announcement plays at the start of each recording."""
    from services.recordings.library import wav_seconds
    from telephony.prompts import SOUND_DIR

    return wav_seconds(lab.runtime.host_path(SOUND_DIR) / "recorded.wav")


async def test_a_call_is_recorded_whole_and_not_silent_and_heard_only_by_its_own(
        settings, seats, probes, speech, tmp_path, announcement_s):
    agent = await seats("1001")
    citizen = await speaking_citizen(settings, tmp_path, speech, "12345", hold_ms=9000)
    assert await citizen.wait(40) == 0, citizen.output()
    assert await agent.wait(20) == 0, agent.output()
    order = agent.received("INVITE")[0].header("X-Work-Order")
    talked = sent_and_received_at(agent, "SIP/2.0 200", "BYE")

    (recording,) = await recordings_of(f"/orders/{order}/recordings", 1)
    assert recording["site"] == "12345" and recording["seats"] == ["1001"]
    assert recording["order_ids"] == [order]
    call_id = recording["call_id"]
    assert [r["recording_id"] for r in api_json(f"/calls/{call_id}/recordings",
                                                "agent1001")["recordings"]] == [
        recording["recording_id"]]

    rid = recording["recording_id"]
    status, audio, headers = api(f"/recordings/{rid}/audio", "agent1001")
    assert status == 200 and headers["Content-Type"] == "audio/wav"
    wav = tmp_path / "heard.wav"
    wav.write_bytes(audio)
    assert abs(recording["duration_s"] - talked) < 1.0, (recording["duration_s"], talked)
    # the citizen's voice, after the announcement that opens every 12345 recording
    assert sox_rms(wav, after_s=announcement_s + 0.5) > RMS_FLOOR, (
        sox_rms(wav, after_s=announcement_s + 0.5), announcement_s)

    # another agent: 403, on the audio, the row and the call's list, and no byte sent
    for path in (f"/recordings/{rid}/audio", f"/recordings/{rid}", f"/calls/{call_id}/recordings"):
        status, body, _ = api(path, "agent1002")
        assert status == 403, (path, status, body[:200])
        assert json.loads(body)["error_id"] == "not_your_recording"
    status, _, headers = api(f"/recordings/{rid}/audio?download=true", "supervisor12345")
    assert status == 200 and "attachment" in headers["Content-Disposition"]

    trail = api_json(f"/recordings/{rid}/audit", "supervisor")["entries"]
    seen = {(e["actor"], e["action"]) for e in trail}
    assert {("agent1001", "listen"), ("agent1002", "refused"),
            ("supervisor12345", "download")} <= seen, seen
    await assert_site_clean(probes["12345"])


async def test_after_a_hand_over_both_platforms_recordings_are_linked_to_both_orders(
        settings, seats, probes, speech, tmp_path):
    agent = await seats("1002", agent_scenario(tmp_path / "agent.xml",
                                               [("pause", 3000), ("info", "*1")]))
    target = await seats("2002")
    citizen = await speaking_citizen(settings, tmp_path, speech, "12345", hold_ms=9000)
    assert await citizen.wait(40) == 0, citizen.output()
    assert await agent.wait(20) == 0, agent.output()
    assert await target.wait(20) == 0, target.output()
    order = agent.received("INVITE")[0].header("X-Work-Order")
    linked = target.received("INVITE")[0].header("X-Work-Order")
    assert linked.startswith("PO-") and order.startswith("WO-")

    mine = await recordings_of(f"/orders/{order}/recordings", 2)
    theirs = await recordings_of(f"/orders/{linked}/recordings", 2)
    assert sorted(r["recording_id"] for r in mine) == sorted(r["recording_id"] for r in theirs)
    by_site = {r["site"]: r for r in mine}
    assert set(by_site) == {"12345", "110"}
    assert by_site["12345"]["seats"] == ["1002"] and by_site["110"]["seats"] == ["2002"]
    for r in mine:
        assert sorted(r["order_ids"]) == sorted([order, linked])
    # the 110 part holds the citizen's voice too, carried over the trunk; it is 2002's,
    # not 2001's
    part = by_site["110"]["recording_id"]
    assert api(f"/recordings/{part}/audio", "agent2001")[0] == 403
    status, audio, _ = api(f"/recordings/{part}/audio", "supervisor")
    assert status == 200
    (tmp_path / "110.wav").write_bytes(audio)
    assert sox_rms(tmp_path / "110.wav") > RMS_FLOOR
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])


async def test_retention_deletes_the_audio_and_keeps_the_audit_line(
        settings, seats, speech, tmp_path):
    agent = await seats("1001")
    citizen = await speaking_citizen(settings, tmp_path, speech, "12345", hold_ms=2000)
    assert await citizen.wait(40) == 0, citizen.output()
    assert await agent.wait(20) == 0, agent.output()
    order = agent.received("INVITE")[0].header("X-Work-Order")
    (recording,) = await recordings_of(f"/orders/{order}/recordings", 1)
    rid = recording["recording_id"]
    assert api(f"/recordings/{rid}/audio", "supervisor")[0] == 200

    # 12345 keeps audio 180 days: a day short of that it stays, a day past it goes
    now = datetime.now(UTC)
    early = json.loads(hotline_cli("recordings", "expire", "--at",
                                   (now + timedelta(days=179)).isoformat()))
    assert rid not in early["expired"]
    assert api(f"/recordings/{rid}/audio", "supervisor")[0] == 200
    late = json.loads(hotline_cli("recordings", "expire", "--at",
                                  (now + timedelta(days=181)).isoformat()))
    assert rid in late["expired"]

    after = api_json(f"/recordings/{rid}", "supervisor")
    assert after["deleted"] is True and after["available"] is False
    status, body, _ = api(f"/recordings/{rid}/audio", "supervisor")
    assert status == 410 and json.loads(body)["error_id"] == "audio_unavailable"
    trail = api_json(f"/recordings/{rid}/audit", "supervisor")["entries"]
    expired = [e for e in trail if e["action"] == "expired"]
    assert len(expired) == 1 and expired[0]["actor"] == "retention"
    assert expired[0]["detail"]["file_existed"] is True
    assert any(e["action"] == "listen" for e in trail)   # the earlier listen is kept
