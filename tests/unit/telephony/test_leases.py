"""Site leases with a fake store and an injected clock: one holder per site, fair
spread, takeover when a holder dies, step-down when the lease is lost, and a Redis
outage that does not drop what is held."""
from __future__ import annotations

import math

import pytest

from telephony.leases import LeaseStoreDown, SiteLeases, parse_lease

SITES = ("110", "12345", "remote")


class FakeStore:
    """Leases and heartbeats with expiry on a clock the test moves."""

    def __init__(self):
        self.now = 0.0
        self.leases: dict[str, tuple[str, int, float]] = {}   # site -> holder, epoch, until
        self.beats: dict[str, float] = {}
        self.epoch = 0
        self.down = False

    def _check(self):
        if self.down:
            raise LeaseStoreDown("connection refused")
        self.leases = {s: v for s, v in self.leases.items() if v[2] > self.now}
        self.beats = {c: t for c, t in self.beats.items() if t > self.now}

    async def acquire(self, site, holder, ttl_ms):
        self._check()
        if site in self.leases:
            return None
        self.epoch += 1
        self.leases[site] = (holder, self.epoch, self.now + ttl_ms / 1000)
        return self.epoch

    async def renew(self, site, holder, epoch, ttl_ms):
        self._check()
        held = self.leases.get(site)
        if held is None:   # expired, nobody took it: taken again with a new epoch
            return await self.acquire(site, holder, ttl_ms)
        if held[:2] != (holder, epoch):
            return 0
        self.leases[site] = (holder, epoch, self.now + ttl_ms / 1000)
        return epoch

    async def release(self, site, holder, epoch):
        self._check()
        if self.leases.get(site, ())[:2] == (holder, epoch):
            del self.leases[site]

    async def holders(self, sites):
        self._check()
        return {s: self.leases[s][:2] if s in self.leases else None for s in sites}

    async def beat(self, controller_id, ttl_ms):
        self._check()
        self.beats[controller_id] = self.now + ttl_ms / 1000
        return len(self.beats)

    async def leave(self, controller_id):
        self._check()
        self.beats.pop(controller_id, None)

    def steal(self, site, holder):
        """Another controller takes the site (as after a partition)."""
        self.epoch += 1
        self.leases[site] = (holder, self.epoch, self.now + 10)


class Controller:
    def __init__(self, store, name):
        self.gained, self.lost = [], []
        self.leases = SiteLeases(store, SITES, name, on_gained=self._gained,
                                 on_lost=self._lost, ttl_s=1.5)

    async def _gained(self, site, epoch):
        self.gained.append((site, epoch))

    async def _lost(self, site, why):
        self.lost.append((site, why))


async def ticks(store, controllers, seconds: float):
    """Run every live controller's renewal loop for `seconds` of fake time."""
    step = controllers[0].leases.every_s
    for _ in range(math.ceil(seconds / step)):
        for c in controllers:
            await c.leases.tick()
        store.now += step


def holders(controllers):
    return {site: [c.leases.controller_id for c in controllers if c.leases.holds(site)]
            for site in SITES}


async def test_one_controller_takes_every_site_and_each_has_one_holder():
    store = FakeStore()
    a = Controller(store, "a")
    await ticks(store, [a], 1)
    assert holders([a]) == {s: ["a"] for s in SITES}
    assert sorted(s for s, _ in a.gained) == sorted(SITES)


async def test_sites_spread_evenly_and_never_have_two_holders():
    store = FakeStore()
    cs = [Controller(store, name) for name in ("a", "b", "c")]
    await ticks(store, cs[:1], 1)          # a starts alone and takes all
    await ticks(store, cs, 5)              # then b and c join
    held = holders(cs)
    assert all(len(h) == 1 for h in held.values()), held
    assert sorted(len(c.leases.held) for c in cs) == [1, 1, 1]


async def test_a_dead_controllers_sites_are_taken_after_its_ttl():
    store = FakeStore()
    a, b = Controller(store, "a"), Controller(store, "b")
    await ticks(store, [a, b], 3)
    dead = next(c for c in (a, b) if c.leases.holds("12345"))
    alive = b if dead is a else a
    killed_at = store.now
    while not alive.leases.holds("12345"):
        await ticks(store, [alive], alive.leases.every_s)
    assert store.now - killed_at <= 1.5 + 2 * alive.leases.every_s
    assert sorted(alive.leases.held) == sorted(SITES)


async def test_a_stolen_lease_is_stepped_down_at_the_next_renewal():
    store = FakeStore()
    a = Controller(store, "a")
    await ticks(store, [a], 1)
    store.steal("12345", "intruder")
    await a.leases.tick()
    assert not a.leases.holds("12345")
    assert a.lost == [("12345", "lease lost to another controller")]
    # nothing of a's release touched the new holder's lease
    assert store.leases["12345"][0] == "intruder"


async def test_a_redis_outage_keeps_what_is_held_and_resumes_with_new_epochs():
    store = FakeStore()
    a = Controller(store, "a")
    await ticks(store, [a], 1)
    store.down = True
    await ticks(store, [a], 5)
    assert sorted(a.leases.held) == sorted(SITES) and a.lost == []
    assert a.leases.state()["lease_store"] == "unreachable"
    store.down = False   # back: the expired keys are taken again, with new epochs
    old = {s: a.leases.epoch(s) for s in SITES}
    await ticks(store, [a], 1)
    assert a.leases.state()["lease_store"] == "up"
    assert all(a.leases.holds(s) for s in SITES) and a.lost == []
    assert all(a.leases.epoch(s) > old[s] for s in SITES)


async def test_epochs_only_grow_and_fence_names_holder_and_epoch():
    store = FakeStore()
    a, b = Controller(store, "a"), Controller(store, "b")
    await ticks(store, [a], 1)
    first = a.leases.epoch("12345")
    assert a.leases.fence("12345") == f"a {first}"
    await a.leases.step_down("12345", "test")
    assert a.leases.fence("12345") is None and not a.leases.holds("12345")
    await ticks(store, [b], 0.5)
    assert b.leases.epoch("12345") > first


async def test_after_an_outage_a_site_taken_by_another_is_stepped_down():
    store = FakeStore()
    a = Controller(store, "a")
    await ticks(store, [a], 1)
    store.down = True
    await ticks(store, [a], 3)
    store.down = False
    store.leases.clear()
    store.steal("110", "b")
    await a.leases.tick()
    assert not a.leases.holds("110") and a.leases.holds("12345")
    assert a.lost == [("110", "lease lost to another controller")]


async def test_stopping_hands_every_site_back_at_once():
    store = FakeStore()
    a = Controller(store, "a")
    await ticks(store, [a], 1)
    await a.leases._give_all_back()
    assert store.leases == {} and store.beats == {}


@pytest.mark.parametrize("raw,expected", [(b"c1 7", ("c1", 7)), ("host-1 12", ("host-1", 12)),
                                          (None, None), (b"garbage", None)])
def test_lease_values_parse(raw, expected):
    assert parse_lease(raw) == expected
