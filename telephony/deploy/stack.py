"""The compose deployment: its configuration, images, and life (up, healthy, down).

Used by `hotline demo --docker` and the deployment test; ops run the same
compose file with docker-compose directly (README, "Deploy with Docker").
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from services.api.accounts import hash_secret
from telephony.deploy.engine import DockerEngine, EngineError, docker_cli, say
from telephony.deploy.images import ensure_base_images
from telephony.settings import REPO_ROOT, cache_dir

COMPOSE_FILE = REPO_ROOT / "docker" / "compose.yaml"
COMPOSE_HTTP_TIMEOUT_S = 600
LOCAL_IMAGES = {   # images built here from Debian's packages, for the official ones
    "hotline-link/redis:local": "docker/local/redis.Dockerfile",
    "hotline-link/postgres:local": "docker/local/postgres.Dockerfile",
}
SERVICES = ("asterisk-12345", "asterisk-110", "asterisk-remote", "redis", "postgres",
            "controller")


@dataclass(frozen=True)
class Addresses:
    """Where the stack's own services listen (the sites' addresses are in the topology)."""

    redis: str
    db: str
    api_host: str
    api_port: int = 8080
    redis_port: int = 6379
    db_port: int = 5432


@dataclass(frozen=True)
class DeployConfig:
    env_file: Path
    secrets_dir: Path
    ops_token: str     # "ops:<secret>", for the API


def write_config(workdir: Path, topology: Path, addresses: Addresses,
                 extra: dict[str, str] | None = None) -> DeployConfig:
    """A fresh env file and secrets dir: random credentials, a password for every seat."""
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    seats = _seats(topology)
    values = {"ari_password": secrets.token_urlsafe(18), "ami_secret": secrets.token_urlsafe(18),
              "db_password": secrets.token_urlsafe(18),
              "redis_password": secrets.token_urlsafe(18)}
    for name, value in values.items():
        (secrets_dir / name).write_text(value + "\n")
    (secrets_dir / "redis.acl").write_text(redis_acl(values["redis_password"]))
    (secrets_dir / "seat_passwords.toml").write_text(
        "[seats]\n" + "".join(f'"{seat}" = "{secrets.token_urlsafe(12)}"\n' for seat in seats))
    token = secrets.token_urlsafe(24)
    (secrets_dir / "api_users.toml").write_text(
        f'[api.users.ops]\nrole = "ops"\ntoken_hash = "{hash_secret(token)}"\n')
    for path in secrets_dir.iterdir():
        path.chmod(0o644 if path.name == "redis.acl" else 0o600)
    settings = {
        "HOTLINE_TOPOLOGY_FILE": str(topology),
        "HOTLINE_SECRETS_DIR": str(secrets_dir),
        "HOTLINE_REDIS_ADDRESS": addresses.redis,
        "HOTLINE_REDIS_PORT": str(addresses.redis_port),
        "HOTLINE_DB_ADDRESS": addresses.db,
        "HOTLINE_DB_PORT": str(addresses.db_port),
        "HOTLINE_API_HOST": addresses.api_host,
        "HOTLINE_API_PORT": str(addresses.api_port),
        "HOTLINE_REDIS_IMAGE": "hotline-link/redis:local",
        "HOTLINE_POSTGRES_IMAGE": "hotline-link/postgres:local",
        **(extra or {}),
    }
    env_file = workdir / "deploy.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return DeployConfig(env_file, secrets_dir, f"ops:{token}")


def redis_acl(password: str, user: str = "hotline") -> str:
    """Redis's ACL file: the default user off, ours on our keys only (README, Security).
    It names the password by its SHA-256 only, so the file may be readable by Redis's user."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return (f"user default off\n"
            f"user {user} on #{digest} ~hotline:* &* +@all -@admin -@dangerous\n")


def seat_password(config: DeployConfig, seat: str) -> str:
    table = tomllib.loads((config.secrets_dir / "seat_passwords.toml").read_text())
    return table["seats"][seat]


def _seats(topology: Path) -> list[str]:
    data = tomllib.loads(topology.read_text(encoding="utf-8"))
    return [str(n) for site in data["sites"].values()
            for n in range(int(site["seats"]["first"]), int(site["seats"]["last"]) + 1)]


