"""Settings, built once at start from `dialplan/sites.toml` and the environment.

Frozen dataclasses: nothing changes them after start, and every component
gets the part it needs passed in.
"""
from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from telephony.calls.model import other_platform
from telephony.topology import Site, parse_topology

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOPOLOGY = REPO_ROOT / "dialplan" / "sites.toml"
LAB_ACCOUNTS = REPO_ROOT / "lab" / "accounts.toml"


class SettingsError(ValueError):
    """The configuration cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Credentials:
    ari_user: str
    ari_password: str
    ami_user: str
    ami_secret: str
    seat_password_format: str | None = None  # lab only: "lab-{seat}"
    seat_passwords: Mapping[str, str] = field(default_factory=dict)

    def seat_password(self, seat: str) -> str:
        if seat in self.seat_passwords:
            return self.seat_passwords[seat]
        if self.seat_password_format:
            return self.seat_password_format.format(seat=seat)
        raise SettingsError(f"no password configured for seat {seat}")


@dataclass(frozen=True)
class Settings:
    sites: tuple[Site, ...]
    lines: Mapping[str, str]
    credentials: Credentials
    citizen_networks: tuple[str, ...]
    redis_url: str | None          # with the ACL user and password in it
    lab_mode: bool
    app_name: str = "hotline"
    ring_timeout_s: int = 20
    transfer_timeout_s: int = 20
    blind_transfer: bool = False
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    log_dir: Path | None = None
    data_dir: Path = Path("/var/lib/hotline-link")
    db_url: str | None = None      # None: SQLite in data_dir
    # the order-event consumer: "process" (the controller runs it as a child), "inline"
    # (on the controller's loop) or "external" (run by ops as `hotline orders consume`)
    orders_consumer: str = "process"
    # ARI requests on the events WebSocket (falls back to HTTP where Asterisk lacks it)
    ari_requests: str = "websocket"
    # where AMI logins may come from (the controller's addresses)
    manager_networks: tuple[str, ...] = ("127.0.0.0/8",)
    # browser origins the API answers (CORS); none by default
    api_origins: frozenset[str] = frozenset()
    open311_keys_file: str | None = None    # hashed Open311 API keys (not used in the lab)
    # where callbacks to citizens go out (the PSTN gateway's sip: URI); None: no callbacks
    citizen_gateway: str | None = None
    # sites whose booked callbacks a scheduled job places (HOTLINE_CALLBACK_SITES); none: off
    callback_sites: frozenset[str] = frozenset()
    kb_sound_dir: Path | None = None        # where knowledge-base answers are rendered
    # names this controller's order consumer in the stream's group: HOTLINE_CONTROLLER_ID
    # when set, else None (host and API port: the same name after a restart)
    consumer_id: str | None = None
    # each site's recording directory as this process sees it, "{site}" in it (the
    # switch's spool: a shared volume in docker/, the sid root's in the lab)
    recordings_dir: str | None = None
    recording_expiry_s: float = 3600.0      # how often expired recordings are deleted
    stall_probe_ms: int | None = None       # log what the loop ran in stalls over this
    # this controller's name among those sharing the sites (site leases, consumers)
    controller_id: str = "controller"
    lease_ttl_s: float = 1.5                # a site lease's TTL; renewed five times inside it

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        raise SettingsError(f"unknown site {name!r}; known: {[s.name for s in self.sites]}")

    def other_platform_site(self, site: Site) -> Site:
        """The site that takes hand-overs from `site` (12345 <-> 110)."""
        want = other_platform(site.platform)
        for candidate in self.sites:
            if candidate.service_number == want:
                return candidate
        raise SettingsError(f"no site serves platform {want}")

    def site_of_supervisor_seat(self, seat: str) -> Site:
        for site in self.sites:
            if seat in site.supervisor_seats:
                return site
        raise SettingsError(f"seat {seat} is no site's supervisor seat")

    def site_of_seat(self, seat: str) -> Site:
        for site in self.sites:
            if seat in site.seats:
                return site
        raise SettingsError(f"seat {seat} belongs to no site")


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"configuration file missing: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from exc


def with_db_password(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with HOTLINE_DB_PASSWORD(_FILE) put into a HOTLINE_DB_URL that names a user
    but carries no password. Every other secret is read where it is used, by `secret()`."""
    out = dict(env)
    url = out.get("HOTLINE_DB_URL")
    if url and "://" in url:
        scheme, rest = url.split("://", 1)
        userinfo, sep, hostpart = rest.rpartition("@")
        if sep and ":" not in userinfo:
            password = secret(out, "HOTLINE_DB_PASSWORD")
            if password:
                out["HOTLINE_DB_URL"] = (f"{scheme}://{userinfo}:{quote(password, safe='')}"
                                         f"@{hostpart}")
    return out


