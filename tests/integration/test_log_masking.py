"""Citizens' numbers are masked in every log of a lab run: the controller's log,
each site's Asterisk logs (messages.log, queue_log ... under the sid root) and
Asterisk's own output. In the full suite it also reads what every test before it
logged; it places calls itself so it cannot pass on empty logs.

Every shape a citizen's number takes is looked for (issue 13): mobiles alone or after
+86, 0086, 86 or a trunk 0, with or without separators, and landlines with their area
code, domestic or international. The calls it places use these shapes too."""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from telephony.lab.lab import Lab
from tests.integration.conftest import citizen_call, wait_until

pytestmark = pytest.mark.integration

# plain mobile, 0-prefixed mobile, 0086 mobile, landline with its area code: as callers
CITIZENS = ("13800138000", "015912345678", "008613700137000", "037961234567")
# +86 forms: the lab's gateway passes no `+` in a caller's number, so these reach the
# controller through the API (an online submission), which logs the order's number
SUBMITTED = ("+8615012345678", "+8637961234567")
# Written apart from services/privacy.py on purpose: the audit must not share the masker's
# blind spots. Each alternative is a whole number (no digit, letter or `*` around it).
NUMBER = re.compile(
    r"(?<![0-9A-Za-z*])(?:"
    r"(?:\+86|0086|86|0)?[- ]?1[3-9]\d{9}"              # mobiles, bare or prefixed
    r"|1[3-9]\d[- ]\d{4}[- ]\d{4}"                       # 138-0013-8000, 138 0013 8000
    r"|0\d{2,3}[- ]?\d{7,8}"                              # landlines, 010-12345678
    r"|(?:\+|00)86[- ]?[1-9]\d{1,2}[- ]?\d{7,8}"           # landlines, +86 379 61234567
    r")(?![0-9A-Za-z*])")


def masked(number: str) -> str:
    """How the controller logs `number` (services.privacy.mask_number's forms)."""
    from services.privacy import mask_number

    return mask_number(number)


def test_the_audit_sees_every_shape_and_passes_masked_text():
    for number in (*CITIZENS, *SUBMITTED, "138-0013-8000", "0086-10-12345678",
                   "+86 379 61234567"):
        assert NUMBER.search(f"x sip:{number}@127.0.0.11 y"), number
        assert not NUMBER.search(f"x sip:{masked(number)}@127.0.0.11 y"), number
    for other in ("WO-20261201-0123456789AB", "1733052000.123", "PJSIP/1009-00000003",
                  "2026-12-01 13:49:11,123", "127.0.0.10:6379"):
        assert not NUMBER.search(other), other


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
                for match in NUMBER.finditer(line):
                    found.append(f"{path}:{no}: {masked(match.group())} in "
                                 f"{NUMBER.sub(lambda m: masked(m.group()), line.strip())[:160]}")
    return found


def submit_order(settings, number: str) -> None:
    body = json.dumps({"platform": "12345", "citizen_number": number, "region_code": "410300",
                       "summary": "网上反映噪音扰民"}).encode()
    request = urllib.request.Request(
        f"http://{settings.api_host}:{settings.api_port}/api/v1/orders", data=body,
        method="POST", headers={"Authorization": "Bearer supervisor:lab-token-supervisor",
                                "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 201


async def test_no_log_of_a_lab_run_holds_a_whole_citizen_number(lab, settings, seats):
    agent = await seats("1009", calls=len(CITIZENS))
    for number in CITIZENS:
        citizen = await citizen_call(settings, "12345", number, hold_ms=1500)
        assert await citizen.wait(30) == 0, citizen.output()
    assert await agent.wait(30) == 0, agent.output()

    for number in SUBMITTED:
        submit_order(settings, number)

    controller_log = lab.lab_dir / "controller.log"
    for number in (*CITIZENS, *SUBMITTED):   # the calls and submissions were logged, masked
        form = masked(number)
        await wait_until(lambda: form in controller_log.read_text(errors="replace"),  # noqa: B023
                         10, what=f"{form} in {controller_log}")
    files = lab_logs(lab)
    assert any("messages.log" == f.name for f in files), files
    assert unmasked(files) == []
