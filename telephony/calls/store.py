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
# the record missed (recovery.recovered). A tenth of a second, as the seat mirror's: at
# 0.02 the capacity bench's 40 new calls a second still cost 2.6 fenced scripts a call
# (each a round trip and a Lua run in Redis); a lease outlives the window many times over
GATHER_S = 0.1
LEASE_KEY = "hotline:lease:{site}"

# One script per write, whatever the number of sites in it (one round trip, not one a
# site). KEYS[1] the calls hash, then each site's lease; ARGV, for each site in KEYS'
# order: the lease value the writer holds, the number of calls n, then n (call id, JSON
# or "" to delete) pairs. Returns, per site: n written; -1 refused, the lease is
# another's; -2 no lease at all (it expired while Redis was away): retried once it is
# taken again. A refused site's calls are left alone; the others are written.
_FENCED_WRITE = """
local out = {}
local i = 1
for s = 2, #KEYS do
  local fence, n = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local held = redis.call('GET', KEYS[s])
  local verdict = n
  if not held then verdict = -2 elseif held ~= fence then verdict = -1 end
  if verdict == n then
    for j = i, i + 2 * n - 1, 2 do
      if ARGV[j + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[j])
      else redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end
    end
  end
  i = i + 2 * n
  out[#out + 1] = verdict
end
return out
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
        await self._write_sites(by_site)

    async def _write_sites(self, by_site: dict[str, list[str]]) -> None:
        assert self._fence is not None and self._fenced is not None
        keys, args, asked = [KEY], [], []
        for site, pairs in by_site.items():
            fence = self._fence(site)
            if fence is None:   # this controller holds no lease for it: never written
                self._refuse(site, pairs, "(none)")
                continue
            keys.append(LEASE_KEY.format(site=site))
            args.extend((fence, len(pairs) // 2, *pairs))
            asked.append((site, pairs, fence))
        if not asked:
            return
        verdicts = await self._fenced(keys=keys, args=args)
        expired = []
        for (site, pairs, fence), written in zip(asked, verdicts, strict=True):
            if int(written) == -2:
                expired.append(site)
            elif int(written) < 0:
                self._refuse(site, pairs, fence)
        if expired:   # the writer retries the batch; the other sites' writes are repeated
            raise LeaseExpired(f"site {', '.join(expired)}: no lease in Redis yet")

    def _refuse(self, site: str, pairs: list[str], fence: str) -> None:
        # not ours any more: the new holder keeps these calls; never retried
        self.refused += len(pairs) // 2
        log.warning("call store: %d writes for site %s refused: lease %s is not held",
                    len(pairs) // 2, site, fence)

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
