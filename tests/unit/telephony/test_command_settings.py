"""What a `hotline` command reads: a lab running on this machine means lab mode (so the
commands find its database and API), and each command asks only for what it uses."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from telephony.lab.processes import _start_ticks
from telephony.settings import SettingsError, api_access, command_environment, orders_config


def _lab_with(tmp_path: Path, pid: int, ticks: int) -> dict[str, str]:
    (tmp_path / "processes.json").write_text(json.dumps({"controller": {
        "name": "controller", "pid": pid, "start_ticks": ticks, "log": "controller.log"}}))
    return {"HOTLINE_LAB_DIR": str(tmp_path)}


def test_a_running_lab_means_lab_mode_and_its_own_order_database(tmp_path):
    env = _lab_with(tmp_path, os.getpid(), _start_ticks(os.getpid()) or -1)
    assert command_environment(env)["HOTLINE_MODE"] == "lab"
    config = orders_config(env)
    assert config.db_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'orders.db'}"
    assert config.redis_url and "@" in config.redis_url   # the lab's Redis, with its ACL user


def test_a_lab_whose_processes_are_gone_is_not_running(tmp_path):
    env = _lab_with(tmp_path, os.getpid(), (_start_ticks(os.getpid()) or 0) + 1)   # a reused pid
    assert "HOTLINE_MODE" not in command_environment(env)


def test_an_explicit_mode_wins_over_a_running_lab(tmp_path):
    env = {**_lab_with(tmp_path, os.getpid(), _start_ticks(os.getpid()) or -1),
           "HOTLINE_MODE": "production"}
    assert command_environment(env)["HOTLINE_MODE"] == "production"


def test_the_api_commands_need_a_token_and_the_address_not_the_ari_or_ami_secrets(tmp_path):
    env = {"HOTLINE_LAB_DIR": str(tmp_path), "HOTLINE_MODE": "production",
           "HOTLINE_API_HOST": "10.0.0.5", "HOTLINE_API_PORT": "9090",
           "HOTLINE_API_TOKEN": "ops:t0ken"}
    access = api_access(env)
    assert (access.base_url, access.token) == ("http://10.0.0.5:9090", "ops:t0ken")
    with pytest.raises(SettingsError, match="HOTLINE_API_TOKEN"):
        api_access({k: v for k, v in env.items() if k != "HOTLINE_API_TOKEN"})


def test_in_the_lab_the_api_commands_use_the_labs_ops_account(tmp_path):
    env = _lab_with(tmp_path, os.getpid(), _start_ticks(os.getpid()) or -1)
    assert api_access(env).token.startswith("ops:")


def test_outside_the_lab_orders_use_the_configured_database(tmp_path):
    env = {"HOTLINE_LAB_DIR": str(tmp_path), "HOTLINE_MODE": "production",
           "HOTLINE_DB_URL": "sqlite+aiosqlite:////srv/orders.db"}
    assert orders_config(env).db_url == "sqlite+aiosqlite:////srv/orders.db"
    assert orders_config(env).redis_url is None
