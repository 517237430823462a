"""Live events for the desktops and the board: publish once, each user sees their share.

An event is a JSON-ready dict with a `type` and, to say who may see it:

- `site`: only users working at that site (supervisors/ops without a site see all);
- `platform`: agents of the other platform do not see it (e.g. a 110 supervision notice);
- `seat`: agents see it only when it is their own seat (the incoming-call pop-up);
- `roles`: only these roles.

A `citizen_number` (top level, or inside a `call` dict) is masked for everyone
but supervisors and the agent at that seat. A subscriber that reads too slowly
loses the oldest events and is told how many with an `events_lost` event.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, Self

from services.api.accounts import User
from services.privacy import mask_number

log = logging.getLogger("hotline.api.events")

EVENT_TYPES = (
    "hello",             # first message of a stream: who you are
    "call_incoming",     # a seat is rung: the pop-up (seat-scoped)
    "call_state",        # a call changed state
    "key_refused",       # the machine refused a key or action in the call's state
    "suggestion",        # a call's routing suggestion changed
    "supervision",       # a supervision notice (督办) was issued
    "supervision_joined",  # a supervisor's listen-in / whisper / barge joined (supervisors)
    "supervision_ended",   # ... and ended
    "events_lost",       # this stream fell behind and dropped `count` events
    "transfer_created",  # a transfer or three-way started (a key or POST /transfers)
    "transfer_updated",  # it changed: answered, the agent released
    "transfer_ended",    # it ended: completed, kept, cancelled, failed, ended
)


def visible(user: User, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """`event` as `user` may see it, or None if it is not theirs."""
    roles = event.get("roles")
    if roles is not None and user.role not in roles:
        return None
    if "site" in event and not user.covers_site(event["site"]):
        return None
    if user.is_agent:
        if event.get("platform") not in (None, user.platform):
            return None
        if event.get("seat") is not None and event["seat"] != user.seat:
            return None
    out = dict(event)
    if not _sees_number(user, event):
        if out.get("citizen_number"):
            out["citizen_number"] = mask_number(out["citizen_number"])
        call = out.get("call")
        if isinstance(call, Mapping) and call.get("citizen_number"):
            out["call"] = {**call, "citizen_number": mask_number(call["citizen_number"])}
    return out


def _sees_number(user: User, event: Mapping[str, Any]) -> bool:
    if user.role == "supervisor":
        return True
    seat = event.get("seat")
    call = event.get("call")
    if seat is None and isinstance(call, Mapping):
        seat = call.get("seat")
    return user.is_agent and seat is not None and seat == user.seat


class Subscription:
    """One user's stream: a bounded queue that drops its oldest events when full."""

    def __init__(self, hub: EventHub, user: User, size: int) -> None:
        self.user = user
        self._hub = hub
        self._events: deque[dict[str, Any]] = deque()
        self._size = size
        self._lost = 0
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, event: dict[str, Any]) -> None:
        if len(self._events) >= self._size:
            self._events.popleft()
            self._lost += 1
        self._events.append(event)
        self._ready.set()

    async def get(self) -> dict[str, Any] | None:
        """The next event; None once the subscription is closed."""
        while not self._events and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        if self.closed:
            return None
        if self._lost:
            lost, self._lost = self._lost, 0
            return {"type": "events_lost", "count": lost}
        return self._events.popleft()

    def close(self) -> None:
        self.closed = True
        self._hub._subscriptions.discard(self)
        self._ready.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event = await self.get()
        if event is None:
            raise StopAsyncIteration
        return event


class EventHub:
    """Fan-out of live events; `publish` is synchronous, so any callback may call it."""

    def __init__(self, queue_size: int = 256) -> None:
        self._subscriptions: set[Subscription] = set()
        self._queue_size = queue_size

    def publish(self, event: Mapping[str, Any]) -> int:
        """Offer `event` to every subscriber allowed to see it; returns how many."""
        if not isinstance(event.get("type"), str):
            raise TypeError("an event needs a string `type`")
        delivered = 0
        for subscription in list(self._subscriptions):
            shown = visible(subscription.user, event)
            if shown is not None:
                subscription.offer(shown)
                delivered += 1
        return delivered

    def subscribe(self, user: User) -> Subscription:
        subscription = Subscription(self, user, self._queue_size)
        self._subscriptions.add(subscription)
        return subscription

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def close(self) -> None:
        """End every stream (shutdown)."""
        for subscription in list(self._subscriptions):
            subscription.close()
