"""Per-site counts since start, for the board and Prometheus."""
from __future__ import annotations

from dataclasses import dataclass

from telephony.calls.model import Call, CallEvent, CallState, LegHungUp

ANSWER_TARGET_S = 15.0   # the service level: answered within 15 s
S = CallState


@dataclass
class SiteCounters:
    arrived: int = 0
    answered: int = 0
    answered_in_target: int = 0
    abandoned: int = 0
    overflowed: int = 0

    def count(self, before: Call, call: Call, event: CallEvent, since_arrival: float
              ) -> float | None:
        """Count one step of a call; returns how long an abandoning citizen waited."""
        if call.via_trunk or call.callback:   # neither is a citizen arriving here
            return None
        if before.state is S.RINGING_SEAT and call.state is S.CONNECTED \
                and before.attempts == call.attempts and not before.agent_leg:
            self.answered += 1
            if since_arrival <= ANSWER_TARGET_S:
                self.answered_in_target += 1
        if (call.state is S.ENDED and before.state in (S.WAITING, S.RINGING_SEAT)
                and isinstance(event, LegHungUp) and event.leg_id == call.citizen_leg.id
                and not (call.callback_requested or call.faq_helped)):
            self.abandoned += 1
            return since_arrival
        return None
