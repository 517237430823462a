"""ARI event JSON -> typed dataclasses.

Only the events call control needs are typed; others parse to None and are
ignored. A malformed event raises `MalformedEvent` with what was wrong.
"""
from __future__ import annotations

from dataclasses import dataclass


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


# what call control acts on; Asterisk is asked to send only these (see AriEvents)
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
