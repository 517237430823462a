"""`hotline demo --docker [--keep]`: the demo call against the compose deployment.

It runs at the lab's addresses and ports (dialplan/sites.toml as the topology),
so the lab must be down: it refuses, naming what holds them, if they are taken.
"""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from telephony.config.check import compose_view, read_env_file
from telephony.deploy.engine import DockerEngine, EngineError
from telephony.deploy.stack import Addresses, Stack, write_config
from telephony.settings import DEFAULT_TOPOLOGY, Settings, cache_dir, load_settings

PROJECT = "hotline"
# the lab's own addresses for the stack's services (README, "The lab")
LAB_ADDRESSES = Addresses(redis="127.0.0.10", db="127.0.0.1", api_host="127.0.0.1")


def taken_addresses(settings: Settings, addresses: Addresses) -> list[str]:
    """Every address:port the deployment needs that something already holds."""
    wanted = [(s.address, s.sip_port, socket.SOCK_DGRAM) for s in settings.sites]
    wanted += [(s.address, port, socket.SOCK_STREAM) for s in settings.sites
               for port in (s.ari_port, s.ami_port)]
    wanted += [(addresses.redis, addresses.redis_port, socket.SOCK_STREAM),
               (addresses.db, addresses.db_port, socket.SOCK_STREAM),
               (addresses.api_host, addresses.api_port, socket.SOCK_STREAM)]
    taken = []
    for address, port, kind in wanted:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                taken.append(f"{address}:{port}/{'udp' if kind == socket.SOCK_DGRAM else 'tcp'}")
    return taken


def run_docker_demo(keep: bool = False, topology: Path = DEFAULT_TOPOLOGY,
                    addresses: Addresses = LAB_ADDRESSES, seat_ip: str = "127.0.2.1",
                    citizen_ip: str = "127.0.1.1", project: str = PROJECT) -> int:
    """By default at the lab's addresses (the README's); the arguments move it elsewhere."""
    from telephony.lab.demo import Steps, docker_demo

    lab = load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_TOPOLOGY": str(topology)})
    taken = taken_addresses(lab, addresses)
    if taken:
        print("hotline demo --docker: the deployment runs at the lab's addresses, and these are "
              f"taken: {', '.join(taken)}.\nStop the lab first (.venv/bin/hotline lab down), or "
              "whatever else holds them.", flush=True)
        return 2
    work = cache_dir() / "docker" / f"demo-{project}"
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work, topology, addresses)
    engine = DockerEngine()
    print("== hotline-link demo --docker: the compose deployment at the lab's addresses; a "
          "citizen calls 12345; agent 1001 presses *1; seat 2001 at 110 takes the call ==",
          flush=True)
    stack = Stack(engine, config, project)
    step = Steps()
    code = 1
    try:
        engine.ensure()
        step(f"Docker engine at {engine.host or 'the default socket'}")
        t0 = time.monotonic()
        stack.build()
        step(f"images built ({time.monotonic() - t0:.1f}s; cached under {engine.base})")
        step(f"compose up: every service healthy in {stack.up():.1f}s: "
             + ", ".join(f"{k} {v}" for k, v in sorted(stack.states().items())))
        env = compose_view(read_env_file(config.env_file), config.env_file.parent)
        settings = load_settings(env=env)
        code = asyncio.run(docker_demo(settings, stack, step, seat_ip, citizen_ip))
    except (EngineError, RuntimeError, AssertionError, TimeoutError, OSError) as exc:
        print(f"demo failed: {exc}", flush=True)
    finally:
        if keep and code == 0:
            _kept(stack, config.env_file, work, project)
        else:
            stack.down()
            step("compose down: no container, network or volume left")
            engine.stop()
    return code


def _kept(stack: Stack, env_file: Path, work: Path, project: str) -> None:
    host = f"DOCKER_HOST={stack.engine.host} " if stack.engine.host else ""
    print(f"\nThe deployment keeps running at the lab's addresses (secrets in {work}/secrets;\n"
          f"API token {stack.config.ops_token}). Stop it with:\n"
          f"  {host}docker-compose -f docker/compose.yaml -p {project} --env-file {env_file} down"
          + (f"\nthen the Docker engine this demo started: kill {stack.engine.started.pid}"
             if stack.engine.started else ""), flush=True)
