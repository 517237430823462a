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

from services.latest_writer import LatestWriter
from telephony.calls.model import Call, CallState, Leg, LegRole, PendingKey, TransferMode
from telephony.calls.transfers import Transfer

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
    if data.get("pending_key"):
        data["pending_key"] = PendingKey(**data["pending_key"])
    data["faq_menu"] = tuple(tuple(item) for item in data.get("faq_menu") or ())
    if data.get("transfer"):
        data["transfer"] = Transfer(**data["transfer"])
    known = {f.name for f in fields(Call)}
    return Call(**{k: v for k, v in data.items() if k in known})


class RedisCallStore:
    def __init__(self, redis, schedule: Callable[[object], object]):
        self._redis = redis
        self._writer: LatestWriter[Call | None] = LatestWriter(self._write, schedule,
                                                               "call store")

    def save(self, call: Call) -> None:
        self._writer.put(call.id, call)

    def forget(self, call_id: str) -> None:
        self._writer.put(call_id, None)

    async def _write(self, batch: list[tuple[str, Call | None]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for call_id, call in batch:
            if call is None:
                pipe.hdel(KEY, call_id)
            else:
                pipe.hset(KEY, call_id, call_to_json(call))
        await pipe.execute()

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
