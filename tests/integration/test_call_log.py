"""The call log and the service levels against what the SIP peers themselves saw.

Five scripted calls through the real lab, one after another at site 12345: answered,
abandoned in the queue, handed over (*1), a failed transfer (*1 to a busy seat) and a
three-way kept (*2 then *4). Each citizen has its own number, so its row is found by it.
Every expected figure is worked out here from the SIPp UAs' own message logs (when the
citizen sent INVITE and BYE, when a seat sent its 200 OK); the controller stamps the same
moments when it learns of them, a little later, so times compare within TOLERANCE_S.
"""
from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from telephony.lab.sipp import SippRun, SipMessage, agent_scenario, register_seat
from telephony.settings import lab_accounts
from tests.integration.conftest import (
    SEAT_IP,
    assert_site_clean,
    citizen_call,
    seat_state,
    wait_until,
)

pytestmark = pytest.mark.integration

# how much later than the UA the controller may learn of the same moment (a busy machine)
TOLERANCE_S = 1.0
SUPERVISOR = "supervisor"


def api_raw(path: str, user: str = SUPERVISOR) -> tuple[int, bytes, dict]:
    token = lab_accounts()["api"]["users"][user]["token"]
    request = urllib.request.Request(f"http://127.0.0.1:8080/api/v1{path}",
                                     headers={"Authorization": f"Bearer {user}:{token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, resp.read(), dict(resp.headers)


def api(path: str, user: str = SUPERVISOR):
    return json.loads(api_raw(path, user)[1])


def q(**params) -> str:
    return urllib.parse.urlencode(params)


# ---- what the UAs saw ------------------------------------------------------------------------
def first(run: SippRun, direction: str, match) -> SipMessage | None:
    return next((m for m in run.messages(direction) if match(m)), None)


def invite_sent(citizen: SippRun) -> datetime:
    return first(citizen, "sent", lambda m: m.method == "INVITE").at


def bye_sent(citizen: SippRun) -> datetime:
    return first(citizen, "sent", lambda m: m.method == "BYE").at


def answer_sent(seat: SippRun) -> datetime | None:
    """When the seat's softphone sent 200 OK to its INVITE: the moment it answered."""
    ok = first(seat, "sent", lambda m: m.start_line.startswith("SIP/2.0 200")
               and "INVITE" in (m.header("CSeq") or ""))
    return ok.at if ok else None


@dataclass
class Observed:
    """One scripted call as its UAs saw it."""
    name: str
    number: str
    citizen: SippRun
    agent: SippRun | None = None
    target: SippRun | None = None
    seat: str | None = None           # the seat the agent's UA registered as

    @property
    def arrived(self) -> datetime:
        return invite_sent(self.citizen)

    @property
    def answered(self) -> datetime | None:
        return answer_sent(self.agent) if self.agent else None

    @property
    def hung_up(self) -> datetime:
        return bye_sent(self.citizen)

    @property
    def wait_s(self) -> float:
        return ((self.answered or self.hung_up) - self.arrived).total_seconds()

    @property
    def handled_s(self) -> float | None:
        return (self.hung_up - self.answered).total_seconds() if self.answered else None


def close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= TOLERANCE_S


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# ---- seats on and off duty ---------------------------------------------------------------
async def off_duty(lab, settings, seat: str, run: SippRun) -> None:
    """Unregister a seat once its call is over, so the next call cannot ring it."""
    site = settings.site_of_seat(seat)
    await register_seat(seat, settings.credentials.seat_password(seat),
                        f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP,
                        contact_port=run.local[1], expires=0)
    await wait_until(lambda: seat_state(lab, site.name, seat) in (None, "offline"), 10,
                     what=f"seat {seat} off duty")


async def finish(*runs: SippRun) -> None:
    for run in runs:
        assert await run.wait(40) == 0, run.output()


async def logged(number: str, since: datetime,
                 until=lambda row: row["outcome"] != "live") -> list[dict]:
    """This run's call-log rows of a citizen's number, once the consumer has applied them."""
    def rows():
        found = api(f"/call-log?{q(number=number, since=since.isoformat())}")["items"]
        return found if found and all(until(r) for r in found) else None
    return await wait_until(rows, 20, interval=0.3, what=f"call log rows of {number}")


# ---- the hand computation -------------------------------------------------------------------
def nearest_rank_p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.9 * len(ordered))) - 1]


def by_hand(calls: list[Observed]) -> dict:
    offered = len(calls)
    answered = [c for c in calls if c.answered]
    waits = [c.wait_s for c in calls]
    within = {t: sum(1 for c in answered if c.wait_s <= t) for t in (15, 20)}
    unanswered = offered - len(answered)
    return {
        "offered": offered, "answered": len(answered), "abandoned": unanswered,
        "answered_within_15s": within[15], "answered_within_20s": within[20],
        "answer_rate": round(len(answered) / offered, 4),
        "within_15s_rate": round(within[15] / offered, 4),
        "within_20s_rate": round(within[20] / offered, 4),
        "abandonment_rate": round(unanswered / offered, 4),
        "average_wait_s": sum(waits) / offered, "p90_wait_s": nearest_rank_p90(waits),
        "average_handling_s": sum(c.handled_s for c in answered) / len(answered),
    }


