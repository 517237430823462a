"""docker/ must stay true to the lab: same templates, addresses and ports.

No Docker engine runs here, so this checks what can be checked: the compose
file's services and addresses, that every file the images copy exists, and
that the image's entrypoint renderer produces the lab's configuration."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from telephony.lab import render
from telephony.settings import REPO_ROOT, load_settings

DOCKER = REPO_ROOT / "docker"
PROD_ENV = {"HOTLINE_ARI_PASSWORD": "ops-ari", "HOTLINE_AMI_SECRET": "ops-ami"}


@pytest.fixture
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_runs_one_asterisk_per_lab_site_on_the_host_network(compose):
    sites = {s.name for s in load_settings(env={"HOTLINE_MODE": "lab"}).sites}
    services = compose["services"]
    asterisks = {v["environment"]["HOTLINE_SITE"] for k, v in services.items()
                 if k.startswith("asterisk-")}
    assert asterisks == sites
    assert all(v.get("network_mode") == "host" for v in services.values())


def test_compose_uses_the_lab_addresses_for_redis_and_the_controller(compose):
    services = compose["services"]
    assert services["redis"]["command"][1:5] == ["--bind", "127.0.0.10", "--port", "6379"]
    env = services["controller"]["environment"]
    assert env["HOTLINE_REDIS_URL"] == "redis://127.0.0.10:6379/0"
    assert (env["HOTLINE_API_HOST"], env["HOTLINE_API_PORT"]) == ("127.0.0.1", "8080")


def test_compose_ships_no_default_secret():
    text = (DOCKER / "compose.yaml").read_text()
    for var in ("HOTLINE_ARI_PASSWORD", "HOTLINE_AMI_SECRET", "HOTLINE_DB_PASSWORD"):
        assert re.search(r"\$\{" + var + r":\?", text), var
    assert "lab-" not in text


@pytest.mark.parametrize("dockerfile", ["asterisk/Dockerfile", "controller/Dockerfile"])
def test_every_file_an_image_copies_exists(dockerfile):
    for line in (DOCKER / dockerfile).read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO_ROOT / src).exists(), f"{dockerfile}: {src} missing"


def test_image_entrypoint_renders_the_lab_configuration_with_ops_credentials(
        tmp_path: Path, monkeypatch):
    for key, value in PROD_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HOTLINE_MODE", raising=False)
    seats = tmp_path / "seats.toml"
    seats.write_text("[seats]\n" + "\n".join(f'{n} = "ops-{n}"' for n in range(1001, 1011)))
    monkeypatch.setenv("HOTLINE_SEAT_PASSWORDS_FILE", str(seats))
    assert render.main(["--site", "12345", "--out", str(tmp_path / "etc")]) == 0
    etc = tmp_path / "etc"
    assert "bind = 127.0.0.11:5060" in (etc / "pjsip.conf").read_text()
    assert "password = ops-1001" in (etc / "pjsip.conf").read_text()
    assert "lab-" not in (etc / "pjsip.conf").read_text()
    assert "password = ops-ari" in (etc / "ari.conf").read_text()
    assert "astetcdir => /etc/asterisk" in (etc / "asterisk.conf").read_text()
    # same templates as the lab: only directories, credentials and lab-only lines differ
    lab = load_settings(env={"HOTLINE_MODE": "lab"})
    lab_files = render.render_site(lab, lab.site("12345"), render.container_dirs(), "asterisk")
    assert lab_files["http.conf"] == (etc / "http.conf").read_text()
    assert lab_files["rtp.conf"] == (etc / "rtp.conf").read_text()
    assert sorted(lab_files) == sorted(p.name for p in etc.iterdir())


def test_image_entrypoint_refuses_lab_credentials(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HOTLINE_MODE", raising=False)
    monkeypatch.setenv("HOTLINE_ARI_PASSWORD", "lab-ari-secret")
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "x")
    assert render.main(["--site", "110", "--out", str(tmp_path)]) == 2
    assert "refused" in capsys.readouterr().err
