"""Routing suggestions for live calls: loaded off the event loop at start, asked at
arrival (the line *8 rings, whether the caller is answered first) and again when
the agent's summary changes. Calls before the model is ready get none."""
from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from telephony.calls.model import Call, Notice
from telephony.calls.ports import CallObserver

if TYPE_CHECKING:   # heavy imports, loaded in the background at start
    from services.routing import RoutingService

log = logging.getLogger("hotline.app")

# IVR choices that put a waiting caller at the head of the line
EMERGENCY_IVR_CHOICES = frozenset({"police", "fire", "medical"})


def settle_heap() -> None:
    """Move what start-up built (the routing model above all) out of the collector's
    view: a full collection scanned it all and held every call for 100 ms or more.
    Young collections then run a tenth as often: every ARI event and request makes a
    few dicts that die young, and at 700 allocations a pass the collector took 6 % of
    the loop under load (bench/results/capacity.md, profile)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


YOUNG_COLLECTION_EVERY = 7000   # allocations net of frees; Python's default is 700


class Suggestions(CallObserver):
    def __init__(self, site_platform: Mapping[str, str]):
        self._site_platform = site_platform
        self.routing: RoutingService | None = None   # once the model is loaded
        self.settled = False   # loaded, or failed to (calls go on without)

    async def load(self) -> None:
        """Load the suggester off the event loop; a broken model must not stop calls."""
        from services.routing import RoutingService, Suggester

        t0 = time.monotonic()
        try:
            suggester = await asyncio.to_thread(Suggester.load)
        except Exception:  # a broken model must not stop calls
            log.exception("routing suggester failed to load; calls get no suggestion")
            self.settled = True
            return
        self.routing = RoutingService(suggester)
        self.settled = True
        settle_heap()
        log.info("routing suggester loaded in %.2fs", time.monotonic() - t0)

    def at_arrival(self, call_id: str, site: str, ivr_choice: str | None
                   ) -> tuple[str | None, bool]:
        """A suggestion from the site and the caller's IVR choice. Its line drives *8; an
        emergency (by the suggestion, or a police, fire or medical choice) is answered first.
        """
        from services.routing import TRANSFERABLE_LINES, CallContext

        urgent_choice = ivr_choice in EMERGENCY_IVR_CHOICES
        if self.routing is None:
            return None, urgent_choice
        try:
            suggestion = self.routing.on_arrival(
                call_id, CallContext(site=self._site_platform[site], ivr_choice=ivr_choice))
        except Exception:
            log.exception("call %s: routing suggestion failed", call_id)
            return None, urgent_choice
        line = suggestion.target if suggestion.target in TRANSFERABLE_LINES else None
        return line, suggestion.emergency or urgent_choice

    def current(self, call_id: str) -> dict | None:
        current = self.routing.current(call_id) if self.routing else None
        return current.to_dict() if current else None

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        """Forget a call's suggestion context when the call ends."""
        if kind is Notice.CALL_ENDED and self.routing is not None:
            self.routing.on_hangup(call.id)


def resuggester(suggestions: Suggestions,
                suggestion_changed: Callable[[str, str | None, bool], bool],
                record_summary: Callable[[Call, str, str | None, str], None],
                publish: Callable[[dict], object]) -> Callable[[Call, str, str], dict | None]:
    """The agent's summary changed: suggest again, tell the call, the desk and the order."""
    def resuggest(call: Call, summary: str, actor: str) -> dict | None:
        from services.routing import TRANSFERABLE_LINES

        if suggestions.routing is None:
            return None
        update = suggestions.routing.on_summary_changed(call.id, summary)
        suggestion = update.suggestion
        line = suggestion.target if suggestion.target in TRANSFERABLE_LINES else None
        suggestion_changed(call.id, line, suggestion.emergency)
        category = suggestion.category if suggestion.target == call.platform else None
        record_summary(call, summary, category, actor)
        view = {"call_id": call.id, "changed": update.changed,
                "suggestion": suggestion.to_dict()}
        if update.changed:
            publish({"type": "suggestion", "site": call.site, "platform": call.platform, **view})
        return view
    return resuggest
