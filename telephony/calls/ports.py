"""The boundary between call control and a site's switch.

Call control is told what happened as *signals* (a call arrived, a leg answered,
a digit, a leg gone with why), and asks the switch to act, naming *destinations*
(a seat, the other platform, a line) rather than dial strings. The ARI adapter
(telephony/ari/calls.py) implements both sides for Asterisk; unit tests use fakes.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from telephony.calls.model import (
    AddToBridge,
    Answer,
    BridgeLegs,
    Call,
    DestroyBridge,
    HangupLeg,
    HoldLeg,
    IndicateRinging,
    Leg,
    LegRole,
    MuteLeg,
    Notice,
    StartRingback,
    StopPlayback,
    StopRingback,
    TransferMode,
    UnholdLeg,
    UnmuteLeg,
    other_platform,
)


class SwitchError(Exception):
    """The switch refused or could not be reached."""


# ---- destinations: where a new leg goes --------------------------------------------
@dataclass(frozen=True)
class SeatAt:
    """A seat of `site`, rung for a call at `from_site` (over the trunk when they differ)."""
    seat: str
    site: str
    from_site: str


@dataclass(frozen=True)
class OtherPlatform:
    """The other platform's service number, over the trunk from `from_site` (*1, *2)."""
    from_site: str


@dataclass(frozen=True)
class LineOut:
    """A public line (119, 120, utilities ...), for *8."""
    line: str | None


@dataclass(frozen=True)
class CitizenAt:
    """A citizen's own phone, through the site's PSTN gateway (a callback)."""
    number: str


Destination = SeatAt | OtherPlatform | LineOut | CitizenAt


@dataclass(frozen=True)
class TransferTargets:
    """Where a site's keys send calls, and whether that place is up."""

    handover: Mapping[str, str]      # site -> the other platform's site (*1, *2)
    site_up: Callable[[str], bool]
    timeout_s: int = 20
    blind: bool = False

    def resolve(self, site: str, mode: TransferMode,
                line: str | None) -> tuple[str | None, Destination]:
        """The site the new leg goes to (None: a line, not ours) and its destination."""
        if mode is TransferMode.LINE:
            return None, LineOut(line)
        return self.handover[site], OtherPlatform(site)


# ---- signals: what the switch tells call control -----------------------------------
@dataclass(frozen=True)
class CallArrived:
    """A citizen (or, via_trunk, a hand-over from the other platform) entered the app,
    with what it brought (each already checked; None when absent or bad)."""
    leg_id: str
    caller_number: str
    via_trunk: bool
    work_order: str | None = None      # a hand-over's: the order the origin opened for us
    linked_order: str | None = None    # a hand-over's: the origin's own order
    origin_site: str | None = None
    ivr_choice: str | None = None      # a citizen's choice in the gateway IVR
    answered: bool = False             # the site answered the leg before handing it to us
    music: bool = False                # ... and started waiting music on it
    ringing: bool = False              # ... or told the caller's side that it rings

    def new_call(self, call_id: str, site: str, platform: str,
                 new_order_id: Callable[[str], str], blind_transfer: bool) -> Call:
        return Call(
            id=call_id, site=site, platform=platform, citizen_number=self.caller_number,
            citizen_leg=Leg(self.leg_id, LegRole.CITIZEN),
            order_id=self.work_order or new_order_id(platform),
            linked_order_id=self.linked_order or new_order_id(other_platform(platform)),
            origin_site=self.origin_site or site, via_trunk=self.via_trunk,
            blind_transfer=blind_transfer)


@dataclass(frozen=True)
class LegAnswered:
    """A leg we rang for `call_id` answered: a seat, a transfer target, or the citizen we
    called back."""
    leg_id: str
    call_id: str
    role: Literal["seat", "target", "callback"]


@dataclass(frozen=True)
class StrayLeg:
    """A leg entered that belongs to nothing we know: it is hung up."""
    leg_id: str
    why: str


@dataclass(frozen=True)
class LegLeft:
    """A leg left the app (its channel may still exist for a moment)."""
    leg_id: str


@dataclass(frozen=True)
class LegGone:
    """A leg's channel is gone. `unanswered` says why a ringing leg did not answer;
    `lost` why an answered leg was lost (None: hung up the usual way)."""
    leg_id: str
    cause: int
    unanswered: str
    lost: str | None


@dataclass(frozen=True)
class DigitReceived:
    leg_id: str
    digit: str


@dataclass(frozen=True)
class PromptFinished:
    playback_id: str
    leg_id: str


# ---- what Asterisk holds: a controller taking a site over trusts this ----------------
@dataclass(frozen=True)
class LegStamp:
    """What a leg we originate carries in the switch itself (channel variables set with
    the originate), so whoever holds the site next learns from the switch whose leg it
    is, in what role, even if the call's stored record is older than the truth."""
    call_id: str
    role: Literal["seat", "target"]
    seat: str | None = None
    mode: str | None = None              # a target's transfer mode
    orders: tuple[str, ...] = ()         # the call's order and linked order

    def as_leg(self, leg_id: str) -> Leg:
        role = LegRole.AGENT if self.role == "seat" else LegRole.TARGET
        return Leg(leg_id, role, self.seat)


@dataclass(frozen=True)
class Caller:
    """What the switch tells of a citizen's leg: the number, and whether it came over
    the trunk (a hand-over from the other platform)."""
    number: str
    via_trunk: bool


