"""API users: roles, sites, hashed tokens and passwords, and login sessions.

Users come from a TOML file, table `[api.users.<name>]`:

    [api.users.zhang]
    role = "agent_12345"        # agent_12345 | agent_110 | supervisor | ops
    site = "12345"              # agents need one; supervisors/ops without one see every site
    seat = "1001"               # the seat this user answers on (agents)
    token_hash = "scrypt$16384$8$1$<salt hex>$<hash hex>"
    password_hash = "scrypt$..."

Only hashes are kept in memory. The lab file (`lab/accounts.toml`) may give
`token` / `password` in clear, all starting `lab-`; outside lab mode the file
named by HOTLINE_API_USERS_FILE must hold hashes only and lab secrets are
refused. Make a hash with `python -m services.api.accounts hash` (reads the
secret from stdin) or a new token with `python -m services.api.accounts token USER`.

A token is presented as `Authorization: Bearer <user>:<secret>`, so checking
it costs one scrypt for that user only; a token once verified is remembered by
its SHA-256 digest, so later requests cost a dictionary look-up. Session tokens
from `POST /api/v1/session` are random, kept as SHA-256 digests, and expire.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import sys
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("agent_12345", "agent_110", "supervisor", "ops")
AGENT_PLATFORM = {"agent_12345": "12345", "agent_110": "110"}
LAB_PREFIX = "lab-"
LAB_COST_N = 2**10          # lab secrets are published in the repository: no need to be slow
LAB_ACCOUNTS = Path(__file__).resolve().parents[2] / "lab" / "accounts.toml"
SESSION_PREFIX = "s."
SESSION_TTL_S = 12 * 3600   # one shift and a half
_CACHE_LIMIT = 10_000


class AccountsError(ValueError):
    """The users file cannot be used; the message says what to fix."""


# ---- hashes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScryptCost:
    n: int = 2**14
    r: int = 8
    p: int = 1


def hash_secret(secret: str, cost: ScryptCost = ScryptCost()) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p,
                            maxmem=_maxmem(cost), dklen=32)
    return f"scrypt${cost.n}${cost.r}${cost.p}${salt.hex()}${digest.hex()}"


def _maxmem(cost: ScryptCost) -> int:
    return 128 * cost.r * (cost.n + cost.p + 2) + (1 << 20)


def _parse_hash(text: str) -> tuple[ScryptCost, bytes, bytes]:
    try:
        kind, n, r, p, salt, digest = text.split("$")
        if kind != "scrypt":
            raise ValueError(kind)
        cost = ScryptCost(int(n), int(r), int(p))
        if cost.n < 2 or cost.n & (cost.n - 1) or cost.n > 2**20 or not 0 < cost.r * cost.p < 64:
            raise ValueError("cost")
        return cost, bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError as exc:
        raise AccountsError(f"not a scrypt hash (scrypt$n$r$p$salt$hash): {exc}") from None


def verify_secret(secret: str, stored: str) -> bool:
    """True if `secret` hashes to `stored`; compared in constant time."""
    cost, salt, digest = _parse_hash(stored)
    try:
        candidate = hashlib.scrypt(secret.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p,
                                   maxmem=_maxmem(cost), dklen=len(digest))
    except (UnicodeEncodeError, ValueError):
        return False
    return hmac.compare_digest(candidate, digest)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


# ---- users ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class User:
    name: str
    role: str
    site: str | None = None
    seat: str | None = None
    token_hash: str | None = field(default=None, repr=False)
    password_hash: str | None = field(default=None, repr=False)

    @property
    def platform(self) -> str | None:
        """The platform an agent works for; None for supervisors and ops."""
        return AGENT_PLATFORM.get(self.role)

    @property
    def is_agent(self) -> bool:
        return self.role in AGENT_PLATFORM

    def covers_site(self, site: str | None) -> bool:
        """Whether this user works at `site` (a user without a site covers all)."""
        return self.site is None or self.site == site

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "site": self.site, "seat": self.seat}


@dataclass
class _Session:
    user: str
    expires_at: float


class Accounts:
    """Users by name; authenticates bearer tokens and password logins."""

    def __init__(self, users: Mapping[str, User], clock: Callable[[], float] = time.monotonic,
                 session_ttl_s: float = SESSION_TTL_S) -> None:
        self._users = dict(users)
        self._clock = clock
        self._ttl = session_ttl_s
        self._sessions: dict[bytes, _Session] = {}
        self._verified: dict[bytes, str] = {}     # digest of a verified token -> user
        # Unknown users still cost one scrypt like theirs, so timing does not tell which
        # names exist.
        costs = [_parse_hash(u.token_hash or u.password_hash or "")[0] for u in self._users.values()
                 if u.token_hash or u.password_hash]
        self._decoy = hash_secret(secrets.token_hex(16), max(costs, default=ScryptCost(),
                                                               key=lambda c: c.n * c.r * c.p))

    def __len__(self) -> int:
        return len(self._users)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    async def authenticate(self, token: str) -> User | None:
        """The user a bearer token (or session token) belongs to, or None."""
        if not token or len(token) > 512:
            return None
        digest = _digest(token)
        if token.startswith(SESSION_PREFIX):
            return self._session_user(digest)
        name = self._verified.get(digest)
        if name is not None:
            return self._users.get(name)
        name, sep, secret = token.partition(":")
        user = self._users.get(name) if sep else None
        stored = user.token_hash if user and user.token_hash else self._decoy
        ok = await asyncio.to_thread(verify_secret, secret, stored)
        if not (ok and user and user.token_hash):
            return None
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[digest] = user.name
        return user

    async def login(self, name: str, password: str) -> tuple[User, str, float] | None:
        """(user, session token, lifetime in s) for a right password, else None."""
        user = self._users.get(name)
        stored = user.password_hash if user and user.password_hash else self._decoy
        ok = await asyncio.to_thread(verify_secret, password, stored)
        if not (ok and user and user.password_hash):
            return None
        self._expire()
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        self._sessions[_digest(token)] = _Session(user.name, self._clock() + self._ttl)
        return user, token, self._ttl

    def logout(self, token: str) -> bool:
        return self._sessions.pop(_digest(token), None) is not None

    def _session_user(self, digest: bytes) -> User | None:
        session = self._sessions.get(digest)
        if session is None:
            return None
        if session.expires_at <= self._clock():
            del self._sessions[digest]
            return None
        return self._users.get(session.user)

    def _expire(self) -> None:
        now = self._clock()
        for digest in [d for d, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[digest]


# ---- loading --------------------------------------------------------------------------------
def users_from_mapping(table: Mapping[str, Any], *, lab: bool,
                       cost: ScryptCost = ScryptCost()) -> dict[str, User]:
    """Users from an `[api.users]` table; clear-text secrets only in the lab (then hashed)."""
    users: dict[str, User] = {}
    for name, raw in table.items():
        if not isinstance(raw, Mapping):
            raise AccountsError(f"api.users.{name} must be a table")
        if ":" in name or not name or len(name) > 64:
            raise AccountsError(f"user name {name!r} must be 1-64 characters without ':'")
        role = raw.get("role")
        if role not in ROLES:
            raise AccountsError(f"api.users.{name}.role must be one of {ROLES}, not {role!r}")
        site = raw.get("site")
        if role in AGENT_PLATFORM and not site:
            raise AccountsError(f"api.users.{name}: an agent needs a site")
        secrets_ = {kind: _secret(name, raw, kind, lab=lab, cost=cost)
                    for kind in ("token", "password")}
        if not any(secrets_.values()):
            raise AccountsError(f"api.users.{name} has neither a token nor a password")
        users[name] = User(name=name, role=role, site=str(site) if site else None,
                           seat=str(raw["seat"]) if raw.get("seat") else None,
                           token_hash=secrets_["token"], password_hash=secrets_["password"])
    return users


def _secret(name: str, raw: Mapping[str, Any], kind: str, *, lab: bool,
            cost: ScryptCost) -> str | None:
    clear, hashed = raw.get(kind), raw.get(f"{kind}_hash")
    if clear is not None:
        if not lab:
            raise AccountsError(f"api.users.{name}.{kind}: outside the lab give {kind}_hash "
                                "(python -m services.api.accounts hash)")
        if not str(clear).startswith(LAB_PREFIX):
            raise AccountsError(f"api.users.{name}.{kind}: lab secrets start with {LAB_PREFIX!r}")
        return hash_secret(str(clear), cost)
    if hashed is not None:
        _parse_hash(str(hashed))
        return str(hashed)
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccountsError(f"API users file missing: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AccountsError(f"{path}: {exc}") from None


def load_accounts(env: Mapping[str, str] | None = None, *, lab_mode: bool | None = None,
                  lab_file: Path = LAB_ACCOUNTS) -> Accounts:
    """Lab users in lab mode (HOTLINE_MODE=lab); else HOTLINE_API_USERS_FILE, hashes only."""
    env = os.environ if env is None else env
    lab = env.get("HOTLINE_MODE") == "lab" if lab_mode is None else lab_mode
    lab_users = _read(lab_file).get("api", {}).get("users", {})
    if lab:
        return Accounts(users_from_mapping(lab_users, lab=True, cost=ScryptCost(n=LAB_COST_N)))
    path = env.get("HOTLINE_API_USERS_FILE")
    if not path:
        raise AccountsError("outside lab mode set HOTLINE_API_USERS_FILE (or HOTLINE_MODE=lab)")
    users = users_from_mapping(_read(Path(path)).get("api", {}).get("users", {}), lab=False)
    _refuse_lab_secrets(users, lab_users)
    return Accounts(users)


def _refuse_lab_secrets(users: Mapping[str, User], lab_users: Mapping[str, Any]) -> None:
    """A production user whose hash matches the lab's secret for that name is refused."""
    for name, user in users.items():
        lab = lab_users.get(name, {})
        for kind, stored in (("token", user.token_hash), ("password", user.password_hash)):
            clear = lab.get(kind)
            if stored and clear and verify_secret(str(clear), stored):
                raise AccountsError(f"api.users.{name}: lab credentials are refused "
                                    "outside lab mode")


def main(argv: list[str] | None = None) -> int:
    """`hash` (secret on stdin) or `token USER`: print what goes in the users file."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["hash"]:
        print(hash_secret(sys.stdin.readline().rstrip("\n")))
        return 0
    if args[:1] == ["token"] and len(args) == 2:
        secret = secrets.token_urlsafe(32)
        print(f"token (give to the user): {args[1]}:{secret}")
        print(f'token_hash = "{hash_secret(secret)}"')
        return 0
    print("usage: python -m services.api.accounts hash | token USER", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
