"""Call control's side of ARI: Asterisk events in as signals, destinations out as
dial strings. The only place that knows Stasis arguments, Q.850 causes and PJSIP.

    raw ARI JSON -> parse_event -> to_signal -> CallController.on_signal
    RingTarget/RingSeat -> AriSwitch.ring(destination) -> Dialer -> POST /channels
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from telephony.ari.client import AriClient, AriError
from telephony.calls.ports import (
    CallArrived,
    CitizenAt,
    Destination,
    DigitReceived,
    LegAnswered,
    LegGone,
    LegLeft,
    LegStamp,
    LineOut,
    OtherPlatform,
    PromptFinished,
    SeatAt,
    Signal,
    Caller,
    StrayLeg,
    SwitchError,
    SwitchSnapshot,
)
from telephony.sip_rules import UnsafeDialString, check_endpoint, clean_header
from telephony.supervision import SupervisionLeg
from telephony.sip_rules import caller_number as digits_only

log = logging.getLogger("hotline.ari")


# ---- ARI event JSON -> typed dataclasses ------------------------------------------
# Only the events call control needs are typed; others parse to None and are
# ignored. A malformed event raises `MalformedEvent` with what was wrong.
class MalformedEvent(ValueError):
    pass


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str
    caller_name: str
    exten: str

    @property
    def technology_endpoint(self) -> str:
        """`PJSIP/1001-00000003` -> `1001`."""
        base = self.name.split("/", 1)[-1]
        return base.rsplit("-", 1)[0]


@dataclass(frozen=True)
class StasisStart:
    channel: Channel
    args: tuple[str, ...]


@dataclass(frozen=True)
class StasisEnd:
    channel: Channel


@dataclass(frozen=True)
class ChannelDestroyed:
    channel: Channel
    cause: int
    cause_txt: str


@dataclass(frozen=True)
class ChannelDtmfReceived:
    channel: Channel
    digit: str


@dataclass(frozen=True)
class ChannelStateChange:
    channel: Channel


@dataclass(frozen=True)
class Dial:
    peer: Channel
    dialstatus: str


@dataclass(frozen=True)
class PlaybackFinished:
    playback_id: str
    channel_id: str | None   # None when the target is not a channel


AriEvent = (StasisStart | StasisEnd | ChannelDestroyed | ChannelDtmfReceived | ChannelStateChange
            | Dial | PlaybackFinished)


def _channel(raw: object) -> Channel:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise MalformedEvent("channel without an id")
    caller = raw.get("caller") or {}
    dialplan = raw.get("dialplan") or {}
    return Channel(
        id=raw["id"],
        name=str(raw.get("name", "")),
        state=str(raw.get("state", "")),
        caller_number=str(caller.get("number", "") if isinstance(caller, dict) else ""),
        caller_name=str(caller.get("name", "") if isinstance(caller, dict) else ""),
        exten=str(dialplan.get("exten", "") if isinstance(dialplan, dict) else ""),
    )


# what call control acts on; Asterisk is asked to send only these (see AriEvents).
# StasisEnd stays: a leg that entered Stasis and then hangs up leaves the app first, and
# its ChannelDestroyed is no longer sent to us (without StasisEnd, the capacity bench's
# citizens hung up and 520 agent legs stayed up)
CONTROLLER_EVENTS = ("StasisStart", "StasisEnd", "ChannelDestroyed", "ChannelDtmfReceived",
                     "PlaybackFinished")


def parse_event(raw: dict) -> AriEvent | None:
    kind = raw.get("type")
    try:
        if kind == "StasisStart":
            args = raw.get("args") or []
            if not isinstance(args, list):
                raise MalformedEvent("StasisStart args is not a list")
            return StasisStart(_channel(raw.get("channel")), tuple(str(a) for a in args))
        if kind == "StasisEnd":
            return StasisEnd(_channel(raw.get("channel")))
        if kind == "ChannelDestroyed":
            return ChannelDestroyed(_channel(raw.get("channel")), int(raw.get("cause", 0)),
                                    str(raw.get("cause_txt", "")))
        if kind == "ChannelDtmfReceived":
            digit = raw.get("digit")
            if not isinstance(digit, str) or len(digit) != 1:
                raise MalformedEvent(f"bad DTMF digit {digit!r}")
            return ChannelDtmfReceived(_channel(raw.get("channel")), digit)
        if kind == "ChannelStateChange":
            return ChannelStateChange(_channel(raw.get("channel")))
        if kind == "Dial":
            return Dial(_channel(raw.get("peer")), str(raw.get("dialstatus", "")))
        if kind == "PlaybackFinished":
            playback = raw.get("playback")
            if not isinstance(playback, dict) or not isinstance(playback.get("id"), str):
                raise MalformedEvent("PlaybackFinished without a playback id")
            target = str(playback.get("target_uri", ""))
            channel = target.removeprefix("channel:") if target.startswith("channel:") else None
            return PlaybackFinished(playback["id"], channel)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, MalformedEvent):
            raise
        raise MalformedEvent(f"{kind}: {exc}") from exc
    return None

# ---- Q.850 causes ------------------------------------------------------------------
# of an unanswered leg -> why the seat did not take the call
_UNANSWERED = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}
# of a leg ending the usual way: a hang-up (16), or no cause known
_NORMAL_CLEARING = {0, 16, 31}
_LOST = {27: "out_of_order", 38: "network_failure", 41: "temporary_failure",
         42: "congestion", 102: "timer_expired", 127: "interworking"}


def failure_reason(cause: int) -> str:
    return _UNANSWERED.get(cause, "unreachable")


def lost_reason(cause: int) -> str | None:
    """Why an answered leg was lost, or None when it was hung up the usual way."""
    if cause in _NORMAL_CLEARING or cause in _UNANSWERED:
        return None
    return _LOST.get(cause, f"cause_{cause}")


# ---- events in ----------------------------------------------------------------------
# what each Stasis argument after the second carries, by how the call came in
_TRUNK_HEADERS = ("X-Work-Order", "X-Linked-Order", "X-Origin-Site")
_CITIZEN_HEADERS = ("X-IVR-Choice",)
MUSIC_STARTED = "music"     # the dialplan's StartMusicOnHold() ran before Stasis()
RINGING_SENT = "ringing"    # the dialplan's Ringing() ran before Stasis()


def _arrival(event: StasisStart) -> CallArrived:
    """The dialplan passes what the call brings as Stasis arguments: for a hand-over the
    orders and origin the first platform set, for a citizen the gateway IVR's choice (no
    ARI round trip while events wait). Each is checked again: a value that breaks its
    rule is dropped. After them come what the dialplan already did: `music` (a citizen
    hears the waiting music), `ringing` (a hand-over's origin was told it rings)."""
    via_trunk = event.args[0] == "trunk"
    names = _TRUNK_HEADERS if via_trunk else _CITIZEN_HEADERS
    extra = [arg or None for arg in event.args[2:2 + len(names)]]
    flags = set(event.args[2 + len(names):])
    headers = {name: clean_header(name, value)
               for name, value in zip(names, extra + [None] * len(names))}
    return CallArrived(event.channel.id, digits_only(event.channel.caller_number), via_trunk,
                       work_order=headers.get("X-Work-Order"),
                       linked_order=headers.get("X-Linked-Order"),
                       origin_site=headers.get("X-Origin-Site"),
                       ivr_choice=headers.get("X-IVR-Choice"),
                       answered=event.channel.state == "Up",
                       music=not via_trunk and MUSIC_STARTED in flags,
                       ringing=via_trunk and RINGING_SENT in flags)


def _entered(event: StasisStart) -> Signal | SupervisionLeg:
    kind = event.args[0] if event.args else ""
    if kind in ("citizen", "trunk"):
        return _arrival(event)
    if kind in ("seat", "target", "callback") and len(event.args) > 1:
        role = "seat" if kind == "seat" else "target" if kind == "target" else "callback"
        return LegAnswered(event.channel.id, event.args[1], role)
    if kind == "supervision" and len(event.args) > 1:   # not call control's: see app.py
        part = "snoop" if event.args[2:3] == ("snoop",) else "supervisor"
        return SupervisionLeg(event.channel.id, event.args[1], part)
    return StrayLeg(event.channel.id, f"entered with unknown args {event.args!r}")


def to_signal(event: AriEvent) -> Signal | SupervisionLeg | None:
    """A typed ARI event as what it means to call control (None: not call control's)."""
    match event:
        case StasisStart():
            return _entered(event)
        case StasisEnd(channel):
            return LegLeft(channel.id)
        case ChannelDtmfReceived(channel, digit):
            return DigitReceived(channel.id, digit)
        case PlaybackFinished(playback_id, channel_id) if channel_id:
            return PromptFinished(playback_id, channel_id)
        case ChannelDestroyed(channel, cause):
            return LegGone(channel.id, cause, failure_reason(cause), lost_reason(cause))
    return None


def signal_handler(site: str, on_signal: Callable[[str, Signal | SupervisionLeg], Awaitable[None]]
                   ) -> Callable[[dict], Awaitable[None]]:
    """What a site's events socket calls with each raw event."""
    async def handle(raw: dict) -> None:
        try:
            event = parse_event(raw)
        except MalformedEvent as exc:
            log.error("site %s: malformed ARI event dropped: %s", site, exc)
            return
        signal = to_signal(event) if event is not None else None
        if signal is not None:
            await on_signal(site, signal)
    return handle


# ---- destinations out -------------------------------------------------------------------
@dataclass(frozen=True)
class Dialer:
    """Destinations as PJSIP dial strings; never a string the caller wrote."""

    handover: Mapping[str, str]          # site -> the other platform's "number@trunk"
    lines: frozenset[str] | None = None  # the configured lines (None: not checked)

    def dial_string(self, destination: Destination) -> str:
        match destination:
            case SeatAt(seat, site, from_site):
                # a remote seat is rung over the trunk to its site
                return f"PJSIP/{seat}" if site == from_site else f"PJSIP/{seat}@trunk-{site}"
            case OtherPlatform(from_site):
                return f"PJSIP/{self.handover[from_site]}"
            case LineOut(line):
                if not line or (self.lines is not None and line not in self.lines):
                    raise UnsafeDialString(f"no configured line {line!r}")
                return f"PJSIP/line-{line}"
            case CitizenAt(number):
                # a callback, through the PSTN gateway: digits only ("+" as the "00" prefix)
                digits = "00" + number[1:] if number.startswith("+") else number
                if not digits.isascii() or not digits.isdigit() or not 3 <= len(digits) <= 32:
                    raise UnsafeDialString(f"not a number to call back: {number!r}")
                return f"PJSIP/{digits}@citizen-gw"
        raise UnsafeDialString(f"unknown destination {destination!r}")


CALL_BRIDGE_TYPE = "mixing,dtmf_events"


class AriSwitch:
    """The `Switch` port over one site's ARI."""

    def __init__(self, client: AriClient, app: str, dialer: Dialer):
        self._ari = client
        self._app = app
        self._dialer = dialer

    async def _do(self, coro):
        try:
            return await coro
        except AriError as exc:
            raise SwitchError(str(exc)) from exc

    async def answer(self, channel_id: str) -> None:
        await self._do(self._ari.answer(channel_id))

    async def start_ringback(self, channel_id: str) -> None:
        # music on hold rather than in-band ring: a long wait should not sound unanswered
        await self._do(self._ari.start_moh(channel_id))

    async def stop_ringback(self, channel_id: str) -> None:
        try:
            await self._ari.stop_moh(channel_id)
        except AriError as exc:
            if exc.status not in (404, 409):
                raise SwitchError(str(exc)) from exc

    async def ring(self, destination: Destination, channel_id: str, caller_number: str,
                   headers: tuple[tuple[str, str], ...], app_args: str, timeout_s: int,
                   stamp: LegStamp | None = None, urgent: bool = False) -> None:
        # the last gate before Asterisk: one endpoint we configured, a number of digits
        try:
            endpoint = check_endpoint(self._dialer.dial_string(destination))
        except UnsafeDialString as exc:
            raise SwitchError(str(exc)) from exc
        number = digits_only(caller_number)
        variables = {f"PJSIP_HEADER(add,{name})": value for name, value in headers}
        if stamp is not None:
            variables.update(stamp_variables(stamp))
        caller_id = f'"{number}" <{number}>' if number else ""
        await self._do(self._ari.originate(
            endpoint, app=self._app, app_args=app_args, caller_id=caller_id,
            channel_id=channel_id, timeout_s=timeout_s, variables=variables, urgent=urgent))

    async def bridge(self, bridge_id: str, channel_ids: tuple[str, ...]) -> None:
        # dtmf_events: the bridge decodes media in Asterisk, so RFC 2833 keys reach us as
        # events; a plain mixing bridge of two RTP legs forwards packets natively and its
        # keys never reach the core. (An audio hook on the seat's leg, talk detection, did
        # the same before, at the cost of a DSP pass over every frame of every call.)
        await self._do(self._ari.create_bridge(bridge_id, kind=CALL_BRIDGE_TYPE))
        await self._do(self._ari.add_to_bridge(bridge_id, *channel_ids))

    async def indicate_ringing(self, channel_id: str) -> None:
        await self._do(self._ari.ring(channel_id))

    async def add_to_bridge(self, bridge_id: str, channel_id: str) -> None:
        await self._do(self._ari.add_to_bridge(bridge_id, channel_id))

    async def play(self, channel_id: str, media: str, playback_id: str | None = None) -> None:
        await self._do(self._ari.play(channel_id, media, playback_id))

    async def stop_playback(self, playback_id: str) -> None:
        await self._do(self._ari.stop_playback(playback_id))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._do(self._ari.hangup(channel_id, reason))

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._do(self._ari.destroy_bridge(bridge_id))

    async def hold(self, channel_id: str) -> None:
        # music on the citizen's own leg: in the bridge, the agent does not hear it
        await self._do(self._ari.start_moh(channel_id))

    async def unhold(self, channel_id: str) -> None:
        await self.stop_ringback(channel_id)   # a leg already gone (404) or not held is fine

    async def mute(self, channel_id: str) -> None:
        # "in": what the leg sends (the agent's voice); the agent still hears the call
        await self._do(self._ari.mute(channel_id, "in"))

    async def unmute(self, channel_id: str) -> None:
        await self._do(self._ari.unmute(channel_id, "in"))

    async def header(self, channel_id: str, name: str) -> str | None:
        return await self._do(self._ari.get_variable(channel_id, f"PJSIP_HEADER(read,{name})"))

    async def snapshot(self) -> SwitchSnapshot:
        """Channels (with their stamps, which ari.conf's `channelvars` puts in each
        channel's JSON) and bridges: two requests."""
        channels = await self._do(self._ari.channels())
        bridges = await self._do(self._ari.bridges())
        return snapshot_of(channels, bridges)


# ---- stamps: whose leg a channel is, kept in Asterisk -----------------------------------
STAMP_VARIABLES = ("HOTLINE_CALL", "HOTLINE_ROLE", "HOTLINE_SEAT", "HOTLINE_MODE",
                   "HOTLINE_ORDERS")


def stamp_variables(stamp: LegStamp) -> dict[str, str]:
    return {"HOTLINE_CALL": stamp.call_id, "HOTLINE_ROLE": stamp.role,
            "HOTLINE_SEAT": stamp.seat or "", "HOTLINE_MODE": stamp.mode or "",
            "HOTLINE_ORDERS": ",".join(stamp.orders)}


def stamp_of(variables: object) -> LegStamp | None:
    """A channel's stamp from its `channelvars`; None when it has none (a citizen's leg)
    or it does not read as ours."""
    if not isinstance(variables, dict):
        return None
    call_id, role = str(variables.get("HOTLINE_CALL") or ""), variables.get("HOTLINE_ROLE")
    if not call_id or role not in ("seat", "target"):
        return None
    orders = tuple(o for o in str(variables.get("HOTLINE_ORDERS") or "").split(",") if o)
    return LegStamp(call_id, role, seat=str(variables.get("HOTLINE_SEAT") or "") or None,
                    mode=str(variables.get("HOTLINE_MODE") or "") or None, orders=orders)


def snapshot_of(channels: list[dict], bridges: list[dict]) -> SwitchSnapshot:
    alive = frozenset(c["id"] for c in channels if isinstance(c, dict) and "id" in c)
    stamps = {}
    for channel in channels:
        stamp = stamp_of(channel.get("channelvars")) if isinstance(channel, dict) else None
        if stamp is not None:
            stamps[channel["id"]] = stamp
    members = {str(b["id"]): frozenset(str(c) for c in b.get("channels") or ())
               for b in bridges if isinstance(b, dict) and "id" in b}
    callers = {}
    for raw in channels:
        try:
            channel = _channel(raw)
        except MalformedEvent:
            continue
        if channel.id not in stamps:
            callers[channel.id] = Caller(digits_only(channel.caller_number),
                                         channel.technology_endpoint.startswith("trunk-"))
    return SwitchSnapshot(alive, members, stamps, callers)

