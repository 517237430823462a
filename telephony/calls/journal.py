"""A bounded, in-memory record of what recent calls did, for live views and
the lab's tests. The durable record is the work order; this is the glance."""
from __future__ import annotations

import logging
import time
from collections import deque

from telephony.calls.model import Call, Notice
from telephony.calls.ports import CallObserver

log = logging.getLogger(__name__)


class CallJournal(CallObserver):
    def __init__(self, size: int = 2000):
        self._entries: deque[dict] = deque(maxlen=size)

    def call_opened(self, call: Call) -> None:
        self._add(call, "call_opened", {"via_trunk": call.via_trunk})

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        self._add(call, kind, detail)

    def _add(self, call: Call, kind: str, detail: dict) -> None:
        self._entries.append({
            "at": time.time(), "call": call.id, "site": call.site, "order": call.order_id,
            "linked_order": call.linked_order_id, "state": call.state.value, "kind": str(kind),
            "detail": dict(detail),
        })

    def entries(self, order: str | None = None) -> list[dict]:
        return [e for e in self._entries
                if order is None or order in (e["order"], e["linked_order"])]


class Observers(CallObserver):
    """Several observers as one; one failing does not stop the others or the call."""

    def __init__(self, *observers: CallObserver):
        self._observers = observers

    def call_opened(self, call: Call) -> None:
        for observer in self._observers:
            try:
                observer.call_opened(call)
            except Exception:  # a broken view must not break a call
                log.exception("observer failed")

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        for observer in self._observers:
            try:
                observer.notice(call, kind, detail)
            except Exception:  # a broken view must not break a call
                log.exception("observer failed")
