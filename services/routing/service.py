"""The routing service the call controller and the HTTP API use.

A call gets a suggestion when it arrives (from the IVR choice, the site and the caller's
history) and a fresh one whenever the agent's summary changes. A suggestion takes about a
millisecond of CPU, so it is fine to call these from the event loop.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.routing.model import CallContext, PriorCall, Suggestion
from services.routing.suggester import Suggester


ARRIVALS_KEPT = 256   # (site, IVR choice) pairs whose arrival suggestion is kept


@dataclass(frozen=True)
class SuggestionUpdate:
    call_id: str
    suggestion: Suggestion
    changed: bool  # target, category, emergency, uncertainty or linked order differ


class RoutingService:
    """Keeps each live call's context, summary and latest suggestion."""

    def __init__(self, suggester: Suggester) -> None:
        self._suggester = suggester
        self._calls: dict[str, tuple[CallContext, str, Suggestion]] = {}
        self._arrivals: dict[tuple[str, str | None], Suggestion] = {}

    def suggest(self, text: str, context: CallContext | None = None) -> Suggestion:
        """One-off suggestion, for the API and the CLI."""
        return self._suggester.suggest(text, context)

    def on_arrival(self, call_id: str, context: CallContext) -> Suggestion:
        """The suggestion before anyone has spoken. Without a caller history it depends on
        the site and the IVR choice alone, so it is worked out once per pair and shared
        (suggestions are immutable): the suggester was the largest single cost of a new
        call in the controller's profile. The IVR choice comes from the caller's keys, so
        the pairs kept are bounded."""
        if context.history:
            suggestion = self._suggester.suggest("", context)
        else:
            key = (context.site, context.ivr_choice)
            suggestion = self._arrivals.get(key) or self._suggester.suggest("", context)
            if key not in self._arrivals and len(self._arrivals) < ARRIVALS_KEPT:
                self._arrivals[key] = suggestion
        self._calls[call_id] = (context, "", suggestion)
        return suggestion

    def on_summary_changed(self, call_id: str, summary: str) -> SuggestionUpdate:
        """Re-suggest from the new summary; `changed` tells the controller to tell the agent."""
        context, previous_summary, previous = self._calls.get(
            call_id, (CallContext(), "", None))
        if previous is not None and summary.strip() == previous_summary.strip():
            return SuggestionUpdate(call_id, previous, changed=False)
        suggestion = self._suggester.suggest(summary, context)
        self._calls[call_id] = (context, summary, suggestion)
        return SuggestionUpdate(call_id, suggestion, changed=_differs(previous, suggestion))

    def current(self, call_id: str) -> Suggestion | None:
        entry = self._calls.get(call_id)
        return entry[2] if entry else None

    def on_hangup(self, call_id: str) -> None:
        self._calls.pop(call_id, None)


def _differs(before: Suggestion | None, after: Suggestion) -> bool:
    if before is None:
        return True
    keys = ("target", "category", "emergency", "uncertain", "linked_order_id")
    return any(getattr(before, k) != getattr(after, k) for k in keys)


def context_from_dict(data: Mapping[str, Any]) -> CallContext:
    """Builds a CallContext from the API's JSON body; `when` is ISO 8601."""
    history = tuple(
        PriorCall(
            when=datetime.fromisoformat(item["when"]),
            summary=item.get("summary", ""),
            flags=frozenset(item.get("flags", ())),
            order_id=item.get("order_id"),
            open=bool(item.get("open", False)),
            target=item.get("target"),
            category=item.get("category"),
        )
        for item in data.get("history", ())
    )
    return CallContext(site=str(data.get("site", "12345")),
                       ivr_choice=data.get("ivr_choice"), history=history)
