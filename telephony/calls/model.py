"""A citizen's call as data: states, legs, the events that move it and the
commands it asks for. No I/O here; the controller carries commands out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class CallState(str, Enum):
    ARRIVED = "arrived"            # in Stasis, not yet answered
    WAITING = "waiting"            # answered, hearing ringback, waiting for a seat
    RINGING_SEAT = "ringing_seat"  # a seat is being rung with the citizen's number
    CONNECTED = "connected"        # citizen and seat share a bridge
    ENDED = "ended"


class LegRole(str, Enum):
    CITIZEN = "citizen"
    AGENT = "agent"


@dataclass(frozen=True)
class Leg:
    id: str               # the ARI channel id
    role: LegRole
    seat: str | None = None


@dataclass(frozen=True)
class Call:
    id: str
    site: str
    citizen_number: str
    citizen_leg: Leg
    order_id: str
    state: CallState = CallState.ARRIVED
    agent_leg: Leg | None = None      # the seat leg that answered
    ringing_leg: Leg | None = None    # a seat leg being rung
    bridge_id: str | None = None
    attempts: int = 0                 # seat legs tried so far; names new leg ids

    @property
    def live_legs(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in (self.citizen_leg, self.agent_leg, self.ringing_leg) if leg)


# ---- events: what happened ----------------------------------------------------
@dataclass(frozen=True)
class CitizenEntered:
    """The citizen's channel entered the app."""


@dataclass(frozen=True)
class SeatOffered:
    """The site's dispatcher reserved `seat` (longest idle) for this call."""
    seat: str


@dataclass(frozen=True)
class SeatAnswered:
    leg_id: str


@dataclass(frozen=True)
class SeatFailed:
    leg_id: str
    reason: str   # busy / no_answer / unreachable / error


@dataclass(frozen=True)
class LegHungUp:
    leg_id: str


CallEvent = CitizenEntered | SeatOffered | SeatAnswered | SeatFailed | LegHungUp


# ---- commands: what the controller must do -------------------------------------
@dataclass(frozen=True)
class Answer:
    leg_id: str


@dataclass(frozen=True)
class StartRingback:
    leg_id: str


@dataclass(frozen=True)
class StopRingback:
    leg_id: str


@dataclass(frozen=True)
class WaitForSeat:
    """Join the site's waiting line; a SeatOffered event comes back."""


@dataclass(frozen=True)
class LeaveWaitingLine:
    pass


@dataclass(frozen=True)
class RingSeat:
    """Ring the seat showing the citizen's number, with the order headers."""
    seat: str
    leg_id: str
    caller_number: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BridgeLegs:
    bridge_id: str
    leg_ids: tuple[str, ...]


@dataclass(frozen=True)
class HangupLeg:
    leg_id: str


@dataclass(frozen=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True)
class ReleaseSeat:
    seat: str
    failed: bool = False   # a seat that just failed waits a moment before its next call


@dataclass(frozen=True)
class Finished:
    """The call is over; forget it."""


Command = (Answer | StartRingback | StopRingback | WaitForSeat | LeaveWaitingLine | RingSeat
           | BridgeLegs | HangupLeg | DestroyBridge | ReleaseSeat | Finished)


@dataclass(frozen=True)
class Step:
    call: Call
    commands: tuple[Command, ...] = field(default_factory=tuple)
