"""A citizen's call as data: states, legs, the events that move it and the
commands it asks for. No I/O here; the controller carries commands out.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telephony.calls.transfers import Transfer

# the platform pair: citizen services (12345) and police (110) hand calls to each other
CITIZEN_SERVICE = "12345"
POLICE = "110"
PLATFORMS = (CITIZEN_SERVICE, POLICE)


def other_platform(platform: str) -> str:
    return POLICE if platform == CITIZEN_SERVICE else CITIZEN_SERVICE


class CallState(str, Enum):
    ARRIVED = "arrived"                      # in Stasis, not yet answered
    WAITING = "waiting"                      # waiting for a local seat
    RINGING_SEAT = "ringing_seat"            # a local seat rings with the citizen's number
    CONNECTED = "connected"                  # citizen and seat share a bridge
    TRANSFER_RINGING = "transfer_ringing"    # *1/*8: target rings, agent still with citizen
    BLIND_RINGING = "blind_ringing"          # *1 blind (or agent left): citizen alone, target rings
    THREE_WAY_RINGING = "three_way_ringing"  # *2: invited seat rings
    THREE_WAY = "three_way"                  # citizen + agent + invited seat in one bridge
    HANDED_OVER = "handed_over"              # citizen + target; the agent has left
    DIALING_CITIZEN = "dialing_citizen"      # a callback: the citizen's phone rings
    ENDED = "ended"


# a transfer target (or an invited seat) rings
RINGING_TARGET = (CallState.TRANSFER_RINGING, CallState.BLIND_RINGING,
                  CallState.THREE_WAY_RINGING)


class LegRole(str, Enum):
    CITIZEN = "citizen"
    AGENT = "agent"
    TARGET = "target"


class TransferMode(str, Enum):
    HANDOVER = "handover"      # *1 to the other platform
    THREE_WAY = "three_way"    # *2 invite the other platform
    LINE = "line"              # *8 to the suggested line (119, 120, utilities ...)


@dataclass(frozen=True)
class Leg:
    id: str               # the ARI channel id
    role: LegRole
    seat: str | None = None


@dataclass(frozen=True)
class PendingKey:
    """An agent's "*" waiting for its digit: part of the call, so it survives a takeover."""
    leg_id: str
    at: float


@dataclass(frozen=True)
class Call:
    id: str
    site: str
    platform: str                     # whose work the call is: "12345" or "110"
    citizen_number: str
    citizen_leg: Leg
    order_id: str
    linked_order_id: str              # the other platform's order, used if the case moves
    origin_site: str = ""             # where the citizen first called (首接)
    via_trunk: bool = False           # arrived as a hand-over from the other platform
    blind_transfer: bool = False
    suggested_line: str | None = None  # *8 target, from the routing suggestion
    emergency: bool = False           # the suggestion says so: answered first
    surge_offered: bool = False       # heard the surge menu: 1 FAQ, 2 callback
    callback_requested: bool = False
    faq_menu: tuple[tuple[str, str], ...] = ()   # (entry id, media): the KB answers offered
    faq_heard: int = 0                # answers played so far; the next is faq_heard % len
    faq_choosing: bool = False        # the last answer's choice (helped, 1, 2) is awaited
    faq_helped: bool = False          # the answer was enough: goodbye, no callback owed
    playing: str | None = None        # the playback id of a prompt the citizen hears now
    state: CallState = CallState.ARRIVED
    agent_leg: Leg | None = None      # the local seat leg that answered
    ringing_leg: Leg | None = None    # a local seat leg being rung
    target_leg: Leg | None = None     # the other platform's (or a line's) leg
    transfer_mode: TransferMode | None = None
    reserved_seat: str | None = None  # the agent's seat, kept during a blind transfer
    bridge_id: str | None = None
    attempts: int = 0                 # legs created so far; names new leg ids
    case_taken_by: str | None = None  # platform that agreed to take the case
    pending_key: PendingKey | None = None   # "*" pressed, its digit not yet
    transfer: Transfer | None = None  # the latest transfer or three-way: id, flow, timeout
    on_hold: bool = False             # the citizen hears music; the agent hears nothing
    muted: bool = False               # the agent's voice does not reach the bridge
    callback: bool = False            # placed by us: the citizen was called back

    @property
    def live_legs(self) -> tuple[Leg, ...]:
        legs = (self.citizen_leg, self.agent_leg, self.ringing_leg, self.target_leg)
        return tuple(leg for leg in legs if leg)

    @property
    def bridge_name(self) -> str:
        """The call's one bridge: its id, or the id it gets when first made."""
        return self.bridge_id or f"{self.id}-b"

    def next_leg_id(self, tag: str) -> str:
        return f"{self.id}-{tag}{self.attempts + 1}"


