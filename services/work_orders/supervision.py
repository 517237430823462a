"""The supervision scheduler that the controller process runs in the background.

It only asks the service for due notices and hands them on (to the supervisor
board, a log, a message to the department); a database outage costs a round, never
the controller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from .service import Notice

log = logging.getLogger(__name__)

NoticeSink = Callable[[list[Notice]], Awaitable[None]]


class Supervisor(Protocol):
    async def supervise(self) -> list[Notice]: ...


class SupervisionScheduler:
    def __init__(
        self,
        service: Supervisor,
        *,
        interval: float = 60.0,
        on_notices: NoticeSink | None = None,
    ) -> None:
        self._service = service
        self._interval = interval
        self._on_notices = on_notices

    async def run_once(self) -> list[Notice]:
        """One round; errors are logged, not raised, so the loop and the calls go on."""
        try:
            notices = await self._service.supervise()
        except Exception:
            log.exception("supervision round failed; retrying in %.0fs", self._interval)
            return []
        if notices:
            log.info("issued %d supervision notices", len(notices))
            if self._on_notices is not None:
                try:
                    await self._on_notices(notices)
                except Exception:
                    # The notices are stored and on the board; only the hand-on failed.
                    log.exception("could not hand on %d supervision notices", len(notices))
        return notices

    async def run(self) -> None:
        """Run rounds until cancelled (e.g. by the app's cleanup context)."""
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval)
