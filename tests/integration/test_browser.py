"""The agent desktop and the supervisor board in real headless Chromium (Debian's
`chromium`, driven by Playwright with its executable path; no browser download),
against the real lab: a SIPp citizen calls 12345, the pop-up shows with the routing
suggestion, the agent clicks "hand over to 110", SIPp seat 2001 receives the
citizen's number, and the board shows the change. Screenshots go to docs/screenshots/
with HOTLINE_UPDATE_SCREENSHOTS=1."""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import aiohttp
import pytest

from telephony.settings import REPO_ROOT
from tests.integration.conftest import hang_up, held_citizen, wait_until

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
        settings, seats, browser, tmp_path):
    base = f"http://{settings.api_host}:{settings.api_port}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    agent_ua = await seats("1001")        # answers, then waits for the BYE of its release
    target_ua = await seats("2001")

    desk = await browser.new_page()
    await log_in(desk, base, "/desk", "agent1001", "lab-agent1001")
    citizen = await held_citizen(settings, CITIZEN, tmp_path)

    # the pop-up: the agent on the call sees the whole number, and the suggestion's reasons
    # selectors, not wait_for_function: the pages' CSP forbids eval, and the test runs
    # under the same CSP as any desk
    await desk.wait_for_selector(f"#caller-number:text-is('{CITIZEN}')", timeout=15_000)
    await desk.wait_for_selector("#suggestion-reasons li", timeout=15_000)
    assert await desk.is_enabled("#act-transfer")
    # the order form: the summary is saved through the call (PUT /calls/{id}/summary), which
    # re-routes on the server; the category is saved on the order (PATCH)
    await desk.fill("#f-summary", "小区门口有人打架，有人受伤")
    await desk.select_option("#f-category", "dispute")
    await desk.click("#f-save")
    await desk.wait_for_selector("#f-notice:text-matches('^已保存')", timeout=10_000)
    await desk.wait_for_selector("#suggestion-edited", timeout=10_000)
    await desk.screenshot(path=str(SCREENSHOTS / "desk.png"), full_page=True)

    await desk.click("#act-transfer")
    await desk.wait_for_selector("#call-state .st-handed_over", timeout=20_000)

    # the supervisor's board: the 110 seat busy with the handed-over call
    board = await browser.new_page()
    await log_in(board, base, "/board", "supervisor", "lab-supervisor")
    await board.wait_for_selector("#seat-2001[data-state=busy]", timeout=10_000)
    await board.wait_for_selector("#calls-table tr[data-state=handed_over]", timeout=10_000)
    await board.wait_for_selector("#hotspot-chart rect", timeout=10_000)
    await board.wait_for_selector("#service-levels-12345", timeout=10_000)
    await board.screenshot(path=str(SCREENSHOTS / "board.png"), full_page=True)

    assert await agent_ua.wait(30) == 0, agent_ua.output()   # released with a BYE
    hang_up(citizen)
    assert await citizen.wait(40) == 0, citizen.output()
    assert await target_ua.wait(30) == 0, target_ua.output()
    invite = target_ua.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in invite.header("From")
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    assert invite.header("X-Work-Order").startswith("PO-")
    # once the call ends, the board shows the 110 seat free again
    await wait_until(lambda: board.is_visible("#seat-2001[data-state=available]"), 15,
                     what="seat 2001 free on the board")
    # and the ended call counts in this hour's service-level bar of 12345
    await board.wait_for_selector("#service-levels-12345 rect[data-offered]", timeout=20_000)


def fresh_number() -> tuple[str, str]:
    """A mobile number no earlier run used, and another that masks the same way
    (138****8000): history must tell them apart."""
    head, middle, tail = "139", random.randrange(10_000), f"{random.randrange(10_000):04d}"
    twin = (middle + 1 + random.randrange(9_000)) % 10_000
    return f"{head}{middle:04d}{tail}", f"{head}{twin:04d}{tail}"


async def test_star8_is_enabled_only_when_the_server_would_accept_it_and_history_is_the_callers(
        settings, seats, browser, tmp_path):
    base = f"http://{settings.api_host}:{settings.api_port}"
    number, twin = fresh_number()
    sup = {"Authorization": "Bearer supervisor:lab-token-supervisor"}
    agent = {"Authorization": "Bearer agent1001:lab-token-agent1001"}
    async with aiohttp.ClientSession() as http:
        async def post(path: str, body: dict, headers: dict) -> tuple[int, dict]:
            async with http.post(f"{base}/api/v1{path}", json=body, headers=headers) as resp:
                return resp.status, await resp.json()

        async def get(path: str, headers: dict) -> dict:
            async with http.get(f"{base}/api/v1{path}", headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

        earlier = set()
        for text in ("楼道灯坏了", "小区垃圾没人清"):
            status, body = await post("/orders", {"platform": "12345", "citizen_number": number,
                                                  "region_code": "410300", "summary": text}, sup)
            assert status == 201, body
            earlier.add(body["order_id"])
        status, _ = await post("/orders", {"platform": "12345", "citizen_number": twin,
                                           "region_code": "410300", "summary": "别人的工单"}, sup)
        assert status == 201

        await seats("1001")
        desk = await browser.new_page()
        await log_in(desk, base, "/desk", "agent1001", "lab-agent1001")
        citizen = await held_citizen(settings, number, tmp_path)
        await desk.wait_for_selector(f"#caller-number:text-is('{number}')", timeout=15_000)
        calls = (await get("/calls", agent))["calls"]
        call_id = next(c["call_id"] for c in calls if c["seat"] == "1001")

        # history: exactly this caller's earlier orders, not the twin's with the same mask
        await desk.wait_for_selector("#history-table", timeout=10_000)
        shown = set(await desk.locator("#history-table tr td:nth-child(2)").all_inner_texts())
        assert shown == earlier

        async def agree(expect_star8: bool) -> None:
            """The *8 button and the server agree, both ways, in the state the call is in."""
            await wait_until(lambda: desk.is_enabled("#act-suggested_line") if expect_star8
                             else desk.is_disabled("#act-suggested_line"), 10,
                             what=f"*8 button {'enabled' if expect_star8 else 'disabled'}")
            allowed = (await get(f"/calls/{call_id}", agent))["allowed_actions"]
            assert ("suggested_line" in allowed) == expect_star8 == await desk.is_enabled(
                "#act-suggested_line")
            if not expect_star8:
                status, body = await post(f"/calls/{call_id}/actions/suggested_line", {}, agent)
                assert (status, body["error_id"]) == (409, "action_not_allowed")

        async def summary(text: str) -> None:
            await desk.fill("#f-summary", text)
            await desk.click("#f-save")
            await desk.wait_for_selector("#f-notice:text-matches('^已保存')", timeout=10_000)

        await agree(False)                                 # a 12345 matter: no line for *8
        await summary("家里厨房着火了，烟很大，人还在屋里")    # fire: the call now holds 119
        await agree(True)
        await summary("楼道的路灯坏了好几天了")              # back to a 12345 matter
        await agree(False)
        hang_up(citizen)
        assert await citizen.wait(60) == 0, citizen.output()