def replace(obj: Any, /, **changes: Any) -> Any:
    """`dataclasses.replace` for the call model's plain frozen dataclasses (no
    `__post_init__`, every field in `__init__`), without the round through `__init__`:
    the machine makes a new Call on nearly every step, and for its 33 fields that round
    was 12 of replace's 14 µs. Any other dataclass goes to `dataclasses.replace`. An
    unknown name is refused, as replace refuses it."""
    names = _PLAIN_FIELDS.get(type(obj))
    if names is None:
        return dataclasses.replace(obj, **changes)
    unknown = changes.keys() - names
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    state = obj.__dict__.copy()
    state.update(changes)
    new = object.__new__(type(obj))
    object.__setattr__(new, "__dict__", state)
    return new


def _plain_fields(cls: type) -> frozenset[str]:
    if hasattr(cls, "__post_init__") or not all(f.init for f in dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__} needs dataclasses.replace (__post_init__ or "
                        "a field outside __init__)")
    return frozenset(f.name for f in dataclasses.fields(cls))


_PLAIN_FIELDS = {cls: _plain_fields(cls) for cls in (Call, Leg, PendingKey)}


def case_keeper(call: Call) -> str:
    """Who keeps the case: the platform that agreed to take it; without agreement the one
    that received the call (首接负责制), and a hand-over no seat here answered stays with
    the platform it came from."""
    first_contact = other_platform(call.platform) if call.via_trunk else call.platform
    return call.case_taken_by or first_contact


# ---- what the legs carry: the linked orders and the incident -------------------------
def incident_header(order_id: str) -> tuple[str, str]:
    return ("Call-Info", f"<urn:hotline-link:incidentid:{order_id}>;purpose=emergency-IncidentId")


def order_headers(call: Call) -> tuple[tuple[str, str], ...]:
    """What a local seat leg carries so the seat sees the linked work order."""
    headers = [("X-Work-Order", call.order_id), ("X-Origin-Site", call.origin_site or call.site)]
    if call.via_trunk and call.linked_order_id:
        headers.append(("X-Linked-Order", call.linked_order_id))
    # one incident across the hand-over: the origin's order names it
    headers.append(incident_header(call.linked_order_id if call.via_trunk else call.order_id))
    return tuple(headers)


def target_headers(call: Call, mode: TransferMode) -> tuple[tuple[str, str], ...]:
    """The other platform works on the linked order; the incident stays the origin's."""
    if mode is TransferMode.LINE:
        return (("X-Work-Order", call.order_id), ("X-Origin-Site", call.origin_site or call.site),
                incident_header(call.order_id))
    return (("X-Work-Order", call.linked_order_id), ("X-Linked-Order", call.order_id),
            ("X-Origin-Site", call.origin_site or call.site), incident_header(call.order_id))


# ---- events: what happened ----------------------------------------------------
@dataclass(frozen=True)
class CitizenEntered:
    """The citizen's channel entered the app. What the site's dialplan already did saves
    Asterisk and us a request each: `answered` the leg, started `music` on it (a citizen
    waiting for a seat), or told a hand-over's origin that it is `ringing`."""
    answered: bool = False
    music: bool = False
    ringing: bool = False


@dataclass(frozen=True)
class SeatOffered:
    """The site's dispatcher reserved `seat` (longest idle) for this call."""
    seat: str


@dataclass(frozen=True)
class NoSeat:
    """No seat can take a hand-over now: tell the origin, so its agent gets the citizen back."""
    reason: str


@dataclass(frozen=True)
class SeatAnswered:
    leg_id: str


@dataclass(frozen=True)
class SeatFailed:
    leg_id: str
    reason: str   # busy / no_answer / unreachable / rejected


@dataclass(frozen=True)
class DigitPressed:
    """One DTMF digit from a leg; "*" then a digit within the window makes a feature key."""
    leg_id: str
    digit: str
    at: float


