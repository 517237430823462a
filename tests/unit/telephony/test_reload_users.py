"""SIGHUP reloads the API users (token rotation) without a restart."""
from __future__ import annotations

import logging
from types import SimpleNamespace

from telephony.app import reload_users


class Accounts:
    def __init__(self) -> None:
        self.users: dict = {}

    def reload(self, users) -> None:
        self.users = dict(users)

    def __len__(self) -> int:
        return len(self.users)


def test_sighup_reads_the_users_again(monkeypatch, caplog):
    monkeypatch.setenv("HOTLINE_MODE", "lab")
    accounts = Accounts()
    with caplog.at_level(logging.INFO, logger="hotline.app"):
        reload_users(accounts, SimpleNamespace(lab_mode=True))   # type: ignore[arg-type]
    assert "agent1001" in accounts.users
    assert "API users reloaded" in caplog.text


def test_a_bad_users_file_keeps_the_old_users(monkeypatch, tmp_path, caplog):
    bad = tmp_path / "users.toml"
    bad.write_text("[api.users.x]\nrole = 'nobody'\n")
    monkeypatch.setenv("HOTLINE_MODE", "production")
    monkeypatch.setenv("HOTLINE_API_USERS_FILE", str(bad))
    accounts = Accounts()
    accounts.users = {"kept": object()}
    reload_users(accounts, SimpleNamespace(lab_mode=False))   # type: ignore[arg-type]
    assert list(accounts.users) == ["kept"]
    assert "API users not reloaded" in caplog.text
