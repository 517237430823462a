"""Site leases: each site is held by exactly one controller at a time.

Any number of controllers share the sites. A site's holder keeps a lease in Redis
(`hotline:lease:<site>`, value `"<controller id> <epoch>"`, a TTL of a few seconds),
renewed well inside the TTL by a compare-and-renew script. The epoch is a fencing
number taken from one counter (INCR) on every acquisition, so a later holder always
has a larger epoch, and every write a holder makes to shared state carries it (the
call store's writes are checked against the lease in the same script).

A controller connects to a site's ARI app only while it holds the lease, and steps
down at once when Redis names another holder. While Redis cannot be reached at all
it keeps what it holds (nobody else can take a lease then either, and if one is
taken anyway, Asterisk gives the app to the new holder and tells the old one
`ApplicationReplaced`, which also makes it step down): a Redis outage does not stop
the calls.

Sites spread evenly: each controller announces itself (a heartbeat in
`hotline:controllers`) and takes free sites only up to its fair share,
ceil(sites / live controllers); one holding more than its share gives one back a
tick. When a controller dies its leases expire and the others take them.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("hotline.leases")

LEASE_KEY = "hotline:lease:{site}"
EPOCH_KEY = "hotline:lease-epoch"
CONTROLLERS_KEY = "hotline:controllers"


class LeaseStore(Protocol):
    """Where leases live (Redis; a fake in unit tests). Every method may raise
    `LeaseStoreDown` when the store cannot be reached."""

    async def acquire(self, site: str, holder: str, ttl_ms: int) -> int | None:
        """Take the site if nobody holds it: its new epoch, or None."""
    async def renew(self, site: str, holder: str, epoch: int, ttl_ms: int) -> int:
        """Extend the lease if it is still `holder`'s at `epoch` (returns `epoch`); take it
        again with a new epoch if it expired and nobody holds it (after a store outage);
        0 if another controller holds it."""
    async def release(self, site: str, holder: str, epoch: int) -> None:
        """Give the lease up if it is still ours."""
    async def holders(self, sites: Iterable[str]) -> dict[str, tuple[str, int] | None]:
        """Each site's (holder, epoch), or None when free."""
    async def beat(self, controller_id: str, ttl_ms: int) -> int:
        """Say this controller is alive for `ttl_ms`; the number of live controllers."""
    async def leave(self, controller_id: str) -> None:
        """This controller is stopping."""


class LeaseStoreDown(Exception):
    """The lease store could not be reached: nothing is known, nothing was changed."""


@dataclass
class Lease:
    site: str
    epoch: int


