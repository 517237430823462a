"""Citizens' numbers are masked in every log of a lab run: the controller's log,
each site's Asterisk logs (messages.log, queue_log ... under the sid root) and
Asterisk's own output. In the full suite it also reads what every test before it
logged; it places calls itself so it cannot pass on empty logs."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from telephony.lab.lab import Lab
from tests.integration.conftest import citizen_call, wait_until

pytestmark = pytest.mark.integration

CITIZENS = ("13800138000", "15912345678")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def masked(number: str) -> str:
    return f"{number[:3]}****{number[-4:]}"


def lab_logs(lab: Lab) -> list[Path]:
    """The controller's log, Asterisk's output per site, and every file in each site's log dir."""
    files = [lab.lab_dir / "controller.log"]
    for site in lab.settings.sites:
        files.append(lab.lab_dir / f"asterisk-{site.name}.log")
        log_dir = lab.runtime.host_path(lab.site_dirs(site).log)
        files.extend(sorted(p for p in log_dir.rglob("*") if p.is_file()))
    return [f for f in files if f.is_file()]


def unmasked(files: list[Path]) -> list[str]:
    """file:line of every whole mobile number, the number itself masked in the report."""
    found = []
    for path in files:
        with path.open(errors="replace") as text:
            for no, line in enumerate(text, 1):
                for match in MOBILE.finditer(line):
                    found.append(f"{path}:{no}: {masked(match.group())} in "
                                 f"{MOBILE.sub(lambda m: masked(m.group()), line.strip())[:160]}")
    return found


async def test_no_log_of_a_lab_run_holds_a_whole_citizen_number(lab, settings, seats):
    agent = await seats("1009", calls=len(CITIZENS))
    for number in CITIZENS:
        citizen = await citizen_call(settings, "12345", number, hold_ms=1500)
        assert await citizen.wait(30) == 0, citizen.output()
    assert await agent.wait(30) == 0, agent.output()

    controller_log = lab.lab_dir / "controller.log"
    for number in CITIZENS:   # the calls were logged, masked
        form = masked(number)
        await wait_until(lambda: form in controller_log.read_text(errors="replace"),  # noqa: B023
                         10, what=f"{form} in {controller_log}")
    files = lab_logs(lab)
    assert any("messages.log" == f.name for f in files), files
    assert unmasked(files) == []