@dataclass(frozen=True)
class Recovered:
    """A controller adopts the call (after a restart, or taking a site over): `alive` are
    the channels Asterisk kept, `bridged` those in the call's bridge, and `stamped` the
    live legs Asterisk says are this call's (their stamps set at originate). What
    Asterisk says wins over the stored record, which may be a write or two behind."""
    alive: frozenset[str]
    bridged: frozenset[str] = frozenset()
    stamped: tuple[Leg, ...] = ()
    target_mode: str | None = None   # the stamped transfer mode of a bridged target


@dataclass(frozen=True)
class KeyPressed:
    leg_id: str
    key: str      # "*1", "*2", ...


@dataclass(frozen=True)
class TargetAnswered:
    leg_id: str


@dataclass(frozen=True)
class TargetFailed:
    leg_id: str
    reason: str   # busy / no_answer / unreachable / site_down / rejected


@dataclass(frozen=True)
class LegHungUp:
    leg_id: str


@dataclass(frozen=True)
class AgentLost:
    """The agent's leg died abnormally (a network or phone failure by its Q.850 cause),
    as opposed to the agent hanging up."""
    leg_id: str
    reason: str


@dataclass(frozen=True)
class SurgeOffered:
    """Every seat, local and remote, has been busy too long: offer the FAQ or a callback.
    `faq`: the site region's knowledge-base answers, (entry id, media); empty: fixed prompts."""
    faq: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CitizenKey:
    """A digit the citizen pressed (the surge menu's choices)."""
    digit: str


@dataclass(frozen=True)
class SuggestionChanged:
    """The agent's summary changed the routing suggestion: *8's line, emergency."""
    line: str | None
    emergency: bool


@dataclass(frozen=True)
class PositionAnnounce:
    """Tell a waiting caller their place in the line."""
    position: int


@dataclass(frozen=True)
class PlaybackDone:
    playback_id: str


# ---- call control from the desk: hold, mute, a leg hung up, a callback ----------------
@dataclass(frozen=True)
class HoldRequested:
    """Put the citizen on hold (music) or take them off it."""
    on: bool


@dataclass(frozen=True)
class MuteRequested:
    """Mute the agent's voice towards the bridge, or unmute it."""
    on: bool


@dataclass(frozen=True)
class HangupRequested:
    """Hang up one leg by its role; what follows is the machine's usual hang-up of it."""
    role: LegRole


@dataclass(frozen=True)
class CallbackPlaced:
    """A callback call was opened: ring the citizen (then `seat`, or the waiting line)."""
    seat: str | None = None


@dataclass(frozen=True)
class CitizenAnswered:
    """The citizen we called back answered."""
    leg_id: str


@dataclass(frozen=True)
class CitizenUnreached:
    """The citizen we called back did not answer (busy, no answer, unreachable)."""
    leg_id: str
    reason: str


CallEvent = (CitizenEntered | SeatOffered | NoSeat | SeatAnswered | SeatFailed | KeyPressed
             | TargetAnswered | TargetFailed | LegHungUp | AgentLost | SurgeOffered | CitizenKey
             | PositionAnnounce | PlaybackDone | SuggestionChanged | DigitPressed | Recovered
             | HoldRequested | MuteRequested | HangupRequested | CallbackPlaced | CitizenAnswered
             | CitizenUnreached)


# ---- commands: what the controller must do -------------------------------------
@dataclass(frozen=True)
class Answer:
    leg_id: str


@dataclass(frozen=True)
class StartRingback:
    """Music on hold for a citizen who is answered and waiting."""
    leg_id: str


@dataclass(frozen=True)
class StopRingback:
    leg_id: str


@dataclass(frozen=True)
class IndicateRinging:
    """Ringing towards an unanswered leg (a hand-over waiting for a seat)."""
    leg_id: str


@dataclass(frozen=True)
class WaitForSeat:
    """Join the site's waiting line; SeatOffered comes back.

    With `or_fail`, a hand-over that no seat can take now gets NoSeat instead.
    With `first`, the call goes to the head of the line (a citizen whose agent was lost).
    """
    or_fail: str | None = None
    first: bool = False


@dataclass(frozen=True)
class LeaveWaitingLine:
    pass


