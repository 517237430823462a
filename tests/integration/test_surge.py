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
from tests.integration.conftest import (
    CITIZEN_IP,
    citizen_call,
    hotline_cli,
    lab_api,
    wait_until,
)

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
LOUD = 500.0          # RMS of 16-bit samples: espeak's speech is several thousand, silence 0
TOLERANCE_S = 0.5     # the answer heard against the rendered WAV's length
CHOICE_AFTER_S = 3.0   # from the answer's end to the caller's 2, inside the choice prompt


def wav_seconds(path: Path) -> float:
    return len(wav_samples(path)) / 8000


async def lead_with_the_shortest_answer(lab, region: str, sounds: Path,
                                        kb_audio) -> tuple[str, float]:
    """Record desk uses of the region's shortest rendered answer until it is the most used,
    and wait until the controller's menu (refreshed every few seconds) starts with it."""
    rendered = await kb_audio(region)
    length = {entry: wav_seconds(sounds / f"{audio.removeprefix('hotline/')}.wav")
              for entry, audio, _ in rendered}
    shortest = min(length, key=length.__getitem__)
    uses = {entry: n for entry, _, n in rendered}
    for _ in range(max(uses.values()) - uses[shortest] + 1):
        status, body = lab_api("POST", f"/kb/entries/{shortest}/uses", "supervisor",
                               {"channel": "desk"})
        assert status == 201, body

    def leading() -> bool:
        faq = (lab.health() or {}).get("faq", {}).get("12345", {})
        return (faq.get("entries") or [None])[0] == shortest
    await wait_until(leading, 60, interval=0.5,
                     what=f"the 12345 FAQ menu led by the shortest answer {shortest}")
    return shortest, length[shortest]


@pytest.fixture
async def kb_sessions(settings):
    """Sessions on the lab's order database, where the knowledge base's tables are."""
    from services.work_orders import db

    engine = db.make_engine(settings.db_url or db.default_url(settings.data_dir))
    yield db.make_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def kb_uses(kb_sessions):
    """The knowledge base's recorded uses of an entry, read through its tables."""
    from sqlalchemy import select

    from services.knowledge.models import KbUse

    async def uses(entry_id: str) -> list[dict]:
        async with kb_sessions() as session:
            rows = await session.scalars(select(KbUse).where(KbUse.entry_id == entry_id))
            return [{k: getattr(r, k) for k in ("actor", "channel", "call_id", "order_id",
                                                "region_code", "outcome")} for r in rows]
    return uses


@pytest.fixture
def kb_audio(kb_sessions):
    """A region's published entries that have audio: (entry id, audio, uses)."""
    from sqlalchemy import select

    from services.knowledge.models import KbEntry

    async def rendered(region: str) -> list[tuple[str, str, int]]:
        async with kb_sessions() as session:
            rows = await session.execute(select(KbEntry.entry_id, KbEntry.audio, KbEntry.uses)
                                         .where(KbEntry.region_code == region,
                                                KbEntry.status == "published",
                                                KbEntry.audio.is_not(None)))
            return [tuple(r) for r in rows]
    return rendered


async def recorded_caller(settings, tmp_path, number: str, steps: list):
    """A SIPp citizen whose SDP names a recorder's port: Asterisk sends its audio there."""
    site = settings.site("12345")
    rtp_port = free_udp_port(CITIZEN_IP)
    transport, heard = await record_rtp(CITIZEN_IP, rtp_port)
    scenario = citizen_scenario(tmp_path / f"{number}.xml", steps, hang_up=False)
    scenario.write_text(scenario.read_text().replace("m=audio [media_port]",
                                                     f"m=audio {rtp_port}"))
    caller = await start_sipp(str(scenario), f"{site.address}:{site.sip_port}",
                              local_ip=CITIZEN_IP, service="12345",
                              variables={"citizen": number}, timeout_s=120,
                              name=f"citizen-kb-{number}")
    return caller, transport, heard


def heard_report(what: str, found, wav_s: float) -> str:
    return (f"{what}: rendered {wav_s:.2f} s; heard {found.heard_s:.2f} s from "
            f"{found.start_s:.2f} s into the call, {found.matched}/{found.frames} frames "
            f"match, RMS {found.rms:.0f}")


