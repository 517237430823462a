"""The `hotline` command as an operator runs it after `hotline lab up`: no flags, no
HOTLINE_* variables, and it finds the running lab's order database by itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.conftest import citizen_call, wait_until

pytestmark = pytest.mark.integration

CITIZEN = "13800138001"


def operator_env() -> dict[str, str]:
    """The operator's shell: none of the test session's HOTLINE_* settings (only where
    the lab lives, if this machine keeps it somewhere else)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    if os.environ.get("HOTLINE_LAB_DIR"):
        env["HOTLINE_LAB_DIR"] = os.environ["HOTLINE_LAB_DIR"]
    return env


def orders_list_json() -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "telephony.cli", "orders", "list", "--json"],
                         capture_output=True, text=True, env=operator_env(), timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def test_after_lab_up_and_a_call_orders_list_shows_that_calls_order_once(
        settings, seats):
    seat = await seats("1001")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=1000)
    assert await citizen.wait(30) == 0, citizen.output()
    assert await seat.wait(30) == 0, seat.output()
    order = seat.received("INVITE")[0].header("X-Work-Order")
    assert order and order.startswith("WO-")

    def listed():
        rows = [row for row in orders_list_json() if row["order_id"] == order]
        return rows or None
    rows = await wait_until(listed, 30, interval=0.5, what=f"order {order} in `hotline orders list`")
    assert len(rows) == 1
    assert rows[0]["platform"] == "12345"
