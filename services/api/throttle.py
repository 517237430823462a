"""Throttling of failed logins and bad tokens, per user name and per source address.

A guesser is stopped before any scrypt runs: `check` raises `Throttled` (the API answers
429 with Retry-After) once a key has `limit` failures inside the last `window_s` seconds.
Only failures count; a credential that is already known good (a cached token, a live
session) costs no scrypt and is not throttled, so a shared office address under attack
does not lock out the agents already at work.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

_KEYS_LIMIT = 50_000   # memory bound: the least recently failed keys are forgotten first


class Throttled(Exception):
    """Too many failures for one of the keys; try again in `retry_after` seconds."""

    def __init__(self, key: str, retry_after: float) -> None:
        super().__init__(f"too many failures for {key.split(':', 1)[0]}")
        self.key = key
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class Limit:
    limit: int
    window_s: float


USER_LIMIT = Limit(5, 300.0)       # five wrong passwords or tokens for one name in 5 min
ADDRESS_LIMIT = Limit(20, 300.0)   # twenty from one address in 5 min


class Throttle:
    """Sliding windows of failure times, one per key (`user:<name>`, `addr:<ip>`)."""

    def __init__(self, user: Limit = USER_LIMIT, address: Limit = ADDRESS_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = {"user": user, "addr": address}
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def keys(user: str | None, address: str | None) -> list[str]:
        return [k for k in (f"user:{user}" if user else None,
                            f"addr:{address}" if address else None) if k]

    def check(self, keys: list[str]) -> None:
        """Raise Throttled if any key is over its limit now."""
        now = self._clock()
        for key in keys:
            window = self._window(key, now)
            limit = self._limits[key.split(":", 1)[0]]
            if window is not None and len(window) >= limit.limit:
                raise Throttled(key, window[0] + limit.window_s - now)

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        for key in keys:
            window = self._failures.setdefault(key, deque())
            window.append(now)
            self._failures.move_to_end(key)
            limit = self._limits[key.split(":", 1)[0]].limit
            while len(window) > limit:
                window.popleft()
        while len(self._failures) > _KEYS_LIMIT:
            self._failures.popitem(last=False)

    def succeeded(self, user: str) -> None:
        """A right password or token clears that name's failures (not the address's)."""
        self._failures.pop(f"user:{user}", None)

    def _window(self, key: str, now: float) -> deque[float] | None:
        window = self._failures.get(key)
        if window is None:
            return None
        span = self._limits[key.split(":", 1)[0]].window_s
        while window and window[0] <= now - span:
            window.popleft()
        if not window:
            del self._failures[key]
            return None
        return window