def load_settings(
    topology: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    env = with_db_password(os.environ if env is None else env)
    topology = Path(env.get("HOTLINE_TOPOLOGY", topology or DEFAULT_TOPOLOGY))
    sites, lines, defaults = parse_topology(_load_toml(topology))
    if env.get("HOTLINE_SURGE_AFTER_S"):   # drills and tests shorten the wait
        sites = tuple(replace(site, surge_after_s=float(env["HOTLINE_SURGE_AFTER_S"]))
                      if site.surge_after_s is not None else site for site in sites)
    lines.update({name: env[f"HOTLINE_LINE_{name.upper()}"] for name in list(lines)
                  if env.get(f"HOTLINE_LINE_{name.upper()}")})
    lab_mode = env.get("HOTLINE_MODE", "production") == "lab"
    credentials, redis_url = _credentials(env, lab_mode)
    redis_url = _redis_url(env, lab_mode, env.get("HOTLINE_REDIS_URL", redis_url) or None)
    if not lab_mode:
        _check_db_url(env)
    return Settings(
        sites=sites,
        lines=lines,
        credentials=credentials,
        citizen_networks=tuple(defaults.get("citizen_networks", ["127.0.1.0/24"])),
        manager_networks=tuple(defaults.get("manager_networks", ["127.0.0.0/8"])),
        redis_url=redis_url,
        lab_mode=lab_mode,
        ring_timeout_s=int(env.get("HOTLINE_RING_TIMEOUT_S", defaults.get("ring_timeout_s", 20))),
        transfer_timeout_s=int(env.get("HOTLINE_TRANSFER_TIMEOUT_S", "20")),
        # warm (the agent stays until the target answers) by default
        blind_transfer=_choice(env, "HOTLINE_TRANSFER_MODE", ("warm", "blind")) == "blind",
        api_host=env.get("HOTLINE_API_HOST", "127.0.0.1"),
        api_port=int(env.get("HOTLINE_API_PORT", "8080")),
        log_dir=Path(env["HOTLINE_LOG_DIR"]) if env.get("HOTLINE_LOG_DIR") else None,
        data_dir=_data_dir(env, lab_mode) or Path("/var/lib/hotline-link"),
        db_url=env.get("HOTLINE_DB_URL") or None,
        orders_consumer=_choice(env, "HOTLINE_ORDERS_CONSUMER", ("process", "inline", "external")),
        ari_requests=_choice(env, "HOTLINE_ARI_REQUESTS", ("websocket", "http")),
        api_origins=frozenset(o for o in env.get("HOTLINE_API_ORIGINS", "").split(",") if o),
        open311_keys_file=env.get("HOTLINE_OPEN311_KEYS_FILE") or None,
        callback_sites=frozenset(x for x in env.get("HOTLINE_CALLBACK_SITES", "").split(",")
                                 if x),
        citizen_gateway=(env.get("HOTLINE_CITIZEN_GATEWAY")
                         or defaults.get("citizen_gateway") or None),
        kb_sound_dir=Path(env["HOTLINE_KB_SOUND_DIR"]) if env.get("HOTLINE_KB_SOUND_DIR") else None,
        consumer_id=env.get("HOTLINE_CONTROLLER_ID") or None,
        controller_id=_controller_id(env),
        lease_ttl_s=_lease_ttl(env),
        recordings_dir=_recordings_dir(env, lab_mode),
        recording_expiry_s=float(env.get("HOTLINE_RECORDING_EXPIRY_S", "3600")),
        stall_probe_ms=int(env.get("HOTLINE_STALL_PROBE_MS") or 0) or None,
    )


def _recordings_dir(env: Mapping[str, str], lab_mode: bool) -> str | None:
    """HOTLINE_RECORDINGS_DIR ("{site}" in it), else the lab's spool in lab mode."""
    if env.get("HOTLINE_RECORDINGS_DIR"):
        return env["HOTLINE_RECORDINGS_DIR"]
    if not lab_mode:
        return None
    from telephony.lab.runtime import find_runtime

    runtime = find_runtime()
    if runtime is None:
        return None
    return str(runtime.host_path(f"/tmp/{lab_dir(env).name}")) + "/{site}/spool/recording"


def _controller_id(env: Mapping[str, str]) -> str:
    """HOTLINE_CONTROLLER_ID, else this host and process: unique among live controllers."""
    value = env.get("HOTLINE_CONTROLLER_ID") or f"{socket.gethostname()}-{os.getpid()}"
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise SettingsError("HOTLINE_CONTROLLER_ID: 1-64 letters, digits, '.', '_' or '-'")
    return value


def _lease_ttl(env: Mapping[str, str]) -> float:
    try:
        ttl = float(env.get("HOTLINE_LEASE_TTL_S", "1.5"))
    except ValueError:
        raise SettingsError("HOTLINE_LEASE_TTL_S must be a number of seconds") from None
    if not 0.5 <= ttl <= 30:
        raise SettingsError("HOTLINE_LEASE_TTL_S must be between 0.5 and 30 seconds")
    return ttl


def _data_dir(env: Mapping[str, str], lab_mode: bool) -> Path | None:
    """HOTLINE_DATA_DIR, else the lab's data directory in lab mode (None: the default)."""
    if env.get("HOTLINE_DATA_DIR"):
        return Path(env["HOTLINE_DATA_DIR"])
    return lab_dir(env) / "data" if lab_mode else None


def lab_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where `hotline lab up` keeps the lab's processes, logs and data."""
    return Path((os.environ if env is None else env).get("HOTLINE_LAB_DIR", "/tmp/hotline-lab"))


def lab_running(env: Mapping[str, str]) -> bool:
    """A lab this machine runs (`hotline lab up`): its controller or Redis is alive."""
    from telephony.lab.processes import ProcessBook

    book = ProcessBook(lab_dir(env) / "processes.json")
    return any(book.running(name) for name in ("controller", "redis"))


def command_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a `hotline` command reads its settings from: the environment, where a lab
    running on this machine means lab mode unless HOTLINE_MODE says otherwise. So the
    commands find the running lab's database and API by themselves."""
    out = dict(os.environ if env is None else env)
    if not out.get("HOTLINE_MODE") and lab_running(out):
        out["HOTLINE_MODE"] = "lab"
    return out


@dataclass(frozen=True)
class ApiAccess:
    """What a command needs to call the controller's API, and nothing more."""
    base_url: str
    token: str


def api_access(env: Mapping[str, str] | None = None) -> ApiAccess:
    env = command_environment(env)
    host, port = api_address(env)
    base = f"http://{host}:{port}"
    token = env.get("HOTLINE_API_TOKEN")
    if not token and env.get("HOTLINE_MODE") == "lab":   # the lab's ops account
        token = "ops:" + lab_accounts()["api"]["users"]["ops"]["token"]
    if not token:
        raise SettingsError("set HOTLINE_API_TOKEN to an ops or supervisor token")
    return ApiAccess(base, token)


def orders_config(env: Mapping[str, str] | None = None):
    """The order database and the outbox's Redis, as the controller finds them: what
    `hotline orders ...` uses when not given --db or --redis. No call-control secrets."""
    from services.work_orders.config import OrdersConfig
    from services.work_orders.db import default_url

    env = with_db_password(command_environment(env))
    lab_mode = env.get("HOTLINE_MODE", "production") == "lab"
    redis_default = lab_accounts()["redis"]["url"] if lab_mode else None
    redis_url = _redis_url(env, lab_mode, env.get("HOTLINE_REDIS_URL", redis_default) or None)
    db_url = env.get("HOTLINE_DB_URL") or default_url(_data_dir(env, lab_mode))
    return OrdersConfig(db_url=db_url, redis_url=redis_url)


def environment() -> Mapping[str, str]:
    """The process environment: read here, and only here, under telephony/."""
    return os.environ


def default_to_lab_mode() -> None:
    """`hotline lab|demo`: lab mode unless HOTLINE_MODE says otherwise (children inherit it)."""
    os.environ.setdefault("HOTLINE_MODE", "lab")


def log_level() -> str:
    return os.environ.get("HOTLINE_LOG_LEVEL", "INFO")


def api_address(env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """Where the controller's API listens (HOTLINE_API_HOST, HOTLINE_API_PORT)."""
    env = os.environ if env is None else env
    return env.get("HOTLINE_API_HOST", "127.0.0.1"), int(env.get("HOTLINE_API_PORT", "8080"))


def cache_dir() -> Path:
    """Where the Asterisk sid root, images and the docker engine are kept."""
    return Path(os.environ.get("HOTLINE_CACHE_DIR", "/var/cache/hotline-link"))


def local_asterisk() -> str | None:
    """An Asterisk binary to use instead of the cached sid root (HOTLINE_ASTERISK)."""
    return os.environ.get("HOTLINE_ASTERISK") or None


def sipp_port_base() -> int:
    return int(os.environ.get("HOTLINE_SIPP_PORT_BASE", "15060"))


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or ""


def child_environment(**extra: str) -> dict[str, str]:
    """The environment a child process (the order consumer, Asterisk, a drill) inherits."""
    return {**os.environ, **extra}


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or allowed[0]
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def lab_accounts() -> dict:
    return _load_toml(LAB_ACCOUNTS)


def _lab_secrets() -> frozenset[str]:
    lab = lab_accounts()
    return frozenset({lab["ari"]["password"], lab["ami"]["secret"], lab["redis"]["password"]})



def secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from `name` in the environment, or read from the file `name`_FILE (a
    container secret); never a default."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise SettingsError(f"{name}_FILE: {path} is empty")
    return value


def _redis_url(env: Mapping[str, str], lab_mode: bool, url: str | None) -> str | None:
    """The Redis URL with its ACL user and password: the lab's in lab mode, else from the
    URL itself, HOTLINE_REDIS_USER and HOTLINE_REDIS_PASSWORD(_FILE). No password, no start."""
    if not url:
        return None
    parts = urlsplit(url)
    if lab_mode:
        lab = lab_accounts()["redis"]
        user, password = parts.username or lab["user"], parts.password or lab["password"]
    else:
        user = parts.username or env.get("HOTLINE_REDIS_USER") or "hotline"
        password = unquote(parts.password) if parts.password else secret(
            env, "HOTLINE_REDIS_PASSWORD")
        if not password:
            raise SettingsError("outside lab mode Redis needs its ACL user's password: "
                                "HOTLINE_REDIS_PASSWORD or HOTLINE_REDIS_PASSWORD_FILE")
        if password in _lab_secrets():
            raise SettingsError("lab credentials are refused outside lab mode")
    # the host part as written: a Sentinel URL lists several host:port (services.redis_link)
    hosts = parts.netloc.rpartition("@")[2] or "127.0.0.1"
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@{hosts}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _check_db_url(env: Mapping[str, str]) -> None:
    """Outside the lab a PostgreSQL URL must come with a password (in the URL or from
    HOTLINE_DB_PASSWORD(_FILE), which work_orders.db adds), and not the lab's."""
    url = env.get("HOTLINE_DB_URL") or ""
    if not url.startswith("postgresql"):
        return
    password = urlsplit(url).password or secret(env, "HOTLINE_DB_PASSWORD")
    if not password:
        raise SettingsError("outside lab mode HOTLINE_DB_URL needs a password: in the URL, "
                            "HOTLINE_DB_PASSWORD or HOTLINE_DB_PASSWORD_FILE")
    if password.startswith("lab-"):
        raise SettingsError("lab credentials are refused outside lab mode")


def _credentials(env: Mapping[str, str], lab_mode: bool) -> tuple[Credentials, str | None]:
    lab = lab_accounts()
    if lab_mode:
        return Credentials(
            ari_user=lab["ari"]["user"], ari_password=lab["ari"]["password"],
            ami_user=lab["ami"]["user"], ami_secret=lab["ami"]["secret"],
            seat_password_format=lab["seat_password_format"],
        ), lab["redis"]["url"]
    ari_password = secret(env, "HOTLINE_ARI_PASSWORD")
    ami_secret = secret(env, "HOTLINE_AMI_SECRET")
    missing = [k for k, v in (("HOTLINE_ARI_PASSWORD", ari_password),
                              ("HOTLINE_AMI_SECRET", ami_secret)) if not v]
    if missing or not ari_password or not ami_secret:
        raise SettingsError(
            f"outside lab mode set {', '.join(missing)} or {', '.join(missing)}_FILE "
            "(or HOTLINE_MODE=lab for the lab)")
    if ari_password in _lab_secrets() or ami_secret in _lab_secrets():
        raise SettingsError("lab credentials are refused outside lab mode")
    seat_passwords: dict[str, str] = {}
    if env.get("HOTLINE_SEAT_PASSWORDS_FILE"):
        raw = _load_toml(Path(env["HOTLINE_SEAT_PASSWORDS_FILE"]))
        seat_passwords = {str(k): str(v) for k, v in raw.get("seats", {}).items()}
        if any(v.startswith("lab-") for v in seat_passwords.values()):
            raise SettingsError("lab seat passwords are refused outside lab mode")
    return Credentials(
        ari_user=env.get("HOTLINE_ARI_USER", "hotline"), ari_password=ari_password,
        ami_user=env.get("HOTLINE_AMI_USER", "hotline"), ami_secret=ami_secret,
        seat_passwords=seat_passwords,
    ), None
