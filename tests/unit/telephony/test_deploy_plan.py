"""The deployment's plumbing that needs no Docker engine: the production
topology moved to other addresses, and the demo's refusal while the lab's
addresses are taken."""
from __future__ import annotations

import socket
import tomllib

from telephony.deploy import demo
from telephony.deploy.stack import Addresses, write_config
from telephony.deploy.topology import PRODUCTION_TOPOLOGY, retarget
from telephony.settings import load_settings


def test_retarget_moves_every_placeholder_address_and_keeps_the_rest(tmp_path):
    out = retarget(tmp_path / "t.toml", {"12345": "127.0.0.41", "110": "127.0.0.42",
                                         "remote": "127.0.0.43"}, ["127.0.5.0/25"],
                   "127.0.5.240", rtp_base=43000)
    text = out.read_text()
    assert "192.0.2." not in "".join(line.split("#")[0] for line in text.splitlines())
    moved, prod = tomllib.loads(text), tomllib.loads(PRODUCTION_TOPOLOGY.read_text())
    assert [s["address"] for s in moved["sites"].values()] == ["127.0.0.41", "127.0.0.42",
                                                               "127.0.0.43"]
    assert moved["sites"]["110"]["rtp"] == {"start": 44000, "end": 44999}
    assert moved["defaults"]["citizen_networks"] == ["127.0.5.0/25"]
    for site in prod["sites"]:
        assert moved["sites"][site]["seats"] == prod["sites"][site]["seats"]
    assert moved["lines"]["119"] == "sip:119@127.0.5.240:5060"


def test_write_config_makes_every_secret_fresh_and_a_password_for_every_seat(tmp_path):
    config = write_config(tmp_path, PRODUCTION_TOPOLOGY, Addresses("127.0.0.44", "127.0.0.45",
                                                                   "127.0.0.46"))
    names = sorted(p.name for p in config.secrets_dir.iterdir())
    assert names == ["ami_secret", "api_users.toml", "ari_password", "db_password",
                     "redis.acl", "redis_password", "seat_passwords.toml"]
    # the ACL names the Redis password by its hash only
    password = (config.secrets_dir / "redis_password").read_text().strip()
    acl = (config.secrets_dir / "redis.acl").read_text()
    assert password not in acl and "user default off" in acl
    seats = tomllib.loads((config.secrets_dir / "seat_passwords.toml").read_text())["seats"]
    assert len(seats) == 50 + 30 + 20 and not any(v.startswith("lab-") for v in seats.values())
    assert "token_hash" in (config.secrets_dir / "api_users.toml").read_text()
    assert config.ops_token.split(":", 1)[1] not in (config.secrets_dir / "api_users.toml").read_text()


def test_taken_addresses_names_what_something_holds():
    settings = load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_TOPOLOGY": str(
        PRODUCTION_TOPOLOGY)})
    with socket.socket() as sock:
        sock.bind(("127.0.0.47", 0))
        sock.listen()
        port = sock.getsockname()[1]
        taken = demo.taken_addresses(settings, Addresses("127.0.0.47", "127.0.0.47", "127.0.0.47",
                                                         api_port=port))
    assert f"127.0.0.47:{port}/tcp" in taken


def test_given_the_lab_addresses_taken_then_demo_docker_refuses_and_says_why(monkeypatch, capsys):
    monkeypatch.setattr(demo, "taken_addresses", lambda settings, addresses: ["127.0.0.11:5060/udp"])
    assert demo.run_docker_demo() == 2
    out = capsys.readouterr().out
    assert "127.0.0.11:5060/udp" in out and "hotline lab down" in out
