"""`hotline config check`: every problem in one list, no traceback, non-zero exit."""
from __future__ import annotations

from pathlib import Path

import pytest

from services.api.accounts import hash_secret
from telephony.cli import main
from telephony.config.check import check_config, compose_view, read_env_file
from telephony.deploy.topology import retarget
from telephony.settings import REPO_ROOT

PROD_TOPOLOGY = REPO_ROOT / "docker" / "topology.toml"


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "ari_password").write_text("ops-ari\n")
    (d / "ami_secret").write_text("ops-ami\n")
    (d / "db_password").write_text("ops-db\n")
    (d / "redis_password").write_text("ops-redis\n")
    seats = [*range(1001, 1051), *range(2001, 2031), *range(3001, 3021)]
    (d / "seat_passwords.toml").write_text("[seats]\n" + "".join(f'"{n}" = "s-{n}"\n' for n in seats))
    (d / "api_users.toml").write_text(
        f'[api.users.ops]\nrole = "ops"\ntoken_hash = "{hash_secret("t")}"\n')
    return d


def _topology(tmp_path: Path) -> Path:
    """The production file with real (here: loopback) addresses put in."""
    return retarget(tmp_path / "topology.toml", {"12345": "127.0.0.41", "110": "127.0.0.42",
                                                 "remote": "127.0.0.43"}, ["127.0.5.0/25"],
                    "127.0.5.240")


def _env_file(tmp_path: Path, secrets_dir: Path, **extra: str) -> Path:
    lines = {"HOTLINE_TOPOLOGY_FILE": str(_topology(tmp_path)),
             "HOTLINE_SECRETS_DIR": str(secrets_dir),
             "HOTLINE_REDIS_ADDRESS": "192.0.2.10", "HOTLINE_DB_ADDRESS": "192.0.2.10", **extra}
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return path


def test_given_the_production_topology_and_every_secret_then_the_check_passes(
        tmp_path, secrets_dir, capsys):
    assert main(["config", "check", "--file", str(_env_file(tmp_path, secrets_dir))]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_given_the_shipped_placeholder_addresses_then_each_site_is_named():
    problems = check_config({"HOTLINE_MODE": "lab", "HOTLINE_TOPOLOGY": str(PROD_TOPOLOGY)})
    assert [p.split(": ")[1] for p in problems] == [
        "sites.12345.address", "sites.110.address", "sites.remote.address"]


def test_given_an_empty_environment_then_every_missing_credential_is_named_at_once(tmp_path):
    problems = check_config({"HOTLINE_TOPOLOGY": str(_topology(tmp_path))})
    text = "\n".join(problems)
    for name in ("HOTLINE_ARI_PASSWORD", "HOTLINE_AMI_SECRET", "HOTLINE_SEAT_PASSWORDS_FILE",
                 "HOTLINE_API_USERS_FILE"):
        assert name in text
    assert len(problems) == 4


def test_given_many_wrong_settings_then_one_readable_list_and_a_non_zero_exit(
        tmp_path, secrets_dir, capsys):
    topology = tmp_path / "bad.toml"
    topology.write_text(_topology(tmp_path).read_text()
                        .replace('address = "127.0.0.42"', 'address = "not-an-ip"')
                        .replace('region_code = "410100"', 'region_code = "41"')
                        .replace('to = "remote"', 'to = "nowhere"'))
    (secrets_dir / "ari_password").write_text("lab-ari-secret\n")
    (secrets_dir / "seat_passwords.toml").write_text('[seats]\n"1001" = "x"\n')
    env = _env_file(tmp_path, secrets_dir, HOTLINE_TOPOLOGY_FILE=str(topology),
                    HOTLINE_TRANSFER_MODE="sideways", HOTLINE_API_PORT="eighty")
    assert main(["config", "check", "--file", str(env)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for expected in ("sites.110.address", "sites.remote.region_code", "overflow.to",
                     "HOTLINE_ARI_PASSWORD: a lab secret", "no password for seat 1002",
                     "HOTLINE_TRANSFER_MODE", "HOTLINE_API_PORT"):
        assert expected in err, expected
    assert err.splitlines()[0].startswith("7 problems in")


def test_given_a_missing_secret_file_then_it_is_named(tmp_path, secrets_dir):
    (secrets_dir / "db_password").unlink()
    env = compose_view(read_env_file(_env_file(tmp_path, secrets_dir)), tmp_path)
    assert any(p.startswith("HOTLINE_DB_PASSWORD_FILE: cannot read") for p in check_config(env))


def test_the_controller_runs_the_same_check_at_start(monkeypatch, capsys):
    for key in ("HOTLINE_MODE", "HOTLINE_ARI_PASSWORD", "HOTLINE_AMI_SECRET"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOTLINE_TOPOLOGY", str(PROD_TOPOLOGY))
    assert main(["controller"]) == 2
    err = capsys.readouterr().err
    assert "HOTLINE_API_USERS_FILE" in err and "HOTLINE_ARI_PASSWORD" in err
    assert "Traceback" not in err


def test_compose_view_follows_compose_yaml(tmp_path):
    env = compose_view({"HOTLINE_SECRETS_DIR": "s", "HOTLINE_TOPOLOGY_FILE": "t.toml",
                        "HOTLINE_DB_ADDRESS": "192.0.2.5"}, tmp_path)
    assert env["HOTLINE_ARI_PASSWORD_FILE"] == str(tmp_path / "s" / "ari_password")
    assert env["HOTLINE_TOPOLOGY"] == str(tmp_path / "t.toml")
    assert env["HOTLINE_DB_URL"] == "postgresql+asyncpg://hotline@192.0.2.5:5432/hotline"


def test_given_no_redis_password_then_the_check_names_it(tmp_path, secrets_dir):
    (secrets_dir / "redis_password").unlink()
    env = compose_view(read_env_file(_env_file(tmp_path, secrets_dir)), tmp_path)
    assert any(p.startswith("HOTLINE_REDIS_PASSWORD") for p in check_config(env))


def test_given_an_open311_keys_file_with_a_clear_key_then_the_check_names_it(
        tmp_path, secrets_dir, capsys):
    keys = tmp_path / "open311.toml"
    keys.write_text('[open311.keys.crm]\nplatform = "12345"\nregion_code = "410300"\n'
                    'key = "in-the-clear"\n')
    env_file = _env_file(tmp_path, secrets_dir, HOTLINE_OPEN311_KEYS_FILE=str(keys))
    assert main(["config", "check", "--file", str(env_file)]) == 1
    assert "HOTLINE_OPEN311_KEYS_FILE: open311.keys.crm: clear keys" in capsys.readouterr().err


def test_given_a_bad_recording_table_or_supervisor_seats_without_passwords_then_each_is_named(
        tmp_path, secrets_dir):
    env = compose_view(read_env_file(_env_file(tmp_path, secrets_dir)), tmp_path)
    topology = tmp_path / "topology.toml"   # what _env_file wrote
    text = topology.read_text().replace(
        "recording = { enabled = true, retention_days = 180 }",
        "recording = { enabled = true, retention_days = 0 }\n"
        "supervisor_seats = { first = 1091, last = 1092 }")
    topology.write_text(text)
    problems = check_config(env)
    assert any("sites.12345.recording.retention_days" in p for p in problems), problems
    assert any("1091" in p for p in problems), problems
