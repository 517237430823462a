"""Knowledge-base answers on the agent desktop, in real headless Chromium against the real
lab: a SIPp citizen calls 12345 and seat 1001 answers; as the agent types the summary,
the desk shows the three best published answers (the lab's seed knowledge base, imported
by the controller) for the summary and the routing category; one click puts the answer
into the reply box and the API counts the use against the entry."""
from __future__ import annotations

import aiohttp
import pytest

from tests.integration.conftest import hang_up, held_citizen
from tests.integration.test_browser import browser, log_in  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

CITIZEN = "13800138001"
SUPERVISOR = {"Authorization": "Bearer supervisor:lab-token-supervisor"}


async def _uses(base: str, entry_id: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(
            f"{base}/api/v1/kb/entries/{entry_id}", headers=SUPERVISOR) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["uses"]


async def test_desk_shows_answers_during_a_call_and_one_click_fills_the_reply(
        settings, seats, browser, tmp_path):  # noqa: F811 - the fixture
    base = f"http://{settings.api_host}:{settings.api_port}"
    await seats("1001")
    desk = await browser.new_page()
    await log_in(desk, base, "/desk", "agent1001", "lab-agent1001")
    citizen = await held_citizen(settings, CITIZEN, tmp_path)

    await desk.wait_for_selector(f"#caller-number:text-is('{CITIZEN}')", timeout=15_000)
    await desk.wait_for_selector("#f-summary:enabled", timeout=15_000)
    await desk.fill("#f-summary", "市民反映家里突然停电了，问什么时候能来电")
    await desk.wait_for_selector("#kb-list li .kb-use", timeout=15_000)
    shown = await desk.locator("#kb-list li").count()
    assert 1 <= shown <= 3
    first = desk.locator("#kb-list li").first
    entry_id = await first.get_attribute("data-entry")
    answer = await first.locator(".kb-answer").inner_text()
    before = await _uses(base, entry_id)

    await desk.click("#kb-use-0")
    await desk.wait_for_selector("#kb-used", timeout=10_000)
    assert await desk.input_value("#f-reply") == answer
    assert await _uses(base, entry_id) == before + 1

    hang_up(citizen)
    assert await citizen.wait(40) == 0, citizen.output()
