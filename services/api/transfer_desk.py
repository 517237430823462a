"""What the API needs from the controller for transfers and three-ways, as plain data.

The controller implements `TransferDesk` (telephony/transfers.py); the API never sees a
call's machine. A transfer record is a dict:

- `transfer_id`, `kind` (`transfer` or `three_way`), `call_id`, `site`, `platform`,
  `order_id`, `initiator_seat`, `via` (`key`: *1, *2, *8 on a softphone or a desk button;
  `api`: `POST /transfers` or `/three-ways`);
- `target`: `{"type": "platform" | "line", "line"}`; `flow` (`warm`, `blind`; None for a
  three-way) and `timeout_s` (None: the site's setting);
- `status`: `ringing` → `completed` | `cancelled` | `failed` (with `reason`: busy,
  no_answer, unreachable, site_down, rejected) | `ended` (`reason`: call_ended,
  target_left, agent_left); a three-way goes `ringing` → `answered` → `completed` (*3: the
  invited platform takes the case) | `kept` (*4) | `cancelled` (*0) | `ended`;
- `agent_released`, `taken_by`, `created_at`, `updated_at`, `ended_at`.

Every refusal is a `services.errors.DomainError` (404 unknown, 409 the call's state
refuses it, 422 a bad target), which the API answers as JSON.
"""
from __future__ import annotations

from typing import Any, Protocol


class TransferDesk(Protocol):
    def get(self, transfer_id: str) -> dict[str, Any] | None:
        """A record, live or ended not long ago; None if unknown or forgotten."""
        ...

    def records(self) -> list[dict[str, Any]]:
        """Every record kept now, oldest first."""
        ...

    async def start(self, call_id: str, kind: str, target: str, line: str | None = None,
                    flow: str | None = None, timeout_s: int | None = None) -> dict[str, Any]:
        """Ring `target` for the call's agent (`kind`: transfer or three_way); the record
        once the call's machine took it (status `ringing`)."""
        ...

    async def cancel(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        """Call off a ringing target or drop a three-way's invited party: the record, and
        whether the change was seen within the wait (else it follows as an event)."""
        ...

    async def complete(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        """A warm transfer: release the agent now; a three-way: hand over (*3)."""
        ...

    async def keep(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        """A three-way: the invited party leaves, the case stays here (*4)."""
        ...