def hour_of(at: datetime) -> str:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()


async def test_call_log_and_service_levels_match_what_the_uas_saw(
        lab, settings, seats, probes, tmp_path):
    since = datetime.now(UTC) - timedelta(seconds=1)
    calls: dict[str, Observed] = {}
    # a number per citizen, new in every run (the lab's database keeps earlier runs' calls)
    run = f"{int(since.timestamp()) % 10**6:06d}"
    numbers = {i: f"139{run}{i:02d}" for i in range(1, 6)}

    # 1. answered: seat 1001 answers; 2. while 1001 talks, a second citizen waits and gives up
    agent = await seats("1001")
    citizen = await citizen_call(settings, "12345", numbers[1], hold_ms=7000)
    calls["answered"] = Observed("answered", numbers[1], citizen, agent, seat="1001")
    await wait_until(lambda: answer_sent(agent), 10, what="seat 1001 answers")
    waiting = await citizen_call(settings, "12345", numbers[2], hold_ms=2500)
    calls["abandoned"] = Observed("abandoned", numbers[2], waiting)
    await finish(waiting, citizen, agent)
    assert agent.received("INVITE") and len(agent.received("INVITE")) == 1
    await off_duty(lab, settings, "1001", agent)

    # 3. handed over: agent 1002 presses *1, seat 2002 of 110 answers
    agent = await seats("1002", agent_scenario(tmp_path / "c.xml", [("pause", 800),
                                                                     ("info", "*1")]))
    target = await seats("2002")
    citizen = await citizen_call(settings, "12345", numbers[3], hold_ms=6000)
    calls["handed_over"] = Observed("handed_over", numbers[3], citizen, agent,
                                    target, seat="1002")
    await finish(agent, citizen, target)
    await off_duty(lab, settings, "1002", agent)
    await off_duty(lab, settings, "2002", target)

    # 4. failed transfer: agent 1003 presses *1, seat 2003 is busy
    agent = await seats("1003", agent_scenario(tmp_path / "d.xml", [("pause", 800),
                                                                     ("info", "*1")]))
    target = await seats("2003", "seat_busy.xml")
    citizen = await citizen_call(settings, "12345", numbers[4], hold_ms=5000)
    calls["transfer_failed"] = Observed("transfer_failed", numbers[4], citizen, agent,
                                        target, seat="1003")
    await finish(target, citizen, agent)
    await off_duty(lab, settings, "1003", agent)
    await off_duty(lab, settings, "2003", target)

    # 5. three-way kept: agent 1004 presses *2, seat 2004 joins, then *4 keeps the case
    agent = await seats("1004", agent_scenario(tmp_path / "e.xml", [
        ("pause", 800), ("info", "*2"), ("pause", 2000), ("info", "*4")]))
    target = await seats("2004")
    citizen = await citizen_call(settings, "12345", numbers[5], hold_ms=6000)
    calls["three_way_kept"] = Observed("three_way_kept", numbers[5], citizen, agent,
                                       target, seat="1004")
    await finish(target, citizen, agent)
    await off_duty(lab, settings, "1004", agent)
    await off_duty(lab, settings, "2004", target)
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])

    # ---- the call log, row by row, against the UAs ----------------------------------------
    rows = {}
    for name, seen in calls.items():
        assert seen.citizen.received("BYE") == []   # the citizen hung up, every time
        found = await logged(seen.number, since)
        here = [r for r in found if r["site"] == "12345"]
        assert len(here) == 1, found
        row = rows[name] = here[0]
        assert row["outcome"] == name, row
        assert row["ended_by"] == "citizen", row
        assert row["citizen_number"] == seen.number
        assert close(row["wait_s"], seen.wait_s), (name, row["wait_s"], seen.wait_s)
        assert close((when(row["ended_at"]) - seen.hung_up).total_seconds(), 0.0)
        if seen.agent is None:
            assert row["answered_at"] is None and row["seat"] is None and row["legs"] == []
            continue
        invite = seen.agent.received("INVITE")[0]   # the seat the UA registered as was rung
        assert row["seat"] == seen.seat
        assert row["order_id"] == invite.header("X-Work-Order")
        assert close(row["handled_s"], seen.handled_s), (name, row["handled_s"], seen.handled_s)
        assert [leg["seat"] for leg in row["legs"]] == [row["seat"]]

    assert [r["seat"] for r in rows.values() if r["seat"]] == ["1001", "1002", "1003", "1004"]
    assert rows["answered"]["transfers"] == [] and rows["answered"]["legs"][0]["outcome"] == "ended"

    # handed over: the 110 seat got the linked order; both platforms' rows name both orders
    seen = calls["handed_over"]
    target_invite = seen.target.received("INVITE")[0]
    [transfer] = rows["handed_over"]["transfers"]
    assert (transfer["mode"], transfer["outcome"], transfer["by_seat"]) == (
        "handover", "completed", "1002")
    assert close((when(transfer["answered_at"]) - answer_sent(seen.target)).total_seconds(), 0)
    assert rows["handed_over"]["linked_order_id"] == target_invite.header("X-Work-Order")
    assert rows["handed_over"]["taken_by"] == "110"
    assert rows["handed_over"]["legs"][0]["outcome"] == "released"
    [far] = [r for r in await logged(seen.number, since) if r["site"] == "110"]
    assert far["via_trunk"] and far["origin_site"] == "12345" and far["seat"] == "2002"
    assert far["order_id"] == target_invite.header("X-Work-Order")
    assert far["linked_order_id"] == target_invite.header("X-Linked-Order")
    assert far["outcome"] == "answered" and far["ended_by"] == "citizen"
    assert close(far["handled_s"], (seen.hung_up - answer_sent(seen.target)).total_seconds())
    by_order = api(f"/call-log?{q(order=target_invite.header('X-Work-Order'))}")
    assert {r["site"] for r in by_order["items"]} == {"12345", "110"}

    # failed transfer: busy, and the citizen stayed with the same agent
    [transfer] = rows["transfer_failed"]["transfers"]
    assert calls["transfer_failed"].target.received("INVITE")   # it was rung, and said busy
    assert (transfer["mode"], transfer["outcome"], transfer["reason"]) == (
        "handover", "failed", "busy")
    assert rows["transfer_failed"]["taken_by"] == "12345"

    # three-way kept: *4, the invited seat left, the case stayed at 12345
    [transfer] = rows["three_way_kept"]["transfers"]
    assert (transfer["mode"], transfer["outcome"], transfer.get("key")) == (
        "three_way", "kept", "*4")
    assert close((when(transfer["answered_at"])
                  - answer_sent(calls["three_way_kept"].target)).total_seconds(), 0)
    assert rows["three_way_kept"]["taken_by"] == "12345"

    # filters and the export see the same calls
    until = datetime.now(UTC) + timedelta(seconds=1)
    window = {"since": since.isoformat(), "until": until.isoformat(), "site": "12345"}
    listed = api(f"/call-log?{q(**window)}")
    assert listed["total"] == 5
    assert {r["call_id"] for r in listed["items"]} == {r["call_id"] for r in rows.values()}
    assert api(f"/call-log?{q(**window, seat='1003')}")["items"][0]["call_id"] == \
        rows["transfer_failed"]["call_id"]
    assert [r["call_id"] for r in api(f"/call-log?{q(**window, outcome='abandoned')}")["items"]
            ] == [rows["abandoned"]["call_id"]]
    status, body, headers = api_raw(f"/call-log/export?{q(**window)}")
    exported = list(csv.DictReader(io.StringIO(body.decode())))
    assert status == 200 and headers["X-Call-Count"] == "5"
    assert {(r["call_id"], r["outcome"]) for r in exported} == {
        (r["call_id"], r["outcome"]) for r in rows.values()}

    # ---- service levels over the same window: equal to the hand computation --------------
    levels = api(f"/reports/service-levels?{q(**window)}")["rows"]
    by_hour: dict[str, list[Observed]] = {}
    for seen in calls.values():
        by_hour.setdefault(hour_of(seen.arrived), []).append(seen)
    assert sorted(r["hour"] for r in levels if r["offered"]) == sorted(by_hour)
    for row in levels:
        if not row["offered"]:
            continue
        hand = by_hand(by_hour[row["hour"]])
        print("service levels", row["site"], row["hour"], json.dumps(
            {key: [row[key], round(value, 3)] for key, value in hand.items()}))   # api, hand
        for key in ("offered", "answered", "abandoned", "answered_within_15s",
                    "answered_within_20s", "answer_rate", "within_15s_rate", "within_20s_rate",
                    "abandonment_rate"):
            assert row[key] == hand[key], (key, row[key], hand[key])
        for key in ("average_wait_s", "p90_wait_s", "average_handling_s"):
            assert close(row[key], hand[key]), (key, row[key], hand[key])

    # ---- and at /metrics: the current hour's figures as the API gives them ----------------
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    this_hour = {"since": hour.isoformat(), "until": (hour + timedelta(hours=1)).isoformat(),
                 "site": "12345"}
    current = api(f"/reports/service-levels?{q(**this_hour)}")["rows"][0]

    def scraped():
        with urllib.request.urlopen("http://127.0.0.1:8080/metrics", timeout=5) as resp:
            text = resp.read().decode()
        found = re.search(r'^hotline_service_level_offered\{hour="current",site="12345"\} '
                          r'([0-9.]+)$', text, re.MULTILINE)
        return found and float(found.group(1)) == current["offered"] and text
    text = await wait_until(scraped, 25, interval=1.0, what="service levels at /metrics")
    assert f'hotline_service_level_answer_rate{{hour="current",site="12345"}} ' \
           f'{float(current["answer_rate"])}' in text
    await asyncio.sleep(0)