@dataclass(frozen=True)
class RingSeat:
    """Ring a local seat showing the citizen's number, with the order headers."""
    seat: str
    leg_id: str
    caller_number: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RingTarget:
    """Ring the other platform (or a line) as a new INVITE leg, never a REFER."""
    mode: TransferMode
    leg_id: str
    caller_number: str
    headers: tuple[tuple[str, str], ...] = ()
    line: str | None = None
    timeout_s: int | None = None   # this transfer's own; None: the site's setting


@dataclass(frozen=True)
class RingCitizen:
    """Call the citizen back, showing the hotline's own number (the platform's)."""
    leg_id: str
    citizen_number: str
    caller_number: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HoldLeg:
    """Music on hold for a leg in the bridge (the desk's hold)."""
    leg_id: str


@dataclass(frozen=True)
class UnholdLeg:
    leg_id: str


@dataclass(frozen=True)
class MuteLeg:
    """The leg's voice no longer reaches the bridge (it still hears)."""
    leg_id: str


@dataclass(frozen=True)
class UnmuteLeg:
    leg_id: str


@dataclass(frozen=True)
class BridgeLegs:
    bridge_id: str
    leg_ids: tuple[str, ...]


@dataclass(frozen=True)
class AddToBridge:
    bridge_id: str
    leg_id: str


@dataclass(frozen=True)
class HangupLeg:
    leg_id: str
    reason: str = "normal"


@dataclass(frozen=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True)
class ReleaseSeat:
    seat: str
    failed: bool = False   # a seat that just failed rests a moment before its next call


@dataclass(frozen=True)
class TellAgent:
    """A tone for the agent: the transfer failed or a key was refused."""
    leg_id: str
    sound: str = "beeperr"


@dataclass(frozen=True)
class Play:
    """Prompts for the citizen; PlaybackDone(playback_id) follows."""
    leg_id: str
    media: tuple[str, ...]
    playback_id: str


@dataclass(frozen=True)
class StopPlayback:
    playback_id: str


class Notice(StrEnum):
    """What a Notify tells the order record and live views (the journal's "kind")."""
    CALL_ARRIVED = "call_arrived"
    SEAT_ANSWERED = "seat_answered"
    SEAT_FAILED = "seat_failed"
    HANDOVER_REFUSED = "handover_refused"
    TRANSFER_STARTED = "transfer_started"
    TRANSFER_CANCELLED = "transfer_cancelled"
    TRANSFER_COMPLETED = "transfer_completed"
    TRANSFER_FAILED = "transfer_failed"
    TRANSFER_RELEASED = "transfer_released"   # the agent left a warm transfer early (complete)
    TRANSFER_REFUSED = "transfer_refused"     # an API transfer request the state refused
    THREE_WAY_JOINED = "three_way_joined"
    THREE_WAY_CANCELLED = "three_way_cancelled"
    NEGOTIATED = "negotiated"
    KEY_REFUSED = "key_refused"
    AGENT_LEFT = "agent_left"
    AGENT_LOST = "agent_lost"
    TARGET_LEFT = "target_left"
    CALL_ENDED = "call_ended"
    SURGE_OFFERED = "surge_offered"
    FAQ_PLAYED = "faq_played"
    FAQ_CHOICE = "faq_choice"        # after a KB answer: helped, person or callback
    CALLBACK_REQUESTED = "callback_requested"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    HELD = "held"
    UNHELD = "unheld"
    MUTED = "muted"
    UNMUTED = "unmuted"
    LEG_HANGUP_REQUESTED = "leg_hangup_requested"
    CONTROL_REFUSED = "control_refused"
    CALLBACK_DIALING = "callback_dialing"
    CALLBACK_ANSWERED = "callback_answered"
    CALLBACK_FAILED = "callback_failed"


@dataclass(frozen=True)
class Notify:
    """Something the order record and live views must know."""
    kind: Notice
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finished:
    """The call is over; forget it."""


Command = (Answer | StartRingback | StopRingback | IndicateRinging | WaitForSeat
           | LeaveWaitingLine | RingSeat | RingTarget | BridgeLegs | AddToBridge | HangupLeg
           | DestroyBridge | ReleaseSeat | TellAgent | Play | StopPlayback | Notify | Finished
           | RingCitizen | HoldLeg | UnholdLeg | MuteLeg | UnmuteLeg)


@dataclass(frozen=True)
class Step:
    call: Call
    commands: tuple[Command, ...] = field(default_factory=tuple)
