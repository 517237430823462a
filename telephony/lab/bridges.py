"""Who is on a call, as the lab reads a bridge: its parties' channels, without the media
channels Asterisk adds to a bridge for recording (`Recorder/…`) and announcements
(`Announcer/…`; issue 18)."""
from __future__ import annotations

from collections.abc import Mapping

MEDIA_CHANNELS = ("Recorder/", "Announcer/")


def parties(bridge: dict, names: Mapping[str, str]) -> list[str]:
    """The ids of the bridge's channels that are parties to the call (`names`: id ->
    channel name, from GET /channels); a channel not listed there is not one."""
    return [cid for cid in bridge.get("channels", [])
            if cid in names and not names[cid].startswith(MEDIA_CHANNELS)]
