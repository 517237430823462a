"""Surge mode: every seat busy past the threshold; waiting callers hear a menu,
press 1 for the FAQ (一问一答) or 2 for a callback, or stay on."""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from telephony.lab.rtp_audio import find_prompt, record_rtp, wav_samples
from telephony.lab.sipp import citizen_scenario, free_udp_port, start_sipp
from telephony.prompts import SOUND_DIR
from tests.integration.conftest import CITIZEN_IP, citizen_call, hotline_cli, wait_until

pytestmark = pytest.mark.integration


def journal() -> list[dict]:
    with urllib.request.urlopen("http://127.0.0.1:8080/lab/journal", timeout=2) as resp:
        return json.loads(resp.read())


async def test_waiting_callers_reach_the_faq_and_the_callback_by_dtmf(
        settings, seats, orders, tmp_path):
    site = settings.site("12345")
    seat = await seats("1008")
    busy = await citizen_call(settings, "12345", "13500000001", hold_ms=9000)
    await wait_until(lambda: seat.received("INVITE"), 10, what="the only seat is busy")

    faq = await start_sipp(
        str(citizen_scenario(tmp_path / "faq.xml", [("pause", 5000), ("info", "1"),
                                                     ("pause", 1500)])),
        f"{site.address}:{site.sip_port}", local_ip=CITIZEN_IP, service="12345",
        variables={"citizen": "13500000002"}, timeout_s=60, name="citizen-faq")
    callback = await start_sipp(
        str(citizen_scenario(tmp_path / "cb.xml", [("pause", 5000), ("info", "2")],
                             hang_up=False)),
        f"{site.address}:{site.sip_port}", local_ip=CITIZEN_IP, service="12345",
        variables={"citizen": "13500000003"}, timeout_s=60, name="citizen-callback")

    assert await faq.wait(60) == 0, faq.output()
    assert await callback.wait(60) == 0, callback.output()   # we said goodbye and hung up
    assert await busy.wait(60) == 0, busy.output()

    def entries(kind):
        return [e for e in journal() if e["kind"] == kind and e["site"] == "12345"]
    offered = {e["order"] for e in entries("surge_offered")}
    faq_order = next(e["order"] for e in entries("faq_played"))
    callback_order = next(e["order"] for e in entries("callback_requested"))
    assert {faq_order, callback_order} <= offered
    record = await orders(callback_order, until=lambda r: "[回拨" in (r["summary"] or ""))
    assert record["citizen_number"] == "13500000003"
    assert not [e for e in entries("abandoned") if e["order"] == callback_order]


# ---- the FAQ from the knowledge base (issue 20, item 4) ---------------------------------
SUPERVISOR = {"Authorization": "Bearer supervisor:lab-token-supervisor"}
LOUD = 500.0          # RMS of 16-bit samples: espeak's speech is several thousand, silence 0
TOLERANCE_S = 0.5     # the answer heard against the rendered WAV's length


def api(path: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:8080/api/v1{path}", headers=SUPERVISOR)
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def wav_seconds(path: Path) -> float:
    return len(wav_samples(path)) / 8000


@pytest.fixture
async def kb_uses(settings):
    """The knowledge base's recorded uses of an entry, read through its tables."""
    from sqlalchemy import select

    from services.knowledge.models import KbUse
    from services.work_orders import db

    engine = db.make_engine(settings.db_url or db.default_url(settings.data_dir))
    sessions = db.make_session_factory(engine)

    async def uses(entry_id: str) -> list[dict]:
        async with sessions() as session:
            rows = await session.scalars(select(KbUse).where(KbUse.entry_id == entry_id))
            return [{k: getattr(r, k) for k in ("actor", "channel", "call_id", "order_id",
                                                "region_code", "outcome")} for r in rows]
    yield uses
    await engine.dispose()


async def test_surge_faq_plays_the_regions_kb_answer_then_2_books_a_callback(
        lab, settings, seats, orders, kb_uses, tmp_path):
    """Overflow forced on, no seat free anywhere: surge. The caller presses 1 and hears the
    region's most-used rendered answer (its RTP carries the WAV, loud, whole), then presses
    2: a callback on its order, and the choice recorded as the entry's IVR use."""
    site, sounds = settings.site("12345"), Path(lab.runtime.host_path(SOUND_DIR))
    # a fresh lab renders its seed in the background: wait for a full menu
    await wait_until(lambda: (lab.health() or {}).get("faq", {}).get("12345", {})
                     .get("answers", 0) >= 3, 300, interval=1.0,
                     what="the 12345 FAQ menu built from three rendered KB answers")
    menu = api(f"/kb/faq?region={site.region_code}&size=3")["items"]
    longest = max(wav_seconds(sounds / f"{i['audio'].removeprefix('hotline/')}.wav")
                  for i in menu)
    choice_s = wav_seconds(sounds / "answer-choice.wav")
    assert "forced on" in hotline_cli("overflow", "on", "--site", "12345",
                                      "--reason", "surge FAQ test")
    rtp_port = free_udp_port(CITIZEN_IP)
    transport, heard = await record_rtp(CITIZEN_IP, rtp_port)
    started = time.time()
    try:
        scenario = citizen_scenario(tmp_path / "kb.xml", [
            ("pause", 7000), ("info", "1"),
            ("pause", int((longest + choice_s + 1.5) * 1000)), ("info", "2")], hang_up=False)
        # the SDP names the recorder's port: Asterisk sends this call's audio there
        scenario.write_text(scenario.read_text().replace("m=audio [media_port]",
                                                         f"m=audio {rtp_port}"))
        caller = await start_sipp(str(scenario), f"{site.address}:{site.sip_port}",
                                  local_ip=CITIZEN_IP, service="12345",
                                  variables={"citizen": "13500000009"}, timeout_s=90,
                                  name="citizen-kb-faq")
        assert await caller.wait(90) == 0, caller.output()   # goodbye after the callback
    finally:
        transport.close()
        hotline_cli("overflow", "auto", "--site", "12345", "--reason", "surge FAQ test over")

    mine = [e for e in journal() if e["at"] >= started and e["site"] == "12345"]
    played = next(e for e in mine if e["kind"] == "faq_played")
    assert played["detail"]["source"] == "kb", played
    entry_id, media = played["detail"]["entry_id"], played["detail"]["media"]
    answer = sounds / f"{media.removeprefix('sound:hotline/')}.wav"

    found = find_prompt(heard.audio(), wav_samples(answer))
    print(f"{entry_id}: rendered {wav_seconds(answer):.2f} s; heard {found.heard_s:.2f} s from "
          f"{found.start_s:.2f} s into the call, {found.matched}/{found.frames} frames match, "
          f"RMS {found.rms:.0f}")
    assert found.rms > LOUD, found
    assert found.share > 0.9, found
    assert abs(found.heard_s - wav_seconds(answer)) <= TOLERANCE_S, (found, wav_seconds(answer))

    chosen = next(e for e in mine if e["kind"] == "faq_choice")
    assert chosen["detail"] == {"entry_id": entry_id, "outcome": "callback"}
    order_id, call_id = chosen["order"], chosen["call"]
    record = await orders(order_id, until=lambda r: "[回拨" in (r["summary"] or ""))
    assert record["citizen_number"] == "13500000009"
    uses = await wait_until(lambda: kb_uses(entry_id), 15, interval=0.2,
                            what=f"the IVR's use of {entry_id} recorded")
    assert {"actor": "ivr", "channel": "ivr", "call_id": call_id, "order_id": order_id,
            "region_code": site.region_code, "outcome": "callback"} in uses
