"""When a site's own seats are severely short, its calls go to remote seats of
another region (话务座席严重不足时…统筹协调其他地区远程话务座席给予支持).

Pure policy: thresholds, an ops switch that forces overflow on or off, and
hysteresis so that overflow does not flap as seats come and go.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OverflowPolicy:
    to: str                          # the remote site
    max_wait_s: float = 30.0         # the longest wait passes this
    max_queue: int = 3               # more callers than this wait while every local seat is busy
    min_available_ratio: float = 0.0  # share of registered local seats still free falls below this
    calm_s: float = 10.0             # local capacity back this long before overflow stops


@dataclass(frozen=True)
class SiteLoad:
    waiting: int
    longest_wait_s: float
    local_available: int
    local_on_duty: int               # registered local seats


@dataclass
class OverflowState:
    policy: OverflowPolicy
    forced: bool | None = None       # the ops switch: True on, False off, None automatic
    reason: str = ""
    active: bool = False
    why: str = ""
    calm_since: float | None = None
    changes: list[tuple[float, bool, str]] = field(default_factory=list)

    def update(self, load: SiteLoad, now: float) -> bool:
        """Re-evaluate; returns whether calls should overflow now."""
        if self.forced is not None:
            self._set(self.forced, f"ops switch: {self.reason}", now)
            return self.active
        trip = self._trip(load)
        if trip:
            self.calm_since = None
            self._set(True, trip, now)
        elif self.active:
            calm = load.waiting == 0 and load.local_available > 0
            if not calm:
                self.calm_since = None
            elif self.calm_since is None:
                self.calm_since = now
            elif now - self.calm_since >= self.policy.calm_s:
                self._set(False, f"local seats free for {self.policy.calm_s:.0f}s", now)
        return self.active

    def _trip(self, load: SiteLoad) -> str:
        p = self.policy
        if load.waiting and load.longest_wait_s >= p.max_wait_s:
            return f"longest wait {load.longest_wait_s:.0f}s >= {p.max_wait_s:.0f}s"
        if load.waiting > p.max_queue and load.local_available == 0:
            return f"{load.waiting} waiting > {p.max_queue} with every local seat busy"
        if (load.waiting and load.local_on_duty
                and load.local_available / load.local_on_duty < p.min_available_ratio):
            return (f"available ratio {load.local_available}/{load.local_on_duty} "
                    f"< {p.min_available_ratio:.2f}")
        if load.waiting and load.local_on_duty == 0:
            return "no local seat on duty"
        return ""

    def _set(self, active: bool, why: str, now: float) -> None:
        if active != self.active:
            self.changes.append((now, active, why))
        self.active, self.why = active, why if active else (why or self.why)

    def force(self, on: bool | None, reason: str, now: float) -> None:
        self.forced, self.reason = on, reason
        self.calm_since = None
        if on is not None:
            self._set(on, f"ops switch: {reason}", now)