class SiteLeases:
    """This controller's leases, kept by `run()` (one `tick()` every `every_s`).

    `on_gained(site, epoch)` runs when a site is taken; `on_lost(site, why)` when it is
    lost or given back; both are awaited in the tick, so a lost site is stepped down
    before the next renewal is tried.
    """

    def __init__(self, store: LeaseStore, sites: Iterable[str], controller_id: str, *,
                 on_gained: Callable[[str, int], Awaitable[None]],
                 on_lost: Callable[[str, str], Awaitable[None]],
                 ttl_s: float = 1.5, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self._store = store
        self.sites = tuple(sites)
        self.controller_id = controller_id
        self._on_gained, self._on_lost = on_gained, on_lost
        self.ttl_s = ttl_s
        self.every_s = ttl_s / 5   # a renewal several times inside the TTL
        self._sleep = sleep
        self.held: dict[str, Lease] = {}
        self.view: dict[str, tuple[str, int] | None] = {}   # every site's holder, last seen
        self.live_controllers = 0
        self.store_up = False

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl_s * 1000)

    # ---- what call control asks ----------------------------------------------------------
    def holds(self, site: str) -> bool:
        """The guard every command passes: no lease, no command."""
        return site in self.held

    def epoch(self, site: str) -> int | None:
        lease = self.held.get(site)
        return lease.epoch if lease else None

    def fence(self, site: str) -> str | None:
        """The lease value a write for `site` must still find in the store."""
        lease = self.held.get(site)
        return f"{self.controller_id} {lease.epoch}" if lease else None

    def held_by_anyone(self, site: str) -> bool:
        return site in self.held or bool(self.view.get(site))

    def state(self) -> dict:
        """For /healthz and `hotline lab status`."""
        return {"id": self.controller_id, "sites": sorted(self.held),
                "epoch": max((lease.epoch for lease in self.held.values()), default=None),
                "leases": {site: lease.epoch for site, lease in sorted(self.held.items())},
                "lease_store": "up" if self.store_up else "unreachable"}

    # ---- keeping them ----------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                await self.tick()
                await self._sleep(self.every_s)
        finally:
            await self._give_all_back()

    async def tick(self) -> None:
        try:
            self.live_controllers = await self._store.beat(self.controller_id, self._ttl_ms)
            await self._renew_all()
            self.view = await self._store.holders(self.sites)
        except LeaseStoreDown as exc:
            if self.store_up:
                log.warning("lease store unreachable (%s): keeping %s until it answers",
                            exc, sorted(self.held) or "nothing")
            self.store_up = False
            return
        self.store_up = True
        fair = math.ceil(len(self.sites) / max(self.live_controllers, 1))
        if len(self.held) > fair:
            await self.step_down(sorted(self.held)[-1], "rebalanced: more than a fair share")
        for site in self.sites:
            if len(self.held) >= fair:
                break
            if site not in self.held and not self.view.get(site):
                await self._try_take(site)

    async def _renew_all(self) -> None:
        for site, lease in list(self.held.items()):
            epoch = await self._store.renew(site, self.controller_id, lease.epoch, self._ttl_ms)
            if not epoch:
                await self.step_down(site, "lease lost to another controller", release=False)
            elif epoch != lease.epoch:
                # it expired while the store was away and nobody took it: ours again, with
                # a new epoch (had anyone served the site meanwhile, Asterisk would have
                # told us ApplicationReplaced and we would have stepped down)
                log.warning("site %s: lease taken again after a store outage (epoch %d -> %d)",
                            site, lease.epoch, epoch)
                lease.epoch = epoch

    async def _try_take(self, site: str) -> None:
        epoch = await self._store.acquire(site, self.controller_id, self._ttl_ms)
        if epoch is None:
            return
        self.held[site] = Lease(site, epoch)
        self.view[site] = (self.controller_id, epoch)
        log.warning("site %s: lease taken (epoch %d)", site, epoch)
        await self._on_gained(site, epoch)

    async def step_down(self, site: str, why: str, release: bool = True) -> None:
        """Stop acting for `site` at once (the guard refuses from here), then tell the
        store, and the controller, so it closes the site's ARI app."""
        lease = self.held.pop(site, None)
        if lease is None:
            return
        log.warning("site %s: stepping down (epoch %d): %s", site, lease.epoch, why)
        try:
            await self._on_lost(site, why)
        finally:
            if release:
                try:
                    await self._store.release(site, self.controller_id, lease.epoch)
                except LeaseStoreDown:
                    pass   # it expires on its own

    async def _give_all_back(self) -> None:
        """Stopping: hand every site to the others now rather than after the TTL."""
        for site in list(self.held):
            await self.step_down(site, "controller stopping")
        try:
            await self._store.leave(self.controller_id)
        except LeaseStoreDown:
            pass


# ---- Redis ------------------------------------------------------------------------------------
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
return epoch
"""
_RENEW = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] .. ' ' .. ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return tonumber(ARGV[2])
end
if held then return 0 end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[3])
return epoch
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_BEAT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""


class RedisLeaseStore:
    """Leases as Redis keys; every change is one script, so it is atomic."""

    def __init__(self, redis):
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._beat = redis.register_script(_BEAT)

    async def _call(self, coro):
        try:
            return await coro
        except Exception as exc:  # noqa: BLE001 - any Redis failure: the store is away
            raise LeaseStoreDown(repr(exc)) from exc

    async def acquire(self, site: str, holder: str, ttl_ms: int) -> int | None:
        epoch = await self._call(self._acquire(keys=[LEASE_KEY.format(site=site), EPOCH_KEY],
                                               args=[holder, ttl_ms]))
        return int(epoch) if epoch else None

    async def renew(self, site: str, holder: str, epoch: int, ttl_ms: int) -> int:
        return int(await self._call(self._renew(keys=[LEASE_KEY.format(site=site), EPOCH_KEY],
                                                args=[holder, epoch, ttl_ms])))

    async def release(self, site: str, holder: str, epoch: int) -> None:
        await self._call(self._release(keys=[LEASE_KEY.format(site=site)],
                                       args=[f"{holder} {epoch}"]))

    async def holders(self, sites: Iterable[str]) -> dict[str, tuple[str, int] | None]:
        sites = list(sites)
        values = await self._call(self._redis.mget([LEASE_KEY.format(site=s) for s in sites]))
        return {site: parse_lease(value) for site, value in zip(sites, values)}

    async def beat(self, controller_id: str, ttl_ms: int) -> int:
        return int(await self._call(self._beat(keys=[CONTROLLERS_KEY],
                                               args=[controller_id, ttl_ms])))

    async def leave(self, controller_id: str) -> None:
        await self._call(self._redis.zrem(CONTROLLERS_KEY, controller_id))


def parse_lease(value: bytes | str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    holder, _, epoch = text.rpartition(" ")
    try:
        return holder, int(epoch)
    except ValueError:
        return None
