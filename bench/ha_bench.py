"""Scale-out by simulation: 6 sites, 3 controllers sharing them by site leases.

The controllers run the real lease keeper (`telephony.leases.SiteLeases`) against an
in-memory lease store with the same semantics as the Redis scripts (SET NX PX,
compare-and-renew, INCR epochs, heartbeats with expiry), on a simulated clock: each
controller ticks every TTL/5 at its own random phase. Measured, over many trials:

- the spread of sites once all three run (started one after another);
- after SIGKILL of a controller at a random moment: the time until every one of its
  sites is held again (kill -> last site taken), and the spread afterwards;
- that no site ever has two holders (checked at every step).

    .venv/bin/python bench/ha_bench.py [--trials 200] [--seed 1]
"""
from __future__ import annotations

import argparse
import asyncio
import heapq
import logging
import random
import statistics
from collections import Counter

from telephony.leases import LeaseStoreDown, SiteLeases

logging.getLogger("hotline.leases").setLevel(logging.ERROR)   # thousands of hand-overs

SITES = tuple(f"site-{i}" for i in range(1, 7))
TTL_S = 1.5


class SimulatedStore:
    """The Redis scripts' semantics on a simulated clock."""

    def __init__(self):
        self.now = 0.0
        self.leases: dict[str, tuple[str, int, float]] = {}
        self.beats: dict[str, float] = {}
        self.epoch = 0

    def _expire(self):
        self.leases = {s: v for s, v in self.leases.items() if v[2] > self.now}
        self.beats = {c: t for c, t in self.beats.items() if t > self.now}

    async def acquire(self, site, holder, ttl_ms):
        self._expire()
        if site in self.leases:
            return None
        self.epoch += 1
        self.leases[site] = (holder, self.epoch, self.now + ttl_ms / 1000)
        return self.epoch

    async def renew(self, site, holder, epoch, ttl_ms):
        self._expire()
        held = self.leases.get(site)
        if held is None:
            return await self.acquire(site, holder, ttl_ms)
        if held[:2] != (holder, epoch):
            return 0
        self.leases[site] = (holder, epoch, self.now + ttl_ms / 1000)
        return epoch

    async def release(self, site, holder, epoch):
        self._expire()
        if self.leases.get(site, ())[:2] == (holder, epoch):
            del self.leases[site]

    async def holders(self, sites):
        self._expire()
        return {s: self.leases[s][:2] if s in self.leases else None for s in sites}

    async def beat(self, controller_id, ttl_ms):
        self._expire()
        self.beats[controller_id] = self.now + ttl_ms / 1000
        return len(self.beats)

    async def leave(self, controller_id):
        self.beats.pop(controller_id, None)


async def _nothing(*_):
    return None


class Cluster:
    def __init__(self, rng: random.Random):
        self.store = SimulatedStore()
        self.rng = rng
        self.keepers: dict[str, SiteLeases] = {}
        self.queue: list[tuple[float, str]] = []

    def start(self, name: str) -> None:
        self.keepers[name] = SiteLeases(self.store, SITES, name, on_gained=_nothing,
                                        on_lost=_nothing, ttl_s=TTL_S)
        first = self.store.now + self.rng.uniform(0, TTL_S / 5)
        heapq.heappush(self.queue, (first, name))

    def kill(self, name: str) -> None:
        """SIGKILL: it stops ticking and hands nothing back."""
        self.keepers.pop(name)

    async def run_until(self, t: float, stop=None) -> float | None:
        while self.queue and self.queue[0][0] <= t:
            at, name = heapq.heappop(self.queue)
            if name not in self.keepers:
                continue
            self.store.now = at
            keeper = self.keepers[name]
            try:
                await keeper.tick()
            except LeaseStoreDown:
                pass
            self._check_one_holder()
            heapq.heappush(self.queue, (at + keeper.every_s, name))
            if stop is not None and stop():
                return at
        self.store.now = t
        return None

    def _check_one_holder(self) -> None:
        counts = Counter(site for k in self.keepers.values() for site in k.held)
        double = [site for site, n in counts.items() if n > 1]
        assert not double, f"two holders of {double} at t={self.store.now:.2f}"

    def spread(self) -> tuple[int, ...]:
        return tuple(sorted(len(k.held) for k in self.keepers.values()))


async def trial(rng: random.Random) -> dict:
    cluster = Cluster(rng)
    for i, name in enumerate(("a", "b", "c")):   # started one after another
        await cluster.run_until(i * rng.uniform(0.5, 3.0))
        cluster.start(name)
    await cluster.run_until(cluster.store.now + 10)
    before = cluster.spread()
    victim = rng.choice(sorted(cluster.keepers))
    orphans = set(cluster.keepers[victim].held)
    await cluster.run_until(cluster.store.now + rng.uniform(0, 2))
    killed = cluster.store.now
    cluster.kill(victim)

    def all_taken() -> bool:
        return all(any(s in k.held for k in cluster.keepers.values()) for s in orphans)
    taken = await cluster.run_until(killed + 30, stop=all_taken)
    await cluster.run_until(cluster.store.now + 10)
    return {"before": before, "after": cluster.spread(),
            "takeover_s": None if taken is None else taken - killed}


async def main(trials: int, seed: int) -> None:
    rng = random.Random(seed)
    results = [await trial(rng) for _ in range(trials)]
    takeovers = sorted(r["takeover_s"] for r in results if r["takeover_s"] is not None)
    print(f"{trials} trials, 6 sites, 3 controllers, lease TTL {TTL_S}s, "
          f"renewal every {TTL_S / 5:.2f}s, seed {seed}")
    print(f"spread with 3 running: {dict(Counter(r['before'] for r in results))}")
    print(f"spread after one killed: {dict(Counter(r['after'] for r in results))}")
    print(f"sites never re-taken: {trials - len(takeovers)}")
    if takeovers:
        q = statistics.quantiles(takeovers, n=100)
        print(f"kill -> every orphaned site held again (simulated s): min {takeovers[0]:.2f} "
              f"median {statistics.median(takeovers):.2f} p95 {q[94]:.2f} "
              f"max {takeovers[-1]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.trials, args.seed))
