"""`hotline config check [--file F]`: every missing or wrong setting, in one list.

The controller runs the same check at start, so a deployment that would fail
says all of what to fix at once instead of one traceback per restart.
"""
from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from services.redis_link import check_url
from services.recordings.policy import PolicyError, RecordingPolicy
from telephony.calls.model import PLATFORMS
from telephony.settings import (
    DEFAULT_TOPOLOGY,
    SettingsError,
    lab_accounts,
    load_settings,
    secret,
)

CHOICES = {
    "HOTLINE_MODE": ("production", "lab"),
    "HOTLINE_TRANSFER_MODE": ("warm", "blind"),
    "HOTLINE_ORDERS_CONSUMER": ("process", "inline", "external"),
    "HOTLINE_ARI_REQUESTS": ("websocket", "http"),
}
INTEGERS = ("HOTLINE_API_PORT", "HOTLINE_RING_TIMEOUT_S", "HOTLINE_TRANSFER_TIMEOUT_S",
            "HOTLINE_STALL_PROBE_MS")
# docker/compose.yaml's settings -> what the containers see (kept in step with compose.yaml)
SECRETS = {"HOTLINE_ARI_PASSWORD_FILE": "ari_password", "HOTLINE_AMI_SECRET_FILE": "ami_secret",
           "HOTLINE_SEAT_PASSWORDS_FILE": "seat_passwords.toml",
           "HOTLINE_API_USERS_FILE": "api_users.toml", "HOTLINE_DB_PASSWORD_FILE": "db_password",
           "HOTLINE_REDIS_PASSWORD_FILE": "redis_password"}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as docker-compose reads an env file (# comments, optional quotes)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def compose_view(file_env: Mapping[str, str], base: Path) -> dict[str, str]:
    """The controller's settings as docker/compose.yaml builds them from an env file."""
    env = dict(file_env)

    def path(value: str) -> str:
        return str((base / value).resolve()) if not os.path.isabs(value) else value

    if env.get("HOTLINE_TOPOLOGY_FILE"):
        env.setdefault("HOTLINE_TOPOLOGY", path(env["HOTLINE_TOPOLOGY_FILE"]))
    if env.get("HOTLINE_SECRETS_DIR"):
        secrets = Path(path(env["HOTLINE_SECRETS_DIR"]))
        for name, file in SECRETS.items():
            env.setdefault(name, str(secrets / file))
    env.setdefault("HOTLINE_REDIS_USER", "hotline")
    if env.get("HOTLINE_REDIS_ADDRESS"):
        env.setdefault("HOTLINE_REDIS_URL", f"redis://{env['HOTLINE_REDIS_ADDRESS']}:"
                                            f"{env.get('HOTLINE_REDIS_PORT', '6379')}/0")
    if env.get("HOTLINE_DB_ADDRESS"):
        env.setdefault("HOTLINE_DB_URL", f"postgresql+asyncpg://hotline@{env['HOTLINE_DB_ADDRESS']}:"
                                         f"{env.get('HOTLINE_DB_PORT', '5432')}/hotline")
    return env


def check_config(env: Mapping[str, str], topology: Path | None = None) -> list[str]:
    """Every problem found, each as 'SETTING: what is wrong'; empty when usable."""
    problems: list[str] = []
    lab_mode = env.get("HOTLINE_MODE") == "lab"
    for name, allowed in CHOICES.items():
        if env.get(name) and env[name] not in allowed:
            problems.append(f"{name}: must be one of {', '.join(allowed)}, not {env[name]!r}")
    for name in INTEGERS:
        if env.get(name) and not env[name].isdigit():
            problems.append(f"{name}: must be a whole number, not {env[name]!r}")
    topo_path = Path(env.get("HOTLINE_TOPOLOGY") or topology or DEFAULT_TOPOLOGY)
    seats = _check_topology(topo_path, problems)
    if not lab_mode:
        _check_credentials(env, seats, problems)
        _check_stores(env, problems)
    if not problems:   # whatever the checks above do not know, start-up itself finds
        try:
            load_settings(env=env)
        except SettingsError as exc:
            problems.append(str(exc))
    return problems


def _check_site(key: str, raw: dict, defaults: dict, sites: dict,
                problems: list[str]) -> list[str]:
    """One [sites.NAME] table; returns its seats."""
    platform = str(raw.get("platform", ""))
    if platform not in PLATFORMS:
        problems.append(f"{key}.platform: must be 12345 or 110, not {platform or 'missing'!r}")
    _address(f"{key}.address", raw.get("address"), problems)
    for port in ("sip_port", "ami_port", "ari_port"):
        value = raw.get(port, defaults.get(port, 1))
        if not isinstance(value, int) or not 0 < value < 65536:
            problems.append(f"{key}.{port}: must be a port number, not {value!r}")
    first, last = (raw.get("seats") or {}).get("first"), (raw.get("seats") or {}).get("last")
    seats: list[str] = []
    if not (isinstance(first, int) and isinstance(last, int) and 0 < first <= last):
        problems.append(f"{key}.seats: needs first <= last, both numbers (e.g. "
                        "{ first = 1001, last = 1010 })")
    else:
        seats = [str(n) for n in range(first, last + 1)]
    region = str(raw.get("region_code", ""))
    if not (len(region) == 6 and region.isdigit()):
        problems.append(f"{key}.region_code: must be 6 digits (GB/T 2260), not {region!r}")
    rtp = raw.get("rtp") or {}
    if not (isinstance(rtp.get("start"), int) and isinstance(rtp.get("end"), int)
            and 1024 <= rtp["start"] < rtp["end"] < 65536):
        problems.append(f"{key}.rtp: needs {{ start = N, end = M }} with 1024 <= N < M")
    overflow = raw.get("overflow")
    if overflow and overflow.get("to") not in sites:
        problems.append(f"{key}.overflow.to: names no site: {overflow.get('to')!r}")
    try:
        RecordingPolicy.parse(raw.get("recording"), key)
    except PolicyError as exc:
        problems.append(str(exc))
    supervisors = raw.get("supervisor_seats")
    if supervisors:   # softphones too: each needs its password like a seat
        first, last = supervisors.get("first"), supervisors.get("last")
        if not (isinstance(first, int) and isinstance(last, int) and 0 < first <= last):
            problems.append(f"{key}.supervisor_seats: needs first <= last, both numbers")
        else:
            seats += [str(n) for n in range(first, last + 1)]
    return seats


def _check_topology(path: Path, problems: list[str]) -> list[str]:
    where = f"topology {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"HOTLINE_TOPOLOGY: file missing: {path}")
        return []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{where}: not readable TOML: {exc}")
        return []
    defaults = data.get("defaults", {})
    for net in defaults.get("citizen_networks", []):
        _network(f"{where}: defaults.citizen_networks", net, problems)
    sites = data.get("sites") or {}
    if not sites:
        problems.append(f"{where}: no [sites.NAME] table")
    seats: list[str] = []
    served = set()
    for name, raw in sites.items():
        seats += _check_site(f"{where}: sites.{name}", raw, defaults, sites, problems)
        if raw.get("service_number"):
            served.add(str(raw["service_number"]))
    for number in PLATFORMS:
        if sites and number not in served:
            problems.append(f"{where}: no site has service_number = \"{number}\"")
    if len(seats) != len(set(seats)):
        problems.append(f"{where}: seat ranges of two sites overlap")
    for name, uri in (data.get("lines") or {}).items():
        if not str(uri).startswith("sip:"):
            problems.append(f"{where}: lines.{name}: must be a sip: URI, not {uri!r}")
    return seats


# docker/topology.toml ships addresses from these (RFC 5737): placeholders, never real
DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in
                           ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def _address(key: str, value, problems: list[str]) -> None:
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        problems.append(f"{key}: must be an IP address, not {value!r}")
        return
    if any(address in net for net in DOCUMENTATION_NETS):
        problems.append(f"{key}: {value} is a placeholder (documentation range); "
                        "put this site's real address")


def _network(key: str, value, problems: list[str]) -> None:
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        problems.append(f"{key}: not a network: {value!r}")


def _secret(env: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    """`secret()` as start-up reads it, with what is wrong added to `problems`."""
    try:
        value = secret(env, name)
    except SettingsError as exc:
        problems.append(str(exc))
        return None
    if value is None:
        problems.append(f"{name}: missing (set it, or {name}_FILE to a secret file)")
    return value


def _check_credentials(env: Mapping[str, str], seats: list[str], problems: list[str]) -> None:
    lab = lab_accounts()
    lab_secrets = {lab["ari"]["password"], lab["ami"]["secret"], lab["redis"]["password"]}
    names = ["HOTLINE_ARI_PASSWORD", "HOTLINE_AMI_SECRET"]
    if env.get("HOTLINE_REDIS_URL"):   # Redis admits only its ACL user: no password, no start
        names.append("HOTLINE_REDIS_PASSWORD")
    for name in names:
        value = _secret(env, name, problems)
        if value in lab_secrets:
            problems.append(f"{name}: a lab secret; refused outside lab mode")
    _check_seat_passwords(env.get("HOTLINE_SEAT_PASSWORDS_FILE"), seats, problems)
    users = env.get("HOTLINE_API_USERS_FILE")
    if not users:
        problems.append("HOTLINE_API_USERS_FILE: missing (a TOML file of API users, hashes only)")
    else:
        from services.api.accounts import AccountsError, load_accounts
        try:
            load_accounts({"HOTLINE_API_USERS_FILE": users}, lab_mode=False)
        except (AccountsError, OSError, ValueError, KeyError) as exc:
            problems.append(f"HOTLINE_API_USERS_FILE: {exc}")
    keys = env.get("HOTLINE_OPEN311_KEYS_FILE")
    if keys:   # optional: without it Open311 refuses every call
        from services.api.open311_keys import KeysError, load_open311_keys
        try:
            load_open311_keys(keys, lab_mode=False)
        except (KeysError, OSError) as exc:
            problems.append(f"HOTLINE_OPEN311_KEYS_FILE: {exc}")


def _check_seat_passwords(path: str | None, seats: list[str], problems: list[str]) -> None:
    key = "HOTLINE_SEAT_PASSWORDS_FILE"
    if not path:
        problems.append(f"{key}: missing (a TOML file: [seats] 1001 = \"...\")")
        return
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("seats", {})
    except OSError as exc:
        problems.append(f"{key}: cannot read {path}: {exc.strerror}")
        return
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{key}: {path} is not TOML: {exc}")
        return
    known = {str(k): str(v) for k, v in table.items()}
    missing = [seat for seat in seats if not known.get(seat)]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        problems.append(f"{key}: no password for seat {shown}")
    if any(v.startswith("lab-") for v in known.values()):
        problems.append(f"{key}: lab seat passwords are refused outside lab mode")


def _check_stores(env: Mapping[str, str], problems: list[str]) -> None:
    redis = env.get("HOTLINE_REDIS_URL")
    if redis and (wrong := check_url(redis)):
        problems.append(f"HOTLINE_REDIS_URL: {wrong}")
    db = env.get("HOTLINE_DB_URL")
    if not db:
        return
    if not db.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        problems.append("HOTLINE_DB_URL: must start postgresql+asyncpg:// or sqlite+aiosqlite://")
    elif db.startswith("postgresql") and not _url_has_password(db):
        _secret(env, "HOTLINE_DB_PASSWORD", problems)


def _url_has_password(url: str) -> bool:
    userinfo = url.split("://", 1)[1].rpartition("@")[0]
    return ":" in userinfo


def report(problems: list[str], source: str) -> str:
    head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {source}:"
    return "\n".join([head, *(f"  - {p}" for p in problems)])
