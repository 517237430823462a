"""The Docker deployment, on a real Docker engine: docker/compose.yaml up from
the production topology (docker/topology.toml, moved to this test's own
loopback addresses so it runs beside the lab), real SIP calls with SIPp, a
controller restart mid-call, and a `down` that leaves nothing behind.

Addresses: sites 127.0.0.41-43, Redis .44, PostgreSQL .45, the controller's
HTTP .46:8080; SIPp citizens 127.0.5.1 (gateway network 127.0.5.0/25), seats
127.0.5.200, lines 127.0.5.240.
"""
from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import pytest

from telephony.config.check import check_config, compose_view, read_env_file
from telephony.deploy.engine import DockerEngine
from telephony.deploy.stack import Addresses, Stack, seat_password, write_config
from telephony.deploy.topology import retarget
from telephony.lab.sipp import (
    SippRun,
    agent_scenario,
    citizen_scenario,
    free_udp_port,
    poke,
    register_seat,
    start_sipp,
)
from telephony.settings import Settings, load_settings

pytestmark = pytest.mark.deploy

SITES = {"12345": "127.0.0.41", "110": "127.0.0.42", "remote": "127.0.0.43"}
ADDRESSES = Addresses(redis="127.0.0.44", db="127.0.0.45", api_host="127.0.0.46")
CITIZEN_IP, SEAT_IP, LINE_HOST = "127.0.5.1", "127.0.5.200", "127.0.5.240"
CITIZEN = "13800138000"
PROJECT = "hotline-deploy-test"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    work = tmp_path_factory.mktemp("deploy")
    topology = retarget(work / "topology.toml", SITES, ["127.0.5.0/25"], LINE_HOST, rtp_base=43000)
    config = write_config(work, topology, ADDRESSES, {"HOTLINE_TRANSFER_TIMEOUT_S": "8"})
    engine = DockerEngine()
    engine.ensure()
    stack = Stack(engine, config, PROJECT)
    stack.down()    # a run killed half-way left its project behind
    t0 = time.monotonic()
    try:
        stack.build()
        built = time.monotonic() - t0
        up = stack.up()
        print(f"\n[deploy] images ready in {built:.1f}s, stack healthy {up:.1f}s later")
        yield stack
    finally:
        stack.down()
        engine.stop()


@pytest.fixture(scope="module")
def settings(deployment: Stack) -> Settings:
    env = compose_view(read_env_file(deployment.config.env_file), deployment.config.env_file.parent)
    env["HOTLINE_ARI_PASSWORD_FILE"] = str(deployment.config.secrets_dir / "ari_password")
    return load_settings(env=env)


def test_the_test_env_file_passes_config_check(deployment: Stack):
    env = compose_view(read_env_file(deployment.config.env_file), deployment.config.env_file.parent)
    assert check_config(env) == []


