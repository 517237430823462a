"""Live calls kept in Redis, so a restarted controller picks up the calls that
Asterisk kept up while it was away (bridges live in Asterisk, not here).

Writes never hold a call: the latest state of each call is written in the
background, and a Redis outage only delays it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

from telephony.calls.model import Call, CallState, Leg, LegRole, TransferMode

log = logging.getLogger(__name__)
KEY = "hotline:calls"


def call_to_json(call: Call) -> str:
    return json.dumps(asdict(call), default=lambda v: v.value)


def call_from_json(text: str | bytes) -> Call:
    data: dict[str, Any] = json.loads(text)
    for name in ("citizen_leg", "agent_leg", "ringing_leg", "target_leg"):
        leg = data.get(name)
        data[name] = Leg(leg["id"], LegRole(leg["role"]), leg.get("seat")) if leg else None
    data["state"] = CallState(data["state"])
    if data.get("transfer_mode"):
        data["transfer_mode"] = TransferMode(data["transfer_mode"])
    known = {f.name for f in fields(Call)}
    return Call(**{k: v for k, v in data.items() if k in known})


class RedisCallStore:
    def __init__(self, redis, schedule: Callable[[object], object]):
        self._redis = redis
        self._schedule = schedule
        self._pending: dict[str, Call | None] = {}
        self._flushing = False

    def save(self, call: Call) -> None:
        self._queue(call.id, call)

    def forget(self, call_id: str) -> None:
        self._queue(call_id, None)

    def _queue(self, call_id: str, call: Call | None) -> None:
        self._pending[call_id] = call
        if not self._flushing:
            self._flushing = True
            self._schedule(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                call_id, call = next(iter(self._pending.items()))
                if call is None:
                    await self._redis.hdel(KEY, call_id)
                else:
                    await self._redis.hset(KEY, call_id, call_to_json(call))
                if self._pending.get(call_id) is call:
                    del self._pending[call_id]
        except Exception as exc:  # noqa: BLE001 - Redis away: keep the latest, retry later
            log.warning("call store: redis write failed (%r); %d calls pending", exc,
                        len(self._pending))
        finally:
            self._flushing = False

    def retry(self) -> None:
        if self._pending and not self._flushing:
            self._flushing = True
            self._schedule(self._flush())

    async def load(self) -> list[Call]:
        raw = await self._redis.hgetall(KEY)
        calls = []
        for call_id, text in raw.items():
            try:
                calls.append(call_from_json(text))
            except (ValueError, KeyError, TypeError) as exc:
                log.error("call store: record %r unreadable (%s); dropped", call_id, exc)
                await self._redis.hdel(KEY, call_id)
        return calls
