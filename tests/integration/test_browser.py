"""The agent desktop and the supervisor board in real headless Chromium (Debian's
`chromium`, driven by Playwright with its executable path; no browser download),
against the real lab: a SIPp citizen calls 12345, the pop-up shows with the routing
suggestion, the agent clicks "hand over to 110", SIPp seat 2001 receives the
citizen's number, and the board shows the change. Screenshots go to docs/screenshots/
with HOTLINE_UPDATE_SCREENSHOTS=1."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from telephony.settings import REPO_ROOT
from tests.integration.conftest import citizen_call, wait_until

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip("playwright.async_api")

CITIZEN = "13800138000"
# docs/screenshots is refreshed on request (HOTLINE_UPDATE_SCREENSHOTS=1), so a
# test run leaves the checkout as it found it; otherwise pictures go to a temp dir
SCREENSHOTS = (REPO_ROOT / "docs" / "screenshots" if os.environ.get("HOTLINE_UPDATE_SCREENSHOTS")
               == "1" else Path(tempfile.mkdtemp(prefix="hotline-screenshots-")))
# Chromium as root on a machine with a closed network (see the machine notes)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def chromium_path() -> str:
    path = os.environ.get("HOTLINE_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
async def browser(tmp_path: Path):
    async with playwright_api.async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium_path(), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1360, "height": 900}, locale="zh-CN")
        yield context
        await context.close()


async def log_in(page, base: str, path: str, user: str, password: str) -> None:
    await page.goto(f"{base}{path}")
    await page.fill("#login-user", user)
    await page.fill("#login-password", password)
    await page.click("#login-submit")
    await page.wait_for_selector("#conn.live", timeout=10_000)


async def test_agent_hands_a_call_over_to_110_from_the_desktop_and_the_board_shows_it(
        settings, seats, browser):
    base = f"http://{settings.api_host}:{settings.api_port}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    agent_ua = await seats("1001")        # answers, then waits for the BYE of its release
    target_ua = await seats("2001")

    desk = await browser.new_page()
    await log_in(desk, base, "/desk", "agent1001", "lab-agent1001")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=25_000)

    # the pop-up: the agent on the call sees the whole number, and the suggestion's reasons
    # selectors, not wait_for_function: the pages' CSP forbids eval, and the test runs
    # under the same CSP as any desk
    await desk.wait_for_selector(f"#caller-number:text-is('{CITIZEN}')", timeout=15_000)
    await desk.wait_for_selector("#suggestion-reasons li", timeout=15_000)
    assert await desk.is_enabled("#act-transfer")
    # the order form: a summary re-routes (POST /suggestions) and is saved (PATCH)
    await desk.fill("#f-summary", "小区门口有人打架，有人受伤")
    await desk.wait_for_selector("#suggestion-edited", timeout=10_000)
    await desk.select_option("#f-category", "dispute")
    await desk.click("#f-save")
    await desk.wait_for_selector("#f-notice:text-matches('^已保存')", timeout=10_000)
    await desk.screenshot(path=str(SCREENSHOTS / "desk.png"), full_page=True)

    await desk.click("#act-transfer")
    await desk.wait_for_selector("#call-state .st-handed_over", timeout=20_000)

    # the supervisor's board: the 110 seat busy with the handed-over call
    board = await browser.new_page()
    await log_in(board, base, "/board", "supervisor", "lab-supervisor")
    await board.wait_for_selector("#seat-2001[data-state=busy]", timeout=10_000)
    await board.wait_for_selector("#calls-table tr[data-state=handed_over]", timeout=10_000)
    await board.wait_for_selector("#hotspot-chart rect", timeout=10_000)
    await board.screenshot(path=str(SCREENSHOTS / "board.png"), full_page=True)

    assert await agent_ua.wait(30) == 0, agent_ua.output()   # released with a BYE
    assert await citizen.wait(40) == 0, citizen.output()
    assert await target_ua.wait(30) == 0, target_ua.output()
    invite = target_ua.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in invite.header("From")
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    assert invite.header("X-Work-Order").startswith("PO-")
    # once the call ends, the board shows the 110 seat free again
    await wait_until(lambda: board.is_visible("#seat-2001[data-state=available]"), 15,
                     what="seat 2001 free on the board")
