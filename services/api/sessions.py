"""Login sessions: where they live, how long they last, and how they end.

A session is found by the SHA-256 digest of its token (the token itself is never stored).
It ends after `idle_s` without a request, after `max_s` in all, on logout, or when its
user's sessions are revoked. `RedisSessions` keeps them in Redis, so a restarted
controller (or a second one) knows them; `MemorySessions` is for tests and for a
controller without Redis.

Redis layout: `hotline:session:<digest hex>` = `<user>|<absolute expiry, epoch s>`, with a
TTL of the idle timeout, renewed by each use (GETEX); `hotline:sessions:<user>` = a set of
that user's digests, for revocation.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

SESSION_IDLE_S = 3600          # an hour without a request ends a session
SESSION_KEY = "hotline:session:"
USER_SESSIONS_KEY = "hotline:sessions:"


class SessionStore(Protocol):
    async def create(self, digest: bytes, user: str, idle_s: float, max_s: float) -> None: ...

    async def user_of(self, digest: bytes) -> str | None:
        """The session's user, renewing its idle timeout; None if it ended."""
        ...

    async def end(self, digest: bytes) -> bool: ...

    async def revoke_user(self, user: str) -> int:
        """End every session of `user`; how many there were."""
        ...


@dataclass
class _Entry:
    user: str
    idle_s: float
    seen: float
    expires_at: float


class MemorySessions:
    """Sessions in this process (lost on restart)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[bytes, _Entry] = {}

    async def create(self, digest: bytes, user: str, idle_s: float, max_s: float) -> None:
        now = self._clock()
        for old in [d for d, e in self._entries.items() if not self._alive(e, now)]:
            del self._entries[old]
        self._entries[digest] = _Entry(user, idle_s, now, now + max_s)

    async def user_of(self, digest: bytes) -> str | None:
        entry, now = self._entries.get(digest), self._clock()
        if entry is None:
            return None
        if not self._alive(entry, now):
            del self._entries[digest]
            return None
        entry.seen = now
        return entry.user

    async def end(self, digest: bytes) -> bool:
        return self._entries.pop(digest, None) is not None

    async def revoke_user(self, user: str) -> int:
        ended = [d for d, e in self._entries.items() if e.user == user]
        for digest in ended:
            del self._entries[digest]
        return len(ended)

    @staticmethod
    def _alive(entry: _Entry, now: float) -> bool:
        return now < entry.expires_at and now < entry.seen + entry.idle_s


def _unavailable(method):
    """Redis errors become ConnectionError: the API answers 503, never 500 or a bypass."""
    import functools

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await method(*args, **kwargs)
        except RedisError as exc:
            raise ConnectionError(f"session store: {exc}") from None
    return wrapper


class RedisSessions:
    """Sessions in Redis (redis.asyncio client); they outlive the controller."""

    def __init__(self, redis: Any, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock

    @_unavailable
    async def create(self, digest: bytes, user: str, idle_s: float, max_s: float) -> None:
        expires_at = self._clock() + max_s
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(SESSION_KEY + digest.hex(), f"{user}|{expires_at:.3f}|{idle_s:g}",
                     px=_ms(min(idle_s, max_s)))
            pipe.sadd(USER_SESSIONS_KEY + user, digest.hex())
            pipe.expire(USER_SESSIONS_KEY + user, _s(max_s))
            await pipe.execute()

    @_unavailable
    async def user_of(self, digest: bytes) -> str | None:
        key = SESSION_KEY + digest.hex()
        raw = await self._redis.get(key)
        if raw is None:
            return None
        user, expires_at, idle_s = _decode(raw).rsplit("|", 2)
        left = float(expires_at) - self._clock()
        if left <= 0:
            await self._redis.delete(key)
            return None
        await self._redis.pexpire(key, _ms(min(float(idle_s), left)))
        return user

    @_unavailable
    async def end(self, digest: bytes) -> bool:
        return bool(await self._redis.delete(SESSION_KEY + digest.hex()))

    @_unavailable
    async def revoke_user(self, user: str) -> int:
        digests = await self._redis.smembers(USER_SESSIONS_KEY + user)
        keys = [SESSION_KEY + _decode(d) for d in digests]
        ended = await self._redis.delete(*keys) if keys else 0
        await self._redis.delete(USER_SESSIONS_KEY + user)
        return int(ended)


def _decode(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _s(seconds: float) -> int:
    return max(1, int(seconds) + 1)
