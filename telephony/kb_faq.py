"""The surge IVR's knowledge-base side: each site's FAQ menu, and the caller's choice after
an answer recorded as the entry's use.

Call control never waits on the order database: the menus are read from the knowledge
base in the background every REFRESH_S into memory, and a surge offer takes whatever is
there (nothing yet, or the database away at the last refresh: the fixed prompts, whose
choices need no database). A choice is recorded in the
background too; a failure is logged and the call goes on.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from telephony.calls.model import Call, Notice
from telephony.calls.ports import CallObserver

log = logging.getLogger("hotline.kb")

REFRESH_S = 10.0   # a new most-used order, or freshly rendered audio, is heard this soon
MENU_SIZE = 3      # answers per menu: the caller walks them with 3


class Knowledge(Protocol):
    """What the IVR uses of services.knowledge.KnowledgeService."""

    async def faq_menu(self, region: str, size: int = 3) -> list[dict[str, Any]]: ...

    async def record_use(self, entry_id: str, *, actor: str, channel: str = "desk",
                         order_id: str | None = None, call_id: str | None = None,
                         region_code: str | None = None,
                         outcome: str | None = None) -> dict[str, Any]: ...


class KbFaq(CallObserver):
    def __init__(self, knowledge: Callable[[], Knowledge | None], region_of: Mapping[str, str],
                 spawn: Callable[[Any], None], size: int = MENU_SIZE):
        self._knowledge = knowledge     # None until the order database is up
        self._region_of = dict(region_of)   # site -> region code
        self._spawn = spawn
        self._size = size
        self._menus: dict[str, tuple[tuple[str, str], ...]] = {}   # region -> (entry, media)

    # ---- the menus --------------------------------------------------------------------
    def menu(self, site: str) -> tuple[tuple[str, str], ...]:
        """The site's FAQ as (entry id, ARI media), most used first; () means fixed prompts."""
        return self._menus.get(self._region_of.get(site, ""), ())

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(REFRESH_S)

    async def refresh(self) -> None:
        knowledge = self._knowledge()
        if knowledge is None:
            return
        for region in sorted(set(self._region_of.values())):
            try:
                items = await knowledge.faq_menu(region, size=self._size)
            except Exception as exc:  # noqa: BLE001 - the database away: the fixed prompts
                if self._menus.pop(region, ()):
                    log.warning("FAQ menu of region %s unreadable (%r): fixed prompts until "
                                "the knowledge base answers", region, exc)
                continue
            menu = tuple((item["entry_id"], f"sound:{item['audio']}") for item in items
                         if item.get("audio"))
            if menu != self._menus.get(region):
                log.info("FAQ menu of region %s: %s", region,
                         ", ".join(entry for entry, _ in menu) or "(fixed prompts)")
            self._menus[region] = menu

    def status(self) -> dict[str, dict]:
        """For /healthz: per site, where its FAQ comes from, how many answers it has and
        which, in the order a caller hears them."""
        menus = {site: self.menu(site) for site in self._region_of}
        return {site: {"source": "kb" if menu else "prompts", "answers": len(menu),
                       "entries": [entry for entry, _ in menu]}
                for site, menu in menus.items()}

    # ---- CallObserver: the caller's choice after an answer ------------------------------
    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        if kind is Notice.FAQ_CHOICE:
            self._spawn(self._record(call, detail["entry_id"], detail["outcome"]))

    async def _record(self, call: Call, entry_id: str, outcome: str) -> None:
        knowledge = self._knowledge()
        if knowledge is None:
            log.warning("call %s: FAQ choice %s on %s not recorded: no knowledge base yet",
                        call.id, outcome, entry_id)
            return
        try:
            await knowledge.record_use(
                entry_id, actor="ivr", channel="ivr", call_id=call.id, order_id=call.order_id,
                region_code=self._region_of.get(call.site), outcome=outcome)
        except Exception as exc:  # noqa: BLE001 - a lost count is no reason to disturb a call
            log.warning("call %s: FAQ choice %s on %s not recorded: %r", call.id, outcome,
                        entry_id, exc)
