"""One call's log row, worked out from its facts: a pure function, so the consumer, a
replay and the tests all get the same row from the same steps.

Outcomes (one per call, the call's end as the platform saw it):

| outcome | when |
|---|---|
| `live` | not ended yet |
| `abandoned` | a citizen's call that no seat answered (the citizen left the line) |
| `callback` | as `abandoned`, but the citizen asked to be called back (surge menu, key 2) |
| `unanswered` | a hand-over from the other platform that no seat here answered |
| `refused` | a hand-over no seat here could take: the origin got it back at once |
| `handed_over` | the case went to the other platform (`*1`, or `*3` in a three-way) |
| `line_transferred` | `*8` put the citizen through to a public line |
| `three_way_kept` | `*4`: the invited platform left, the case stayed here |
| `three_way_unagreed` | a three-way ended without `*3` or `*4` (首接负责制: it stays here) |
| `transfer_failed` | a transfer was tried and failed; the citizen stayed with the agent |
| `answered` | answered here, no transfer |
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OUTCOMES = ("live", "abandoned", "callback", "unanswered", "refused", "handed_over",
            "line_transferred", "three_way_kept", "three_way_unagreed", "transfer_failed",
            "answered")
ENDED_BY = ("citizen", "agent", "target", "system", "unknown")

# the controller's notices the call log keeps, as steps
LOGGED_STEPS = frozenset({
    "seat_answered", "seat_failed", "overflowed", "handover_refused", "transfer_started",
    "transfer_cancelled", "transfer_completed", "transfer_failed", "three_way_joined",
    "three_way_cancelled", "negotiated", "agent_left", "agent_lost", "target_left",
    "surge_offered", "callback_requested", "abandoned",
})


@dataclass(frozen=True)
class Step:
    step: str
    at: datetime
    seat: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Arrival:
    call_id: str
    site: str
    platform: str
    origin_site: str
    via_trunk: bool
    citizen_number: str
    order_id: str
    linked_order_id: str
    at: datetime


@dataclass(frozen=True)
class End:
    at: datetime
    by: str
    state: str
    taken_by: str | None = None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


class _Legs:
    """The seat legs and transfer legs, followed step by step."""

    def __init__(self) -> None:
        self.agents: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []

    def open_agent(self) -> dict[str, Any] | None:
        return next((leg for leg in reversed(self.agents)
                     if leg["outcome"] == "answered" and leg["left_at"] is None), None)

    def agent_leaves(self, at: datetime, how: str | None = None) -> None:
        leg = self.open_agent()
        if leg is not None:
            leg["left_at"] = _iso(at)
            if how:
                leg["outcome"] = how

    def last_transfer(self) -> dict[str, Any] | None:
        return self.transfers[-1] if self.transfers else None

    def settle(self, outcome: str, at: datetime, **extra: Any) -> None:
        last = self.last_transfer()
        if last is not None and last["outcome"] in ("ringing", "joined"):
            last["outcome"] = outcome
            last["ended_at"] = _iso(at)
            last.update(extra)

    def apply(self, s: Step) -> None:
        d = s.detail
        if s.step == "seat_answered":
            self.agents.append({"seat": s.seat, "answered_at": _iso(s.at), "left_at": None,
                                "outcome": "answered"})
        elif s.step == "seat_failed":
            self.agents.append({"seat": s.seat, "answered_at": None, "left_at": _iso(s.at),
                                "outcome": str(d.get("reason") or "failed")})
        elif s.step == "transfer_started":
            self.transfers.append({"mode": d.get("mode"), "line": d.get("line"),
                                   "by_seat": s.seat, "started_at": _iso(s.at),
                                   "answered_at": None, "ended_at": None, "outcome": "ringing",
                                   "reason": None})
        elif s.step == "transfer_completed":
            last = self.last_transfer()
            if last is not None:
                last["answered_at"] = _iso(s.at)
            self.settle("completed", s.at)
            self.agent_leaves(s.at, "released")   # warm transfer: the agent is let go
        elif s.step == "transfer_failed":
            self.settle("failed", s.at, reason=d.get("reason"))
        elif s.step in ("transfer_cancelled", "three_way_cancelled"):
            self.settle("cancelled", s.at)
        elif s.step == "three_way_joined":
            last = self.last_transfer()
            if last is not None:
                last["answered_at"], last["outcome"] = _iso(s.at), "joined"
        elif s.step == "negotiated":
            key = d.get("key")
            if key == "*3":
                self.settle("handed_over", s.at, key=key)
                self.agent_leaves(s.at, "handed_over")
            elif key == "*4":
                self.settle("kept", s.at, key=key)
        elif s.step == "target_left":
            self.settle("target_left", s.at)
        elif s.step == "agent_left":
            self.agent_leaves(s.at, "left")
        elif s.step == "agent_lost":
            self.agent_leaves(s.at, "lost")


def _outcome(arrival: Arrival, steps: list[Step], legs: _Legs, end: End | None) -> str:
    if end is None:
        return "live"
    kinds = {s.step for s in steps}
    if "handover_refused" in kinds:
        return "refused"
    if "seat_answered" not in kinds:
        if arrival.via_trunk:
            return "unanswered"
        return "callback" if "callback_requested" in kinds else "abandoned"
    done = [t["outcome"] for t in legs.transfers]
    modes = {t["mode"] for t in legs.transfers if t["outcome"] == "completed"}
    if "handover" in modes or "handed_over" in done:
        return "handed_over"
    if "line" in modes:
        return "line_transferred"
    if done and done[-1] == "kept":
        return "three_way_kept"
    if done and done[-1] == "unagreed":
        return "three_way_unagreed"
    if "failed" in done:
        return "transfer_failed"
    return "answered"


def summarize(arrival: Arrival, steps: list[Step], end: End | None) -> dict[str, Any]:
    """The call's log row (the columns of `call_log` that its facts decide)."""
    steps = sorted(steps, key=lambda s: s.at)
    legs = _Legs()
    for s in steps:
        legs.apply(s)
    if end is not None:
        legs.agent_leaves(end.at, "ended")
        last = legs.last_transfer()
        # a three-way joined and never settled by *3 or *4 ended without agreement
        legs.settle("unagreed" if last and last["outcome"] == "joined" else "ended", end.at)
    answered = next((s for s in steps if s.step == "seat_answered"), None)
    answered_at = answered.at if answered else None
    # the wait: from arrival until a seat answered, or until the citizen left unanswered
    wait_until = answered_at or (end.at if end else None)
    return {
        "answered_at": answered_at,
        "seat": answered.seat if answered else None,
        "seats": [leg["seat"] for leg in legs.agents if leg["answered_at"]],
        "wait_s": _seconds(arrival.at, wait_until),
        "handled_s": _seconds(answered_at, end.at if end else None),
        "ended_at": end.at if end else None,
        "ended_by": end.by if end else None,
        "taken_by": end.taken_by if end else None,
        "outcome": _outcome(arrival, steps, legs, end),
        "transfers": legs.transfers,
        "legs": legs.agents,
        "overflowed": any(s.step == "overflowed" for s in steps),
    }


def arrival_of(row: Any) -> Arrival:
    """The summary's view of a call-log row (a dict, or a mapped object)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return Arrival(get("call_id"), get("site"), get("platform"), get("origin_site"),
                   get("via_trunk"), get("citizen_number"), get("order_id"),
                   get("linked_order_id") or "", get("arrived_at"))


def summarize_steps(arrival: Arrival, rows: Sequence[Any]) -> dict[str, Any]:
    """The row from the call's stored steps (anything with `step`, `at`, `seat`, `detail`),
    in the order they were stored (at, then id): the first `ended` is the end, the rest
    are its steps. The ORM handlers and the Core batch path both summarize through here."""
    steps = [Step(r.step, r.at, r.seat, r.detail or {}) for r in rows if r.step != "ended"]
    ended = next((r for r in rows if r.step == "ended"), None)
    end = End(ended.at, ended.detail.get("by") or "unknown", ended.detail.get("state") or "",
              ended.detail.get("taken_by")) if ended else None
    return summarize(arrival, steps, end)
