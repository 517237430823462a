"""Live calls kept in Redis, so a restarted controller picks up the calls that
Asterisk kept up while it was away (bridges live in Asterisk, not here).

Writes never hold a call: the latest state of each call is written in the
background, and a Redis outage only delays it.

Writes are fenced: each carries the lease of the call's site (`fence(site)`, the
holder and its epoch, see telephony/leases.py), and one script writes a site's calls
only if Redis still holds that very lease. A controller that lost a site (a stale
epoch) has its writes refused, so it can never overwrite what the new holder stored.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import orjson

from services.latest_writer import LatestWriter
from telephony.calls.model import Call, CallState, Leg, LegRole, PendingKey, TransferMode
from telephony.calls.transfers import Transfer

log = logging.getLogger(__name__)
KEY = "hotline:calls"
# a call's record waits this long for its next few changes, so that under load one fenced
# script writes many calls. A controller killed in that window leaves a record a step
# behind; the takeover trusts Asterisk's bridge and stamps over it, and tells the answer
# the record missed (recovery.recovered)
GATHER_S = 0.02
LEASE_KEY = "hotline:lease:{site}"

# KEYS[1] the site's lease, KEYS[2] the calls hash; ARGV[1] the lease value the writer
# holds, then (call id, JSON or "" to delete) pairs. -1: refused, the lease is another's;
# -2: no lease at all (it expired while Redis was away): retried once it is taken again.
_FENCED_WRITE = """
local held = redis.call('GET', KEYS[1])
if not held then return -2 end
if held ~= ARGV[1] then return -1 end
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[2], ARGV[i])
  else redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
return (#ARGV - 1) / 2
"""


def call_to_json(call: Call) -> str:
    """The stored form: what `dataclasses.asdict` gives (enums by value, tuples as lists),
    encoded by orjson straight from the dataclasses: a call is written on each of its
    steps, and building the dict in Python first took twelve times as long."""
    return orjson.dumps(call).decode()


def call_from_json(text: str | bytes) -> Call:
    data: dict[str, Any] = orjson.loads(text)
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


class LeaseExpired(Exception):
    """The site's lease is not in Redis (it expired while Redis was away, and the holder
    has not renewed it yet): the write waits for it."""


class RedisCallStore:
    """`fence(site)` gives the lease value this controller holds for the site (None: it
    holds none, and nothing of that site is written). Without `fence`, writes are not
    fenced (a single controller with no leases)."""

    def __init__(self, redis, schedule: Callable[[object], object],
                 fence: Callable[[str], str | None] | None = None):
        self._redis = redis
        self._fence = fence
        self._fenced = redis.register_script(_FENCED_WRITE) if fence else None
        self.refused = 0   # writes refused for a stale epoch, for /healthz
        self._writer: LatestWriter[tuple[str, Call | None]] = LatestWriter(
            self._write, schedule, "call store", gather_s=GATHER_S)

    def save(self, call: Call) -> None:
        self._writer.put(call.id, (call.site, call))

    def forget(self, call_id: str, site: str = "") -> None:
        self._writer.put(call_id, (site, None))

    async def _write(self, batch: list[tuple[str, tuple[str, Call | None]]]) -> None:
        if self._fenced is None:
            pipe = self._redis.pipeline(transaction=False)
            for call_id, (_, call) in batch:
                if call is None:
                    pipe.hdel(KEY, call_id)
                else:
                    pipe.hset(KEY, call_id, call_to_json(call))
            await pipe.execute()
            return
        by_site: dict[str, list[str]] = {}
        for call_id, (site, call) in batch:
            by_site.setdefault(site, []).extend((call_id, call_to_json(call) if call else ""))
        for site, pairs in by_site.items():
            await self._write_site(site, pairs)

    async def _write_site(self, site: str, pairs: list[str]) -> None:
        fence = self._fence(site) if self._fence else None
        written = -1 if fence is None else await self._fenced(
            keys=[LEASE_KEY.format(site=site), KEY], args=[fence, *pairs])
        if int(written) == -2:
            raise LeaseExpired(f"site {site}: no lease in Redis yet")   # the writer retries
        if int(written) < 0:
            # not ours any more: the new holder keeps these calls; never retried
            self.refused += len(pairs) // 2
            log.warning("call store: %d writes for site %s refused: lease %s is not held",
                        len(pairs) // 2, site, fence or "(none)")

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
