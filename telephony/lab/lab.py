"""The lab: three Asterisk sites, Redis and the controller on one machine.

`up` is idempotent: it starts only what is not running, and waits until each
piece answers. `down` stops only what `up` recorded.
"""
from __future__ import annotations

import base64
import json
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from telephony.lab.processes import ProcessBook
from telephony.lab.redis_ha import RedisHa
from telephony.lab.runtime import AsteriskRuntime, ensure_runtime, say, write_hosts
from telephony.prompts import MOH_DIR, SOUND_DIR, moh_in_g711, render_prompts
from telephony.render import SiteDirs, render_site, write_site
from telephony.settings import Settings, Site, child_environment, lab_dir

LAB_DIR = lab_dir()


class LabError(RuntimeError):
    pass


# Our keys all start `hotline:`; no admin or dangerous command (CONFIG, FLUSHALL, KEYS...).
REDIS_ACL_RULES = "~hotline:* &* +@all -@admin -@dangerous"


def write_redis_acl(path: Path, user: str, password: str, extra: list[str] | None = None) -> Path:
    """The lab Redis's ACL file (owner-only): the default user off, one user with a
    password (the password stays off the command line, which `ps` shows), and the
    replica's and Sentinels' service users (`extra`)."""
    if not user or not password:
        raise LabError("the lab's Redis URL needs an ACL user and password (lab/accounts.toml)")
    path.touch(mode=0o600)
    path.chmod(0o600)
    lines = ["user default off", f"user {user} on >{password} {REDIS_ACL_RULES}", *(extra or [])]
    path.write_text("\n".join(lines) + "\n")
    return path


