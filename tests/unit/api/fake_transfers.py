"""The controller's side of `TransferDesk`, in memory, over a FakeDesk's calls: the same
statuses and refusals as telephony/transfers.py (whose own tests run the real machine)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from services.errors import DomainError

LINES = frozenset({"119", "120", "power"})
ENDED = ("completed", "kept", "cancelled", "failed", "ended")


@dataclass
class FakeTransfers:
    desk: Any                                      # tests.unit.api.conftest.FakeDesk
    records_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def get(self, transfer_id: str) -> dict[str, Any] | None:
        record = self.records_by_id.get(transfer_id)
        return dict(record) if record else None

    def records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.records_by_id.values()]

    async def start(self, call_id: str, kind: str, target: str, line: str | None = None,
                    flow: str | None = None, timeout_s: int | None = None) -> dict[str, Any]:
        call = self.desk.call(call_id)
        if call is None:
            raise DomainError("no such call", error_id="call_not_found", status=404)
        running = next((r for r in self.records_by_id.values()
                        if r["call_id"] == call_id and r["status"] not in ENDED), None)
        if running:
            raise DomainError("already running", error_id="transfer_running", status=409,
                              transfer_id=running["transfer_id"])
        if line is not None and line not in LINES:
            raise DomainError("no such line", error_id="unknown_line", status=422)
        transfer_id = f"x{next(self._ids)}"
        self.records_by_id[transfer_id] = {
            "transfer_id": transfer_id, "kind": kind, "call_id": call_id,
            "site": call["site"], "platform": call["platform"], "order_id": None,
            "initiator_seat": call["seat"], "target": {"type": target, "line": line},
            "flow": (flow or "warm") if kind == "transfer" else None, "timeout_s": timeout_s,
            "via": "api", "status": "ringing", "agent_released": flow == "blind",
            "reason": None, "taken_by": None, "created_at": "2026-11-23T01:00:00+00:00",
            "updated_at": "2026-11-23T01:00:00+00:00", "ended_at": None}
        self.requests.append(("start", transfer_id))
        return self.get(transfer_id) or {}

    def _live(self, transfer_id: str) -> dict[str, Any]:
        record = self.records_by_id.get(transfer_id)
        if record is None:
            raise DomainError("no such transfer", error_id="transfer_not_found", status=404)
        if record["status"] in ENDED:
            raise DomainError("ended", error_id="transfer_ended", status=409)
        return record

    def _end(self, record: dict[str, Any], status: str, what: str) -> tuple[dict, bool]:
        record.update(status=status, ended_at="2026-11-23T01:00:05+00:00")
        self.requests.append((what, record["transfer_id"]))
        return dict(record), True

    async def cancel(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        return self._end(self._live(transfer_id), "cancelled", "cancel")

    async def complete(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        record = self._live(transfer_id)
        if record["kind"] == "three_way":
            if record["status"] != "answered":
                raise DomainError("not answered", error_id="action_not_allowed", status=409)
            return self._end(record, "completed", "complete")
        record.update(agent_released=True, flow="blind")
        self.requests.append(("complete", transfer_id))
        return dict(record), True

    async def keep(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        record = self._live(transfer_id)
        if record["kind"] != "three_way" or record["status"] != "answered":
            raise DomainError("not answered", error_id="action_not_allowed", status=409)
        return self._end(record, "kept", "keep")