def test_every_service_is_healthy_and_keeps_its_state_in_volumes(deployment: Stack):
    assert deployment.states() == {service: "healthy" for service in deployment.states()}
    assert len(deployment.states()) == 6
    volumes = deployment.engine.docker(
        "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout
    for name in ("controller-data", "redis-data", "pg-data", "spool-12345"):
        assert f"{PROJECT}_{name}" in volumes.split()
    health = deployment.health() or {}
    assert health["ready"] and health["orders"]["database"]
    assert health["orders"]["consumer"]["mode"] == "process" and health["orders"]["consumer"]["pid"]


async def _until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def _on_duty(deployment: Stack, settings: Settings, seat: str, scenario, work: Path) -> SippRun:
    site = settings.site_of_seat(seat)
    port = free_udp_port(SEAT_IP)
    await register_seat(seat, seat_password(deployment.config, seat),
                        f"{site.address}:{site.sip_port}", contact_ip=SEAT_IP, contact_port=port)
    run = await start_sipp(str(scenario), "", local_ip=SEAT_IP, local_port=port, service=seat,
                           timeout_s=120, name=f"seat-{seat}", workdir=work)
    await _until(lambda: ((deployment.health() or {}).get("seats", {}).get(site.name, {})
                          .get(seat) == "available"), what=f"seat {seat} on duty")
    return run


async def test_citizen_call_survives_a_controller_restart_and_is_handed_to_110(
        deployment: Stack, settings: Settings, tmp_path: Path):
    agent = await _on_duty(deployment, settings, "1001", agent_scenario(
        tmp_path / "agent-1001.xml", [("await", 90000), ("info", "*1")], 120000), tmp_path)
    police = await _on_duty(deployment, settings, "2001", "seat_answer.xml", tmp_path)
    hotline = settings.site("12345")
    citizen = await start_sipp(
        str(citizen_scenario(tmp_path / "citizen.xml", [("await", 90000)])),
        f"{hotline.address}:{hotline.sip_port}", local_ip=CITIZEN_IP, service="12345",
        variables={"citizen": CITIZEN}, timeout_s=120, name="citizen", workdir=tmp_path)
    try:
        await _until(lambda: agent.received("INVITE"), what="the INVITE at seat 1001")
        invite = agent.received("INVITE")[0]
        assert f"sip:{CITIZEN}@" in (invite.header("From") or "")
        assert f"sip:{CITIZEN}@" in (invite.header("P-Asserted-Identity") or "")
        assert (invite.header("X-Work-Order") or "").startswith("WO-")
        await _until(lambda: _bridged(deployment), what="citizen and seat 1001 bridged")

        t0 = time.monotonic()
        deployment.compose("restart", "controller", timeout=60)
        await _until(lambda: (deployment.health() or {}).get("ready"), 60, "controller ready")
        restarted = time.monotonic() - t0
        assert citizen.proc.returncode is None and agent.proc.returncode is None, \
            "the call ended while the controller restarted"
        await _until(lambda: (deployment.health() or {}).get("calls"), 10, "the call adopted")

        poke(agent, invite.header("Call-ID") or "")           # agent 1001 presses *1
        await _until(lambda: police.received("INVITE"), 20, "the INVITE at seat 2001 (110)")
        target = police.received("INVITE")[0]
        assert f"sip:{CITIZEN}@" in (target.header("From") or "")
        assert f"sip:{CITIZEN}@" in (target.header("P-Asserted-Identity") or "")
        assert (target.header("X-Work-Order") or "").startswith("PO-")
        assert target.header("X-Linked-Order") == invite.header("X-Work-Order")
        print(f"\n[deploy] controller restarted in {restarted:.1f}s mid-call; *1 handed it to 110")

        await _until(lambda: agent.proc.returncode is not None, 20, "agent 1001 released")
        citizen_invite_ok = citizen.messages("sent")[0]
        poke(citizen, citizen_invite_ok.header("Call-ID") or "")   # the citizen hangs up
        assert await citizen.wait(20) == 0, citizen.output()
        assert await police.wait(20) == 0, police.output()
        assert await agent.wait(5) == 0, agent.output()
    finally:
        for run in (citizen, agent, police):
            run.stop()


async def _bridged(deployment: Stack) -> bool:
    return ((deployment.health() or {}).get("calls") or {}).get("connected", 0) >= 1


def test_down_leaves_no_container_network_or_process(deployment: Stack):
    exec_root = str(deployment.engine.base / "exec")
    deployment.down()
    assert deployment.leftovers() == {"container": [], "network": [], "volume": []}
    assert _stack_processes(exec_root) == []
    for address, port, kind in [(a, 5060, socket.SOCK_DGRAM) for a in SITES.values()] + [
            (a, 8088, socket.SOCK_STREAM) for a in SITES.values()] + [
            (ADDRESSES.redis, 6379, socket.SOCK_STREAM), (ADDRESSES.db, 5432, socket.SOCK_STREAM),
            (ADDRESSES.api_host, 8080, socket.SOCK_STREAM)]:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))   # raises if anything of the stack still holds it


def _stack_processes(exec_root: str) -> list[str]:
    """Container shims of our engine still running (each container has one)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "containerd-shim" in line and exec_root in line]


def test_a_lab_address_is_not_used(deployment: Stack):
    text = deployment.config.env_file.read_text() + Path(
        read_env_file(deployment.config.env_file)["HOTLINE_TOPOLOGY_FILE"]).read_text()
    for lab in ("127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.1.", "127.0.4."):
        assert lab not in text