class Stack:
    """One compose project on one engine."""

    def __init__(self, engine: DockerEngine, config: DeployConfig, project: str):
        self.engine = engine
        self.config = config
        self.project = project
        self.env = _read_env(config.env_file)

    def compose(self, *args: str, check: bool = True, capture: bool = False,
                timeout: float | None = None) -> subprocess.CompletedProcess:
        compose = shutil.which("docker-compose")
        if not compose:
            raise EngineError("docker-compose missing: install Debian's docker-compose (./run does)")
        cmd = [compose, "-f", str(COMPOSE_FILE), "-p", self.project,
               "--env-file", str(self.config.env_file), *args]
        # variables in the environment win over the env file in docker-compose:
        # drop ours so the file decides
        env = {k: v for k, v in self.engine.env.items() if k not in self.env}
        # docker-compose gives the engine 60 s per API call by default. Under the vfs
        # storage driver creating a container copies its whole image (twice: the init
        # layer, then the container's own), and five created at once on a slow disk
        # took longer than that in CI: "Read timed out. (read timeout=60)"
        env.setdefault("COMPOSE_HTTP_TIMEOUT", str(COMPOSE_HTTP_TIMEOUT_S))
        env.setdefault("DOCKER_CLIENT_TIMEOUT", str(COMPOSE_HTTP_TIMEOUT_S))
        return subprocess.run(cmd, env=env, check=check, text=True, timeout=timeout,
                              capture_output=capture)

    def build(self) -> None:
        """Base images, wheels, local redis/postgres, then the compose images."""
        ensure_base_images(self.engine)
        _wheels()
        for tag, dockerfile in LOCAL_IMAGES.items():
            self._docker_build(tag, dockerfile)
        t0 = time.monotonic()
        self.compose("build", "--quiet", check=True)
        say(f"compose images built in {time.monotonic() - t0:.1f}s")

    def _docker_build(self, tag: str, dockerfile: str) -> None:
        env = {**self.engine.env, "DOCKER_BUILDKIT": "0"}
        subprocess.run([docker_cli(), "build", "-q", "--network", "host", "-f", dockerfile,
                        "-t", tag, "."], cwd=REPO_ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)

    def up(self, timeout: float = 180) -> float:
        """Start every service and wait until all are healthy; the seconds it took.

        Creating the containers gets its own, longer bound (see `compose`), and one
        more `up` if the first failed: `up` converges, so a container the engine
        finished after compose gave up is kept, and a missing one is created."""
        t0 = time.monotonic()
        first = self.compose("up", "-d", "--no-build", check=False,
                             timeout=COMPOSE_HTTP_TIMEOUT_S + timeout)
        if first.returncode != 0:
            say(f"compose up failed (exit {first.returncode}); once more, as up converges")
            self.compose("up", "-d", "--no-build", timeout=COMPOSE_HTTP_TIMEOUT_S + timeout)
        self.wait_healthy(timeout)
        return time.monotonic() - t0

    def states(self) -> dict[str, str]:
        """Service -> health ('healthy', 'starting', 'unhealthy', or the container state)."""
        ids = self.compose("ps", "-q", capture=True).stdout.split()
        if not ids:
            return {}
        out = self.engine.docker("inspect", *ids).stdout
        states = {}
        for item in json.loads(out):
            service = item["Config"]["Labels"].get("com.docker.compose.service", item["Name"])
            health = (item["State"].get("Health") or {}).get("Status")
            states[service] = health or item["State"]["Status"]
        return states

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self.states()
            if set(states) == set(SERVICES) and all(v == "healthy" for v in states.values()):
                return
            time.sleep(0.5)
        self.compose("logs", "--tail=30", check=False)
        raise EngineError(f"not all services healthy after {timeout:.0f}s: {states}")

    def health(self) -> dict | None:
        url = f"http://{self.env['HOTLINE_API_HOST']}:{self.env['HOTLINE_API_PORT']}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.load(resp)
        except OSError:
            return None

    def down(self, volumes: bool = True) -> None:
        args = ["down", "--remove-orphans", "--timeout", "10"] + (["--volumes"] if volumes else [])
        self.compose(*args, check=False)

    def leftovers(self) -> dict[str, list[str]]:
        """What of this project the engine still holds: containers, networks, volumes."""
        label = f"label=com.docker.compose.project={self.project}"
        return {kind: self.engine.docker(kind, "ls", "-q", "--filter", label).stdout.split()
                for kind in ("container", "network", "volume")}



def _read_env(path: Path) -> dict[str, str]:
    from telephony.config.check import read_env_file
    return read_env_file(path)


def _wheels() -> None:
    """Wheels of every dependency, from pip's cache, into docker/wheels/ (build context).

    Resolved by Debian's own python3, the interpreter the local base image has,
    so that markers such as python_full_version pick the same packages."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_bytes()
    deps = tomllib.loads(pyproject.decode())["project"]["dependencies"]
    store = cache_dir() / "docker" / "wheels"
    stamp = store / ".for"
    want = hashlib.sha256(json.dumps([deps, "/usr/bin/python3"]).encode()).hexdigest()[:16]
    if not (stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        venv = cache_dir() / "docker" / "wheel-venv"
        if not (venv / "bin" / "pip").exists():
            subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        say(f"collecting wheels for the controller image in {store}")
        subprocess.run([str(venv / "bin" / "pip"), "wheel", "-q", "-w", str(store), *deps],
                       check=True)
        stamp.write_text(want)
    target = REPO_ROOT / "docker" / "wheels"
    for wheel in store.glob("*.whl"):
        dest = target / wheel.name
        if not dest.exists():
            try:
                os.link(wheel, dest)
            except OSError:
                shutil.copy2(wheel, dest)
    for stale in target.glob("*.whl"):
        if not (store / stale.name).exists():
            stale.unlink()
