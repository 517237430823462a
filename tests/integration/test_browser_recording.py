"""The desk plays its call's recording and the board starts a listen-in, in real headless
Chromium against the real lab (issue 18): the recording is fetched with the session and
decoded by the browser; the listen-in rings the supervisor's SIPp softphone. Screenshots
(recording-desk.png, listen-board.png) go to docs/screenshots/ with
HOTLINE_UPDATE_SCREENSHOTS=1."""
from __future__ import annotations

import pytest

from tests.integration.conftest import citizen_call, wait_until
from tests.integration.test_browser import SCREENSHOTS, browser, log_in  # noqa: F401
from tests.integration.test_supervision import api, audit_of, supervisor_phone  # noqa: F401

pytestmark = pytest.mark.integration

CITIZEN = "13312345678"


async def test_the_board_starts_a_listen_in_and_the_desk_plays_the_recording(
        settings, seats, supervisor_phone, browser, tmp_path):  # noqa: F811
    from telephony.lab.sipp import agent_scenario

    base = f"http://{settings.api_host}:{settings.api_port}"
    await seats("1001")
    sup_phone = await supervisor_phone("1091", agent_scenario(tmp_path / "sup.xml", []))
    desk = await browser.new_page()
    await log_in(desk, base, "/desk", "agent1001", "lab-agent1001")
    board = await browser.new_page()
    await log_in(board, base, "/board", "supervisor12345", "lab-supervisor12345")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=12_000)
    await desk.wait_for_selector(f"#caller-number:text-is('{CITIZEN}')", timeout=15_000)

    row = board.locator("#calls-table tr[data-state='connected']").first
    await row.wait_for(timeout=15_000)
    call_id = await row.get_attribute("data-call")
    assert await board.input_value("#my-seat") == "1091"   # the user's own supervisor seat
    await row.locator("button.supervise-listen").click()
    await wait_until(lambda: sup_phone.received("INVITE"), 10, what="the supervisor's phone rung")
    await board.wait_for_selector("#supervision-notice:has-text('已接入 joined')", timeout=10_000)
    await board.screenshot(path=str(SCREENSHOTS / "listen-board.png"), full_page=True)
    await row.locator("button.supervise-end").click()
    assert await sup_phone.wait(15) == 0, sup_phone.output()
    assert await citizen.wait(40) == 0, citizen.output()

    await wait_until(lambda: api("GET", f"/calls/{call_id}/recordings")[1]["recordings"]
                     and api("GET", f"/calls/{call_id}/recordings")[1]["recordings"][0]["ended_at"],
                     15, interval=0.3, what="the recording ended")
    await desk.click("#recordings-refresh")
    play = desk.locator("#recordings button.play").first
    await play.wait_for(timeout=10_000)
    await play.click()
    await desk.wait_for_function(
        "() => { const p = document.getElementById('desk-player');"
        " return p.src.startsWith('blob:') && p.duration > 1; }", timeout=10_000)
    played = await desk.evaluate("document.getElementById('desk-player').dataset.recording")
    await desk.screenshot(path=str(SCREENSHOTS / "recording-desk.png"), full_page=True)
    trail = await audit_of(settings, call_id)
    assert ("agent1001", "listen", played) in {(e["actor"], e["action"], e["recording_id"])
                                                for e in trail}
    assert ("supervisor12345", "supervision_started") in {(e["actor"], e["action"])
                                                          for e in trail}
