"""What the API needs from the call controller, as plain data.

The controller implements `CallDesk`; the API never sees a Call, a leg or an
ARI type. Reads are synchronous (the controller answers from memory); writes
are coroutines so an implementation may talk to Asterisk or Redis.
"""
from __future__ import annotations

from typing import Any, Protocol

# key each call action posts, as a softphone would send it (telephony/calls/machine.py)
ACTION_KEYS = {
    "transfer": "*1",         # hand over to the other platform
    "three_way": "*2",        # invite the other platform into a three-way call
    "hand_over": "*3",        # in a three-way call: the other platform takes the case
    "keep": "*4",             # in a three-way call: this platform keeps the case
    "cancel": "*0",           # cancel a ringing transfer or three-way invitation
    "suggested_line": "*8",   # transfer to the routing suggestion's line
}


class CallDesk(Protocol):
    """The controller's calls, seats and overflow switch, as the API sees them.

    A call is a dict with at least `call_id`, `site`, `platform` ("12345"/"110"),
    `state`, `citizen_number` (whole; the API masks it), `order_id`,
    `linked_order_id` and `seat` (the seat answering it, or None); it may add
    `origin_site`, `via_trunk`, `transfer_mode`, `suggested_line`.
    A seat is a dict with `site`, `seat`, `state` and `registered`.
    """

    def calls(self) -> list[dict[str, Any]]: ...

    def call(self, call_id: str) -> dict[str, Any] | None: ...

    async def press(self, call_id: str, key: str) -> bool:
        """Post `key` as the call's agent would press it; False if the call cannot take a key
        (gone, or nobody answering). The machine may still refuse the key: that arrives on
        the event stream as `key_refused`."""
        ...

    async def summary_changed(self, call_id: str, summary: str, *,
                              actor: str = "api") -> dict[str, Any] | None:
        """The agent's summary of the call: re-suggest the line and record it on the order.
        Returns {"call_id", "changed", "suggestion"}; None if the call is gone."""
        ...

    def seats(self) -> list[dict[str, Any]]: ...

    async def pause(self, site: str, seat: str) -> dict[str, Any] | None:
        """Pause a seat (it gets no new calls); the seat after the change, None if unknown."""
        ...

    async def resume(self, site: str, seat: str) -> dict[str, Any] | None: ...

    def overflow(self) -> dict[str, bool]:
        """Per site: whether calls overflow to the site's remote partner now."""
        ...

    def overflow_status(self) -> dict[str, dict[str, Any]]:
        """Per site: `to`, `active`, `why`, `forced` (True/False/None) and its `reason`."""
        ...

    async def set_overflow(self, site: str, enabled: bool | None, *, actor: str = "api",
                           reason: str = "") -> bool:
        """Force a site's overflow on/off, or None for automatic (`actor` and `reason` for
        its audit); False if the site is unknown or has no overflow partner."""
        ...

    # ---- call control (services/api/control_endpoints.py) ------------------------------
    async def control(self, call_id: str, name: str) -> bool:
        """Post a control to the call: `hold`, `unhold`, `mute`, `unmute`, `hangup_agent`,
        `hangup_target` or `hangup_citizen`. False if the call is gone. The call's
        `allowed_controls` lists those its state accepts now."""
        ...

    async def place_callback(self, site: str, order_id: str, number: str,
                             seat: str | None) -> dict[str, Any]:
        """Ring `number` about `order_id` from `site`, showing the site's service number;
        `seat` (free now, or None: the site's next free seat) answers once the citizen does.
        Returns the new call; raises a DomainError (404 site or seat, 409 seat busy)."""
        ...

    def queue(self, site: str) -> dict[str, Any] | None:
        """`site`'s waiting calls, head first, each with `call_id`, `position`, `wait_s`,
        `priority` and `emergency`; its `seats` as in seats(); None for an unknown site."""
        ...
