"""Every secret from the environment or a file, never a default, outside the lab; lab
secrets refused there; Redis always with an ACL user and password, the lab's included."""
from __future__ import annotations

from pathlib import Path

import pytest

from telephony.lab.lab import REDIS_ACL_RULES, write_redis_acl
from telephony.settings import SettingsError, load_settings

PROD = {"HOTLINE_ARI_PASSWORD": "a-secret", "HOTLINE_AMI_SECRET": "b-secret"}


def test_lab_redis_url_carries_the_lab_acl_user_and_keeps_its_address():
    s = load_settings(env={"HOTLINE_MODE": "lab"})
    assert s.redis_url == "redis://hotline:lab-redis-secret@127.0.0.10:6379/0"


def test_a_lab_redis_url_override_gets_the_lab_user_too():
    s = load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_REDIS_URL": "redis://127.0.0.20:6379/0"})
    assert s.redis_url == "redis://hotline:lab-redis-secret@127.0.0.20:6379/0"


def test_outside_the_lab_redis_without_a_password_does_not_start():
    with pytest.raises(SettingsError, match="HOTLINE_REDIS_PASSWORD"):
        load_settings(env={**PROD, "HOTLINE_REDIS_URL": "redis://10.0.0.5:6379/0"})


def test_outside_the_lab_the_lab_redis_password_is_refused():
    with pytest.raises(SettingsError, match="lab credentials"):
        load_settings(env={**PROD, "HOTLINE_REDIS_URL": "redis://10.0.0.5:6379/0",
                           "HOTLINE_REDIS_PASSWORD": "lab-redis-secret"})


def test_secrets_come_from_files(tmp_path: Path):
    files = {}
    for name, value in (("ari", "ari-from-file"), ("ami", "ami-from-file"),
                        ("redis", "r/p@ss:w")):
        files[name] = tmp_path / name
        files[name].write_text(value + "\n")
    s = load_settings(env={"HOTLINE_ARI_PASSWORD_FILE": str(files["ari"]),
                           "HOTLINE_AMI_SECRET_FILE": str(files["ami"]),
                           "HOTLINE_REDIS_URL": "redis://10.0.0.5:6379/0",
                           "HOTLINE_REDIS_USER": "ctl",
                           "HOTLINE_REDIS_PASSWORD_FILE": str(files["redis"])})
    assert s.credentials.ari_password == "ari-from-file"
    assert s.credentials.ami_secret == "ami-from-file"
    assert s.redis_url == "redis://ctl:r%2Fp%40ss%3Aw@10.0.0.5:6379/0"


def test_a_missing_secret_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SettingsError, match="HOTLINE_ARI_PASSWORD_FILE"):
        load_settings(env={"HOTLINE_ARI_PASSWORD_FILE": str(tmp_path / "none"),
                           "HOTLINE_AMI_SECRET": "x"})


@pytest.mark.parametrize("url", ["postgresql+asyncpg://hotline@db:5432/hotline",
                                 "postgresql+asyncpg://hotline:lab-db@db:5432/hotline"])
def test_outside_the_lab_postgres_needs_a_real_password(url):
    with pytest.raises(SettingsError):
        load_settings(env={**PROD, "HOTLINE_DB_URL": url})


def test_postgres_password_from_a_file_is_added_to_the_url(tmp_path: Path, monkeypatch):
    from telephony.cli import orders_config

    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("HOTLINE_DB_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("HOTLINE_DB_URL", "postgresql+asyncpg://hotline@db/hotline")
    monkeypatch.delenv("HOTLINE_DB_PASSWORD", raising=False)
    settings = load_settings(env={**PROD, "HOTLINE_DB_URL": "postgresql+asyncpg://hotline@db/hotline",
                                  "HOTLINE_DB_PASSWORD_FILE": str(tmp_path / "pw")})
    assert settings.db_url == "postgresql+asyncpg://hotline:s3cret@db/hotline"
    assert orders_config().db_url == "postgresql+asyncpg://hotline:s3cret@db/hotline"


def test_lab_redis_acl_turns_the_default_user_off_and_is_owner_only(tmp_path: Path):
    acl = write_redis_acl(tmp_path / "users.acl", "hotline", "lab-redis-secret")
    assert acl.read_text().splitlines() == [
        "user default off", f"user hotline on >lab-redis-secret {REDIS_ACL_RULES}"]
    assert acl.stat().st_mode & 0o777 == 0o600
