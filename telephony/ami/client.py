"""AMI through panoramisk, wrapped: no panoramisk Message leaves this module.

The controller uses AMI for what it reports best: seat registrations
(PJSIP contact status), with a full resync on every login.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from panoramisk import Manager

log = logging.getLogger(__name__)

RegistrationHandler = Callable[[str, bool], None]   # (aor, registered)
ResyncHandler = Callable[[set[str]], None]          # every registered aor

_REGISTERED = {"created", "reachable", "updated", "nonqualified", "unknown"}


class AmiClient:
    def __init__(self, site: str, host: str, port: int, user: str, secret: str,
                 on_registration: RegistrationHandler, on_resync: ResyncHandler):
        self.site = site
        self._on_registration = on_registration
        self._on_resync = on_resync
        self.logged_in = asyncio.Event()
        self._manager = Manager(
            host=host, port=port, username=user, secret=secret, ping_delay=5, ping_interval=5,
            reconnect_timeout=1, on_login=self._logged_in, on_disconnect=self._disconnected,
            events="system",   # ContactStatus is all we use: no call events to parse
        )
        self._manager.register_event("ContactStatus", self._contact_status)

    def connect(self) -> None:
        self._manager.connect()

    def close(self) -> None:
        self._manager.close()

    def _logged_in(self, _manager: Manager) -> None:
        log.info("site %s: AMI logged in", self.site)
        self.logged_in.set()
        asyncio.ensure_future(self.resync())

    def _disconnected(self, _manager: Manager, exc: Exception | None) -> None:
        log.warning("site %s: AMI disconnected (%r); panoramisk reconnects", self.site, exc)
        self.logged_in.clear()

    def _contact_status(self, _manager: Manager, message) -> None:
        aor = str(message.get("AOR", ""))
        status = str(message.get("ContactStatus", "")).lower()
        if aor:
            self._on_registration(aor, status in _REGISTERED)

    async def registered_aors(self) -> set[str]:
        replies = await self._manager.send_action({"Action": "PJSIPShowContacts"})
        if not isinstance(replies, list):
            replies = [replies]
        # ObjectName of a registered contact is "<aor>;@<hash>"
        return {str(r.get("ObjectName", "")).split(";@", 1)[0] for r in replies
                if r.get("Event") == "ContactList" and ";@" in str(r.get("ObjectName", ""))}

    async def resync(self) -> None:
        try:
            aors = await asyncio.wait_for(self.registered_aors(), timeout=5)
        except Exception as exc:  # noqa: BLE001 - next login resyncs again
            log.warning("site %s: AMI contact resync failed: %r", self.site, exc)
            return
        self._on_resync(aors)
