"""API users: roles, sites, hashed tokens and passwords, and login sessions.

Users come from a TOML file, tables `[api.users.<name>]` with `role` (agent_12345,
agent_110, supervisor, ops, department), `site`, `seat`, `department`, `token_hash` (or
`[[api.users.<name>.tokens]]` with expiries, for rotation) and `password_hash`; the
format is in `services/api/README.md`. The controller reads the file again on SIGHUP (rotation without a restart).

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
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from services.api.sessions import SESSION_IDLE_S, MemorySessions, SessionStore
from services.api.throttle import Throttle

ROLES = ("agent_12345", "agent_110", "supervisor", "ops")
# A department's own staff (knowledge-base editors, dispatch acceptance). Not in ROLES, so an
# operation lets them in only where it names them.
DEPARTMENT_ROLE = "department"
ACCOUNT_ROLES = (*ROLES, DEPARTMENT_ROLE)
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
class StoredToken:
    hash: str = field(repr=False)
    expires_at: float | None = None     # epoch seconds; None: no expiry

    def valid_at(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class User:
    name: str
    role: str
    site: str | None = None
    seat: str | None = None
    token_hash: str | None = field(default=None, repr=False)
    password_hash: str | None = field(default=None, repr=False)
    tokens: tuple[StoredToken, ...] = field(default=(), repr=False)
    department: str | None = None   # the department id of a `department` user

    def __post_init__(self) -> None:
        if self.token_hash and not self.tokens:
            object.__setattr__(self, "tokens", (StoredToken(self.token_hash),))

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
        out = {"name": self.name, "role": self.role, "site": self.site, "seat": self.seat}
        if self.department:
            out["department"] = self.department
        return out


class Accounts:
    """Users by name; authenticates bearer tokens and password logins, keeps sessions."""

    def __init__(self, users: Mapping[str, User], clock: Callable[[], float] = time.monotonic,
                 session_ttl_s: float = SESSION_TTL_S, *, sessions: SessionStore | None = None,
                 throttle: Throttle | None = None, idle_s: float = SESSION_IDLE_S,
                 wall: Callable[[], float] = time.time) -> None:
        self._ttl = session_ttl_s
        self._idle = idle_s
        self._wall = wall
        self.sessions: SessionStore = sessions or MemorySessions(clock)
        self.throttle = throttle or Throttle()
        self._verified: dict[bytes, tuple[str, float | None]] = {}  # digest -> user, expiry
        self.reload(users)

    def reload(self, users: Mapping[str, User]) -> None:
        """Take a new set of users (token rotation); tokens verified before are checked again."""
        self._users = dict(users)
        self._verified = {}
        # Unknown users still cost one scrypt like theirs, so timing does not tell which
        # names exist.
        costs = [_parse_hash(h)[0] for u in self._users.values()
                 for h in [*(t.hash for t in u.tokens), u.password_hash] if h]
        self._decoy = hash_secret(secrets.token_hex(16), max(costs, default=ScryptCost(),
                                                               key=lambda c: c.n * c.r * c.p))

    def __len__(self) -> int:
        return len(self._users)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    async def authenticate(self, token: str, source: str | None = None) -> User | None:
        """The user a bearer token (or session token) belongs to, or None.

        Raises Throttled, before any scrypt, when the token's user name or `source`
        (the client's address) failed too often lately.
        """
        if not token or len(token) > 512:
            return None
        digest = _digest(token)
        if token.startswith(SESSION_PREFIX):
            user = await self._session_user(digest)
            if user is None:
                self._failed(None, source, check_first=True)
            return user
        cached = self._verified.get(digest)
        if cached is not None and (cached[1] is None or self._wall() < cached[1]):
            return self._users.get(cached[0])
        name, sep, secret = token.partition(":")
        keys = Throttle.keys(name[:64] if sep else None, source)
        self.throttle.check(keys)
        user = self._users.get(name) if sep else None
        now = self._wall()
        stored = [t for t in user.tokens if t.valid_at(now)] if user else []
        match = await asyncio.to_thread(_first_match, secret, stored, self._decoy)
        if user is None or match is None:
            self.throttle.failed(keys)
            return None
        self.throttle.succeeded(user.name)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[digest] = (user.name, match.expires_at)
        return user

    async def login(self, name: str, password: str,
                    source: str | None = None) -> tuple[User, str, float] | None:
        """(user, session token, lifetime in s) for a right password, else None.

        Raises Throttled, before any scrypt, as `authenticate` does.
        """
        keys = Throttle.keys(name[:64], source)
        self.throttle.check(keys)
        user = self._users.get(name)
        stored = user.password_hash if user and user.password_hash else self._decoy
        ok = await asyncio.to_thread(verify_secret, password, stored)
        if not (ok and user and user.password_hash):
            self.throttle.failed(keys)
            return None
        self.throttle.succeeded(user.name)
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        await self.sessions.create(_digest(token), user.name, self._idle, self._ttl)
        return user, token, self._ttl

    async def logout(self, token: str) -> bool:
        if not token.startswith(SESSION_PREFIX):
            return False
        return await self.sessions.end(_digest(token))

    async def revoke(self, name: str) -> int:
        """End every session of user `name` (a lost laptop, a leaver)."""
        return await self.sessions.revoke_user(name)

    async def _session_user(self, digest: bytes) -> User | None:
        name = await self.sessions.user_of(digest)
        return self._users.get(name) if name is not None else None

    def _failed(self, name: str | None, source: str | None, *, check_first: bool) -> None:
        keys = Throttle.keys(name, source)
        if check_first:
            self.throttle.check(keys)
        self.throttle.failed(keys)


def _first_match(secret: str, stored: list[StoredToken], decoy: str) -> StoredToken | None:
    """The stored token `secret` matches; always at least one scrypt (the decoy if none)."""
    if not stored:
        verify_secret(secret, decoy)
        return None
    for candidate in stored:
        if verify_secret(secret, candidate.hash):
            return candidate
    return None


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
        if role not in ACCOUNT_ROLES:
            raise AccountsError(f"api.users.{name}.role must be one of {ACCOUNT_ROLES}, "
                                f"not {role!r}")
        department = raw.get("department")
        if role == DEPARTMENT_ROLE and not department:
            raise AccountsError(f"api.users.{name}: a department user needs a department")
        site = raw.get("site")
        if role in AGENT_PLATFORM and not site:
            raise AccountsError(f"api.users.{name}: an agent needs a site")
        secrets_ = {kind: _secret(name, raw, kind, lab=lab, cost=cost)
                    for kind in ("token", "password")}
        tokens = _tokens(name, raw, secrets_["token"])
        if not (tokens or secrets_["password"]):
            raise AccountsError(f"api.users.{name} has neither a token nor a password")
        users[name] = User(name=name, role=role, site=str(site) if site else None,
                           seat=str(raw["seat"]) if raw.get("seat") else None,
                           token_hash=tokens[0].hash if tokens else None,
                           password_hash=secrets_["password"], tokens=tuple(tokens),
                           department=str(department) if department else None)
    return users


def _tokens(name: str, raw: Mapping[str, Any], first: str | None) -> list[StoredToken]:
    """`token_hash`/`token` with `token_expires`, then every `[[tokens]]` entry."""
    out = [StoredToken(first, _expiry(name, raw.get("token_expires")))] if first else []
    extra = raw.get("tokens", [])
    if not isinstance(extra, list):
        raise AccountsError(f"api.users.{name}.tokens must be an array of tables")
    for index, entry in enumerate(extra):
        if not isinstance(entry, Mapping) or "hash" not in entry:
            raise AccountsError(f"api.users.{name}.tokens[{index}] needs a hash")
        _parse_hash(str(entry["hash"]))
        out.append(StoredToken(str(entry["hash"]), _expiry(name, entry.get("expires"))))
    return out


def _expiry(name: str, value: Any) -> float | None:
    """Epoch seconds from a TOML date-time (UTC if it has no offset) or date."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise AccountsError(f"api.users.{name}: token expiry {value!r} is no date") from None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    raise AccountsError(f"api.users.{name}: token expiry must be a date-time")


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


def load_users(env: Mapping[str, str], *, lab_mode: bool | None = None,
               lab_file: Path = LAB_ACCOUNTS) -> dict[str, User]:
    """Lab users in lab mode (HOTLINE_MODE=lab); else HOTLINE_API_USERS_FILE, hashes only.
    `env` is the settings the caller read (the environment, for the controller)."""
    lab = env.get("HOTLINE_MODE") == "lab" if lab_mode is None else lab_mode
    lab_users = _read(lab_file).get("api", {}).get("users", {})
    if lab:
        return users_from_mapping(lab_users, lab=True, cost=ScryptCost(n=LAB_COST_N))
    path = env.get("HOTLINE_API_USERS_FILE")
    if not path:
        raise AccountsError("outside lab mode set HOTLINE_API_USERS_FILE (or HOTLINE_MODE=lab)")
    users = users_from_mapping(_read(Path(path)).get("api", {}).get("users", {}), lab=False)
    _refuse_lab_secrets(users, lab_users)
    return users


def load_accounts(env: Mapping[str, str], *, lab_mode: bool | None = None,
                  lab_file: Path = LAB_ACCOUNTS, sessions: SessionStore | None = None) -> Accounts:
    """`Accounts` over `load_users`; sessions in `sessions` (Redis) or in memory."""
    return Accounts(load_users(env, lab_mode=lab_mode, lab_file=lab_file), sessions=sessions)


def _refuse_lab_secrets(users: Mapping[str, User], lab_users: Mapping[str, Any]) -> None:
    """A production user whose hash matches the lab's secret for that name is refused."""
    for name, user in users.items():
        lab = lab_users.get(name, {})
        pairs = [("token", t.hash) for t in user.tokens] + [("password", user.password_hash)]
        for kind, stored in pairs:
            clear = lab.get(kind)
            if stored and clear and verify_secret(str(clear), stored):
                raise AccountsError(f"api.users.{name}: lab credentials are refused "
                                    "outside lab mode")


def main(argv: list[str] | None = None) -> int:
    """`hash` or `token USER`: see services/api/accounts_cli.py."""
    from services.api.accounts_cli import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