@dataclass(frozen=True)
class SwitchSnapshot:
    """A site's switch as it is: live channels, who is in which bridge, and the stamps."""
    alive: frozenset[str]
    bridges: Mapping[str, frozenset[str]]    # bridge id -> the channels in it
    stamps: Mapping[str, LegStamp]           # channel id -> its stamp
    callers: Mapping[str, Caller] = field(default_factory=dict)   # channel id -> caller

    def unstored_calls(self, known: set[str]) -> dict[str, tuple[str, LegStamp]]:
        """Calls the switch holds in a bridge that no stored record names (every write of
        them failed): call id -> (the unstamped leg in its bridge, a stamp of it)."""
        found: dict[str, tuple[str, LegStamp]] = {}
        for leg_id, stamp in self.stamps.items():
            members = self.bridges.get(f"{stamp.call_id}-b", frozenset())
            if stamp.call_id in known or stamp.call_id in found or leg_id not in members:
                continue
            citizen = [m for m in members if m not in self.stamps and m in self.callers]
            if len(citizen) == 1 and len(stamp.orders) == 2:
                found[stamp.call_id] = (citizen[0], stamp)
        return found

    def legs_of(self, call_id: str) -> tuple[Leg, ...]:
        """The live legs the switch says belong to `call_id`."""
        return tuple(stamp.as_leg(leg_id) for leg_id, stamp in self.stamps.items()
                     if stamp.call_id == call_id and leg_id in self.alive)

    def mode_of(self, leg_id: str) -> str | None:
        stamp = self.stamps.get(leg_id)
        return stamp.mode if stamp else None


Signal = (CallArrived | LegAnswered | StrayLeg | LegLeft | LegGone | DigitReceived
          | PromptFinished)


class Switch(Protocol):
    async def answer(self, channel_id: str) -> None: ...
    async def start_ringback(self, channel_id: str) -> None: ...
    async def stop_ringback(self, channel_id: str) -> None: ...
    async def ring(self, destination: Destination, channel_id: str, caller_number: str,
                   headers: tuple[tuple[str, str], ...], app_args: str, timeout_s: int,
                   stamp: LegStamp | None = None, urgent: bool = False) -> None:
        """Originate a leg; `stamp` is set on the new channel, for a later takeover.
        `urgent`: somebody is waiting on this very leg (a hand-over's), so it must not
        queue behind the switch's other requests."""
    async def indicate_ringing(self, channel_id: str) -> None: ...
    async def bridge(self, bridge_id: str, channel_ids: tuple[str, ...]) -> None: ...
    async def add_to_bridge(self, bridge_id: str, channel_id: str) -> None: ...
    async def play(self, channel_id: str, media: str, playback_id: str | None = None) -> None: ...
    async def stop_playback(self, playback_id: str) -> None: ...
    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...
    async def destroy_bridge(self, bridge_id: str) -> None: ...
    async def header(self, channel_id: str, name: str) -> str | None: ...
    async def hold(self, channel_id: str) -> None:
        """Music on hold for a leg, in the bridge or not."""
    async def unhold(self, channel_id: str) -> None: ...
    async def mute(self, channel_id: str) -> None:
        """The leg's voice no longer reaches the others; it still hears them."""
    async def unmute(self, channel_id: str) -> None: ...
    async def snapshot(self) -> SwitchSnapshot: ...


# the commands that are one request to the switch, as that request
SWITCH_REQUESTS: dict[type, Callable[[Switch, Any], Awaitable[None]]] = {
    Answer: lambda switch, c: switch.answer(c.leg_id),
    AddToBridge: lambda switch, c: switch.add_to_bridge(c.bridge_id, c.leg_id),
    BridgeLegs: lambda switch, c: switch.bridge(c.bridge_id, c.leg_ids),
    HangupLeg: lambda switch, c: switch.hangup(c.leg_id, c.reason),
    DestroyBridge: lambda switch, c: switch.destroy_bridge(c.bridge_id),
    StopPlayback: lambda switch, c: switch.stop_playback(c.playback_id),
    StartRingback: lambda switch, c: switch.start_ringback(c.leg_id),
    StopRingback: lambda switch, c: switch.stop_ringback(c.leg_id),
    IndicateRinging: lambda switch, c: switch.indicate_ringing(c.leg_id),
    HoldLeg: lambda switch, c: switch.hold(c.leg_id),
    UnholdLeg: lambda switch, c: switch.unhold(c.leg_id),
    MuteLeg: lambda switch, c: switch.mute(c.leg_id),
    UnmuteLeg: lambda switch, c: switch.unmute(c.leg_id),
}


class CallObserver:
    """Told of what calls do: the order record and live views listen here."""

    def call_opened(self, call: Call) -> None:
        pass

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        pass


class LeasedSwitch:
    """A site's switch that acts only while this controller holds the site's lease:
    the guard every command passes (no lease, no command). A controller that lost the
    site gets a SwitchError for each request instead of touching a call it no longer
    owns; the call's own runner logs it and goes no further."""

    def __init__(self, switch: Switch, site: str, holds: Callable[[str], bool]):
        self._switch = switch
        self._site = site
        self._holds = holds
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        request = getattr(self._switch, name)

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if not self._holds(self._site):
                self.refused += 1
                raise SwitchError(f"site {self._site}: lease not held, {name} not sent")
            return await request(*args, **kwargs)
        return guarded
