"""One way to reach Redis, whether it is a single server or a primary watched by Sentinels.

Every process (controller, order consumer, CLI) is handed one URL, so the choice of
high-availability engine travels in that URL and nowhere else:

- `redis://user:pass@host:port/db` (also `rediss://`, `unix://`): one server;
- `redis+sentinel://user:pass@host:port,host:port,host:port/service[/db]`: ask the
  Sentinels at those addresses which server is the primary of `service`. The user and
  password open the primary (and the replicas); the same password opens the Sentinels.

With Sentinel, redis-py's `SentinelConnectionPool` asks again for the primary on every
new connection, so a client rides through a failover: the commands that fail while the
old primary is gone raise `ConnectionError` like any Redis outage, and the callers
already treat that as "Redis away" (the outbox spools, the mirror retries).

Replication is asynchronous, so a write acknowledged by a primary that dies a moment
later may never reach the replica that is promoted. Writers that must not lose a write
(the order outbox) ask for `min_replicas(url)` copies with `WAIT` before they count it
as done, unless `ReplicaWatch` says the primary has no live replica at all (after a
failover, until the lost server is back): then there is nothing to wait for, and
stalling every order until ops restore a replica would be worse than the primary's own
append-only file.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")


class RedisUrlError(ValueError):
    """A Redis URL this service cannot use; the message says what is wrong."""


@dataclass(frozen=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel(url: str) -> SentinelAddress | None:
    """The Sentinel address in `url`, or None for a plain Redis URL.

    Parsed by hand: `urllib.parse` reads one host per URL, and a Sentinel URL lists
    several."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise RedisUrlError(f"not a Redis URL: {url!r}")
    if scheme in PLAIN_SCHEMES:
        return None
    if scheme != SENTINEL_SCHEME:
        raise RedisUrlError(f"a Redis URL starts {', '.join(s + '://' for s in PLAIN_SCHEMES)} "
                            f"or {SENTINEL_SCHEME}://, not {scheme}://")
    userinfo, at, hostpart = rest.rpartition("@")
    hosts, _, path = (hostpart if at else rest).partition("/")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = (unquote(user) or None), (unquote(secret) if colon else None)
    sentinels = []
    for item in filter(None, hosts.split(",")):
        host, colon, port = item.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisUrlError(f"a Sentinel address is host:port, not {item!r}")
        sentinels.append((host, int(port)))
    if not sentinels:
        raise RedisUrlError("a Sentinel URL names at least one Sentinel (host:port)")
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise RedisUrlError("a Sentinel URL ends /service or /service/db, e.g. /hotline/0")
    db = parts[1] if len(parts) == 2 else "0"
    if not db.isdigit():
        raise RedisUrlError(f"the database in a Sentinel URL is a number, not {db!r}")
    return SentinelAddress(tuple(sentinels), unquote(parts[0]), int(db), username, password)


def check_url(url: str) -> str | None:
    """What is wrong with `url` as a Redis URL, in one sentence, or None."""
    try:
        parse_sentinel(url)
    except RedisUrlError as exc:
        return str(exc)
    return None


def min_replicas(url: str) -> int:
    """How many replicas must hold a write before the outbox counts it as done: one
    behind Sentinel (the replica that would be promoted), none for a single server."""
    return 1 if parse_sentinel(url) else 0


def _sentinel(address: SentinelAddress, timeouts: dict[str, float]) -> Any:
    from redis.asyncio.sentinel import Sentinel

    return Sentinel(list(address.sentinels),
                    sentinel_kwargs={**timeouts, "password": address.password},
                    username=address.username, password=address.password,
                    db=address.db, **timeouts)


def connect(url: str, *, socket_timeout: float, socket_connect_timeout: float) -> Any:
    """An asyncio client for `url`: the primary behind Sentinels, or the one server."""
    address = parse_sentinel(url)
    if address is None:
        from redis.asyncio import Redis

        return Redis.from_url(url, socket_timeout=socket_timeout,
                              socket_connect_timeout=socket_connect_timeout)
    timeouts = {"socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_connect_timeout}
    return _sentinel(address, timeouts).master_for(address.service)


class ReplicaWatch:
    """Whether the primary has a live replica, as the Sentinels see it; asked at most
    once per `ttl` seconds, so a writer may ask before every write.

    When no Sentinel answers, the answer is "yes": the writer then waits for a copy as
    usual and keeps what is not confirmed (the safe side)."""

    def __init__(self, address: SentinelAddress, *, ttl: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._address, self._ttl, self._clock = address, ttl, clock
        self._sentinel = _sentinel(address, {"socket_timeout": 0.5,
                                             "socket_connect_timeout": 0.5})
        self._known: tuple[float, bool] | None = None

    async def present(self) -> bool:
        now = self._clock()
        if self._known is not None and now - self._known[0] < self._ttl:
            return self._known[1]
        answer = await self._ask()
        self._known = (now, answer)
        return answer

    async def _ask(self) -> bool:
        from redis.exceptions import RedisError

        for sentinel in self._sentinel.sentinels:
            try:
                replicas = await sentinel.sentinel_slaves(self._address.service)
            except (RedisError, OSError):
                continue
            return any(not (r.get("is_sdown") or r.get("is_odown") or r.get("is_disconnected"))
                       for r in replicas)
        return True


def replica_watch(url: str) -> ReplicaWatch | None:
    """The watch for a Sentinel URL; None for a single server (no replica to watch)."""
    address = parse_sentinel(url)
    return ReplicaWatch(address) if address else None