async def test_surge_faq_plays_the_regions_kb_answer_then_2_books_a_callback(
        lab, settings, seats, orders, kb_uses, kb_audio, tmp_path):
    """Overflow forced on, no seat free anywhere: surge. A caller presses 1 and hears the
    region's most-used rendered answer (its RTP carries the WAV, loud, whole), then presses
    2 during the choice prompt: a callback on its order, and the choice recorded as the
    entry's IVR use. Another presses 0 during the answer: it stops, a thank-you is heard
    whole, we hang up, and the order says the FAQ answered (no callback owed)."""
    site, sounds = settings.site("12345"), Path(lab.runtime.host_path(SOUND_DIR))
    # a fresh lab renders its seed in the background: wait for a full menu
    await wait_until(lambda: (lab.health() or {}).get("faq", {}).get("12345", {})
                     .get("answers", 0) >= 3, 300, interval=1.0,
                     what="the 12345 FAQ menu built from three rendered KB answers")
    # The seed's first answers run 45-50 s; a caller who chooses after hearing one whole
    # would hold the suite that long. The shortest rendered answer is made the region's
    # most used, so it leads the menu the caller hears.
    shortest, answer_s = await lead_with_the_shortest_answer(lab, site.region_code, sounds,
                                                             kb_audio)
    assert "forced on" in hotline_cli("overflow", "on", "--site", "12345",
                                      "--reason", "surge FAQ test")
    started, transports = time.time(), []
    try:
        callback, transport, heard = await recorded_caller(settings, tmp_path, "13500000009", [
            # 2 a few seconds into the 13 s choice prompt: the answer heard whole, and a
            # key that need not wait for the prompt's end
            ("pause", 7000), ("info", "1"),
            ("pause", int((answer_s + CHOICE_AFTER_S) * 1000)), ("info", "2")])
        transports.append(transport)
        helped, transport, heard_helped = await recorded_caller(
            settings, tmp_path, "13500000010", [("pause", 7000), ("info", "1"),
                                                ("pause", 3000), ("info", "0")])
        transports.append(transport)
        assert await helped.wait(120) == 0, helped.output()       # thanks, then our BYE
        assert await callback.wait(120) == 0, callback.output()   # goodbye after the callback
    finally:
        for transport in transports:
            transport.close()
        hotline_cli("overflow", "auto", "--site", "12345", "--reason", "surge FAQ test over")

    mine = [e for e in journal() if e["at"] >= started and e["site"] == "12345"]
    choices = {e["detail"]["outcome"]: e for e in mine if e["kind"] == "faq_choice"}
    assert set(choices) == {"callback", "helped"}, mine

    # 2: the whole answer was heard, then the callback
    chosen = choices["callback"]
    played = next(e for e in mine if e["kind"] == "faq_played" and e["call"] == chosen["call"])
    assert played["detail"]["source"] == "kb", played
    entry_id, media = played["detail"]["entry_id"], played["detail"]["media"]
    assert entry_id == shortest, (entry_id, shortest)   # what the caller's pause was made for
    assert chosen["detail"] == {"entry_id": entry_id, "outcome": "callback"}
    answer = sounds / f"{media.removeprefix('sound:hotline/')}.wav"
    found = find_prompt(heard.audio(), wav_samples(answer))
    print(heard_report(entry_id, found, wav_seconds(answer)))
    assert found.rms > LOUD, found
    assert found.share > 0.9, found
    assert abs(found.heard_s - wav_seconds(answer)) <= TOLERANCE_S, (found, wav_seconds(answer))
    order_id, call_id = chosen["order"], chosen["call"]
    record = await orders(order_id, until=lambda r: "[回拨" in (r["summary"] or ""))
    assert record["citizen_number"] == "13500000009"

    async def use_of(entry: str, call: str) -> list[dict]:
        return [u for u in await kb_uses(entry) if u["call_id"] == call]
    assert await wait_until(lambda: use_of(entry_id, call_id), 15, interval=0.2,
                            what=f"the IVR's use of {entry_id} recorded") == [
        {"actor": "ivr", "channel": "ivr", "call_id": call_id, "order_id": order_id,
         "region_code": site.region_code, "outcome": "callback"}]

    # 0: the answer stopped, the thank-you heard whole, no callback owed
    chosen = choices["helped"]
    played = next(e for e in mine if e["kind"] == "faq_played" and e["call"] == chosen["call"])
    answer = sounds / f"{played['detail']['media'].removeprefix('sound:hotline/')}.wav"
    cut = find_prompt(heard_helped.audio(), wav_samples(answer))
    thanks_wav = sounds / "answer-thanks.wav"
    thanks = find_prompt(heard_helped.audio(), wav_samples(thanks_wav))
    print(heard_report("answer, then 0", cut, wav_seconds(answer)))
    print(heard_report("answer-thanks", thanks, wav_seconds(thanks_wav)))
    assert cut.rms > LOUD and cut.heard_s < wav_seconds(answer) / 2, cut
    # 0 answered it: the thank-you follows where the answer stopped, not after its end
    assert abs(cut.start_s + cut.heard_s - thanks.start_s) <= TOLERANCE_S, (cut, thanks)
    assert thanks.share > 0.9 and thanks.rms > LOUD, thanks
    record = await orders(chosen["order"], until=lambda r: "[一问一答" in (r["summary"] or ""))
    assert record["citizen_number"] == "13500000010" and "[回拨" not in record["summary"]
    assert not [e for e in mine if e["kind"] == "abandoned" and e["call"] == chosen["call"]]
    assert (await wait_until(lambda: use_of(played["detail"]["entry_id"], chosen["call"]), 15,
                             interval=0.2, what="the helped choice recorded"))[0]["outcome"] \
        == "helped"