class Lab:
    def __init__(self, settings: Settings, lab_dir: Path = LAB_DIR,
                 runtime: AsteriskRuntime | None = None):
        self.settings = settings
        self.lab_dir = lab_dir
        self._runtime = runtime
        self.book = ProcessBook(lab_dir / "processes.json")

    @property
    def runtime(self) -> AsteriskRuntime:
        if self._runtime is None:
            self._runtime = ensure_runtime()
        return self._runtime

    # ---- sites ---------------------------------------------------------
    def site_dirs(self, site: Site) -> SiteDirs:
        """As Asterisk sees them (inside the sid root when chrooted); one set per lab dir,
        so a second lab (a benchmark's, on other addresses) never shares them."""
        return SiteDirs.under(f"/tmp/{self.lab_dir.name}/{site.name}")

    def render(self, site: Site) -> Path:
        dirs = self.site_dirs(site)
        for inner in dirs.all():
            self.runtime.host_path(inner).mkdir(parents=True, exist_ok=True)
        # ARI records into <spool>/recording and does not make it (issue 18)
        self.runtime.host_path(f"{dirs.spool}/recording").mkdir(exist_ok=True)
        etc = self.runtime.host_path(dirs.etc)
        write_site(render_site(self.settings, site, dirs), etc)
        return etc

    def start_site(self, site: Site, fresh: bool = True) -> None:
        name = f"asterisk-{site.name}"
        if self.book.running(name):
            say(f"site {site.name}: already running")
            return
        self.render(site)
        if fresh:
            # a fresh lab site forgets registrations of softphones long gone,
            # which astdb would otherwise keep, and the controller would ring
            db = self.runtime.host_path(self.site_dirs(site).db)
            shutil.rmtree(db, ignore_errors=True)
            db.mkdir(parents=True, exist_ok=True)
        conf = f"{self.site_dirs(site).etc}/asterisk.conf"
        cmd = self.runtime.command("-C", conf, "-f")
        proc = self.book.start(name, cmd, self.lab_dir / f"{name}.log")
        say(f"site {site.name}: asterisk started (pid {proc.pid}) on {site.address}")

    def restart_site(self, site: Site) -> None:
        """Stop and start one site as an operator would: registrations survive."""
        self.stop_site(site)
        self.start_site(site, fresh=False)

    def stop_site(self, site: Site) -> None:
        if self.book.stop(f"asterisk-{site.name}"):
            say(f"site {site.name}: stopped")

    def wait_ari(self, site: Site, timeout: float = 30.0) -> float:
        """Seconds until the site's ARI answers."""
        t0 = time.monotonic()
        creds = self.settings.credentials
        token = base64.b64encode(f"{creds.ari_user}:{creds.ari_password}".encode()).decode()
        request = urllib.request.Request(f"{site.ari_url}/asterisk/info",
                                         headers={"Authorization": f"Basic {token}"})
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:
                    if resp.status == 200:
                        return time.monotonic() - t0
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - t0 > timeout:
                raise LabError(f"site {site.name}: ARI did not answer within {timeout:.0f}s "
                               f"(log: {self.lab_dir}/asterisk-{site.name}.log)")
            if not self.book.running(f"asterisk-{site.name}"):
                raise LabError(f"site {site.name}: asterisk exited; see "
                               f"{self.lab_dir}/asterisk-{site.name}.log")
            time.sleep(0.1)

    # ---- redis -----------------------------------------------------------
    def start_redis(self) -> None:
        if not self.settings.redis_url:
            return
        if self.book.running("redis"):
            say("redis: already running")
            return
        server = shutil.which("redis-server")
        if not server:
            say("redis: redis-server not installed; the controller keeps state in process")
            return
        url = urlparse(self.settings.redis_url)
        data = self.lab_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        acl = self._redis_acl()
        # append-only with fsync every second: the order-event outbox lives here. The
        # default user is off: only the ACL user with its password gets in.
        cmd = [server, "--bind", url.hostname or "127.0.0.1", "--port", str(url.port or 6379),
               "--dir", str(data), "--appendonly", "yes", "--appendfsync", "everysec",
               "--save", "", "--protected-mode", "yes", "--aclfile", str(acl),
               "--daemonize", "no"]
        proc = self.book.start("redis", cmd, self.lab_dir / "redis.log")
        say(f"redis: started (pid {proc.pid}) on {url.hostname}:{url.port}")

    def _redis_acl(self) -> Path:
        url = urlparse(self.settings.redis_url or "")
        data = self.lab_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        return write_redis_acl(data / "users.acl", unquote(url.username or ""),
                               unquote(url.password or ""), extra=self.redis_ha.acl_lines())

    def stop_redis(self) -> None:
        if self.book.stop("redis"):
            say("redis: stopped")

    @property
    def redis_ha(self) -> RedisHa:
        return RedisHa(self.book, self.lab_dir, self.settings.redis_url or "redis://")

    def start_redis_ha(self) -> None:
        """A replica and three Sentinels next to the running primary (`--redis sentinel`)."""
        server = shutil.which("redis-server")
        if not server or not self.settings.redis_url:
            raise LabError("--redis sentinel needs redis-server and a Redis URL")
        self.redis_ha.start(server, self._redis_acl())
        say(f"redis: Sentinels see the primary and the replica "
            f"({self.redis_ha.wait_ready():.1f}s)")

    def restart_redis_member(self, name: str) -> None:
        """Start a stopped primary or replica again from its configuration: behind the
        Sentinels it comes back as a replica of whichever server is primary now."""
        ha = self.redis_ha
        member = ha.primary if name == ha.primary.name else ha.replica
        server = shutil.which("redis-server") or "redis-server"
        ha.start_server(member, server, self._redis_acl(),
                        replica_of=None if member is ha.primary else ha.primary)

    # ---- controllers ------------------------------------------------------------------
    # `lab up --controllers N`: controller 1 is "controller" on the API port (8080), as
    # always; controller k is "controller-k" on the API port + k - 1. They share Redis,
    # the order database and the sites, which they split by site leases.
    @staticmethod
    def controller_name(index: int = 1) -> str:
        return "controller" if index == 1 else f"controller-{index}"

    def controller_port(self, index: int = 1) -> int:
        return self.settings.api_port + index - 1

    def controller_indexes(self) -> list[int]:
        """The controllers the lab book records, running or not, in order."""
        names = self.book.load()
        return [i for i in range(1, 65) if self.controller_name(i) in names]

    def start_controller(self, index: int = 1) -> None:
        name = self.controller_name(index)
        if self.book.running(name):
            say(f"{name}: already running")
            return
        env = child_environment(HOTLINE_MODE="lab" if self.settings.lab_mode else "production",
                                PYTHONUNBUFFERED="1", HOTLINE_CONTROLLER_ID=name,
                                HOTLINE_API_PORT=str(self.controller_port(index)))
        if index > 1:
            # its own spool and audit files; the one order database of the lab
            env["HOTLINE_DATA_DIR"] = str(self.settings.data_dir / name)
            env.setdefault("HOTLINE_DB_URL", self.settings.db_url
                           or f"sqlite+aiosqlite:///{self.settings.data_dir / 'orders.db'}")
        if self.settings.redis_url and not shutil.which("redis-server"):
            env["HOTLINE_REDIS_URL"] = ""
        elif self.settings.redis_url and self.redis_ha.running:
            # find the primary through the Sentinels (lab mode adds the ACL user)
            env["HOTLINE_REDIS_URL"] = self.redis_ha.sentinel_url
        # knowledge-base answers are rendered where this lab's Asterisk finds its sounds
        env.setdefault("HOTLINE_KB_SOUND_DIR", str(self.runtime.host_path(SOUND_DIR)))
        cmd = [sys.executable, "-m", "telephony.cli", "controller"]
        log = self.lab_dir / f"{name}.log"
        proc = self.book.start(name, cmd, log, env=env)
        say(f"{name}: started (pid {proc.pid}, port {self.controller_port(index)}); log {log}")

    def stop_controller(self, index: int | None = None) -> None:
        """Stop one controller, or (None) every one the lab started."""
        for i in [index] if index else (self.controller_indexes() or [1]):
            name = self.controller_name(i)
            if self.book.stop(name):
                say(f"{name}: stopped")

    def health(self, index: int = 1) -> dict | None:
        url = f"http://{self.settings.api_host}:{self.controller_port(index)}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_controller(self, timeout: float = 30.0, index: int = 1) -> float:
        t0 = time.monotonic()
        name = self.controller_name(index)
        while time.monotonic() - t0 < timeout:
            health = self.health(index)
            if health and health.get("ready"):
                return time.monotonic() - t0
            if not self.book.running(name):
                raise LabError(f"{name} exited; see {self.lab_dir}/{name}.log")
            time.sleep(0.1)
        raise LabError(f"{name} not ready within {timeout:.0f}s; health: {self.health(index)}")

    def controllers(self) -> list[dict]:
        """Each controller the lab started: its id, pid, the sites it holds and its epoch
        (from its own /healthz), for `hotline lab status`."""
        out = []
        for index in self.controller_indexes():
            name = self.controller_name(index)
            proc = self.book.running(name)
            roles = ((self.health(index) or {}).get("controller") or {}) if proc else {}
            out.append({"id": roles.get("id", name), "pid": proc.pid if proc else None,
                        "port": self.controller_port(index), "running": proc is not None,
                        "sites": roles.get("sites", []), "epoch": roles.get("epoch"),
                        "leases": roles.get("leases", {})})
        return out

    # ---- the whole lab -------------------------------------------------------
    def up(self, controller: bool = True, controllers: int = 1, redis: str = "single") -> None:
        t0 = time.monotonic()
        say(f"lab dir {self.lab_dir}")
        _ = self.runtime  # provision first, so its progress prints before anything starts
        if self.runtime.chrooted:
            write_hosts(self.runtime.root)
        render_prompts(self.runtime.host_path(SOUND_DIR), say=say)
        moh_in_g711(self.runtime.host_path(MOH_DIR), say=say)
        self.start_redis()
        if redis == "sentinel":
            self.start_redis_ha()
        for site in self.settings.sites:
            self.start_site(site)
        for site in self.settings.sites:
            say(f"site {site.name}: ARI answers at {site.ari_url} ({self.wait_ari(site):.2f}s)")
        if controller:
            for index in range(1, controllers + 1):
                self.start_controller(index)
            for index in range(1, controllers + 1):
                say(f"{self.controller_name(index)}: ready "
                    f"({self.wait_controller(index=index):.2f}s)")
        say(f"lab up in {time.monotonic() - t0:.1f}s")

    def down(self) -> None:
        self.stop_controller()
        for site in self.settings.sites:
            self.stop_site(site)
        self.redis_ha.stop()
        self.stop_redis()

    def processes(self) -> dict[str, bool]:
        return {name: self.book.running(name) is not None for name in self.book.load()}
