"""docker/ read as files: the compose file's services, settings, secrets,
healthchecks and volumes, every file the images copy, and the image's
entrypoint renderer. tests/deploy runs it all on a real Docker engine."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from telephony import render
from telephony.settings import REPO_ROOT, load_settings

DOCKER = REPO_ROOT / "docker"
PROD_ENV = {"HOTLINE_ARI_PASSWORD": "ops-ari", "HOTLINE_AMI_SECRET": "ops-ami"}


@pytest.fixture
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_runs_one_asterisk_per_topology_site_on_the_host_network(compose):
    sites = {s.name for s in load_settings(topology=DOCKER / "topology.toml",
                                           env={"HOTLINE_MODE": "lab"}).sites}
    services = compose["services"]
    asterisks = {v["environment"]["HOTLINE_SITE"] for k, v in services.items()
                 if k.startswith("asterisk-")}
    assert asterisks == sites
    assert all(v.get("network_mode") == "host" for v in services.values())


def test_compose_holds_no_lab_address_every_address_comes_from_settings(compose):
    text = (DOCKER / "compose.yaml").read_text()
    for lab in ("127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.1.", "lab-"):
        assert lab not in text
    assert "${HOTLINE_REDIS_ADDRESS" in " ".join(compose["services"]["redis"]["command"])
    env = compose["services"]["controller"]["environment"]
    assert env["HOTLINE_API_HOST"].startswith("${HOTLINE_API_HOST")


def test_env_example_lists_every_setting_compose_reads():
    used = set(re.findall(r"\$\{(HOTLINE_[A-Z_]+)", (DOCKER / "compose.yaml").read_text()))
    listed = set(re.findall(r"^(HOTLINE_[A-Z_]+)=", (DOCKER / ".env.example").read_text(), re.M))
    assert used == listed


def test_every_credential_is_a_secret_file_and_none_has_a_default(compose):
    text = (DOCKER / "compose.yaml").read_text()
    assert not re.search(r"(PASSWORD|SECRET):\s*\$", text), "a credential in the environment"
    for name, secret in compose["secrets"].items():
        assert secret["file"].startswith("${HOTLINE_SECRETS_DIR:?"), name
    controller = compose["services"]["controller"]
    # every secret but Redis's ACL file, which only Redis reads
    assert set(controller["secrets"]) == set(compose["secrets"]) - {"redis_acl"}
    assert compose["services"]["redis"]["secrets"] == ["redis_acl"]
    for key, value in controller["environment"].items():
        if key.endswith("_FILE"):
            assert value.startswith("/run/secrets/"), key


def test_every_service_has_a_healthcheck_and_the_controller_waits_for_them(compose):
    services = compose["services"]
    assert all(v.get("healthcheck") for v in services.values())
    waits = services["controller"]["depends_on"]
    assert set(waits) == set(services) - {"controller"}
    assert all(v == {"condition": "service_healthy"} for v in waits.values())


def test_every_piece_of_state_is_in_a_volume(compose):
    services = compose["services"]
    mounts = {name: " ".join(v.get("volumes", [])) for name, v in services.items()}
    assert "controller-data:/var/lib/hotline-link" in mounts["controller"]   # spool, audit
    assert "redis-data:/data" in mounts["redis"]
    assert "pg-data:/var/lib/postgresql/data" in mounts["postgres"]
    for site in ("12345", "110", "remote"):
        assert f"spool-{site}:/var/spool/asterisk" in mounts[f"asterisk-{site}"]


def test_the_kb_answers_the_controller_renders_are_the_sounds_every_asterisk_plays(compose):
    """Published answers go to <HOTLINE_KB_SOUND_DIR>/kb in the controller and are played as
    sound:hotline/kb/... by each site: one volume, mounted at both places."""
    services = compose["services"]
    sound_dir = services["controller"]["environment"]["HOTLINE_KB_SOUND_DIR"]
    assert f"kb-sounds:{sound_dir}/kb" in services["controller"]["volumes"]
    for site in ("12345", "110", "remote"):
        assert "kb-sounds:/usr/share/asterisk/sounds/hotline/kb:ro" in \
            services[f"asterisk-{site}"]["volumes"]
    assert "kb-sounds" in compose["volumes"]
    assert "espeak-ng sox" in (DOCKER / "controller/Dockerfile").read_text()


def test_the_official_images_stay_the_defaults(compose):
    services = compose["services"]
    assert services["redis"]["image"] == "${HOTLINE_REDIS_IMAGE:-redis:7}"
    assert services["postgres"]["image"] == "${HOTLINE_POSTGRES_IMAGE:-postgres:15}"
    assert "FROM debian:sid-slim" in (DOCKER / "asterisk/Dockerfile").read_text()
    assert "FROM python:3.11-slim-bookworm" in (DOCKER / "controller/Dockerfile").read_text()


def test_the_asterisk_image_builds_the_prompts_in():
    text = (DOCKER / "asterisk/Dockerfile").read_text()
    assert "RUN python3 /tmp/prompts/prompts.py --source /tmp/prompts/prompts.toml" in text


@pytest.mark.parametrize("dockerfile", ["asterisk/Dockerfile", "controller/Dockerfile",
                                        "local/redis.Dockerfile", "local/postgres.Dockerfile"])
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
    numbers = [*range(1001, 1011), *range(1091, 1100)]   # seats and supervisors' seats
    seats.write_text("[seats]\n" + "\n".join(f'{n} = "ops-{n}"' for n in numbers))
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
