"""The `Switch` port over one site's ARI."""
from __future__ import annotations

from telephony.ari.client import AriClient, AriError
from telephony.calls.ports import SwitchError
from telephony.sip_rules import UnsafeDialString, check_endpoint
from telephony.sip_rules import caller_number as digits_only


class AriSwitch:
    def __init__(self, client: AriClient, app: str):
        self._ari = client
        self._app = app

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

    async def ring(self, endpoint: str, channel_id: str, caller_number: str,
                   headers: tuple[tuple[str, str], ...], app_args: str, timeout_s: int,
                   watch_keys: bool = False) -> None:
        # the last gate before Asterisk: one endpoint we configured, a number of digits
        try:
            check_endpoint(endpoint)
        except UnsafeDialString as exc:
            raise SwitchError(str(exc)) from exc
        caller_number = digits_only(caller_number)
        variables = {f"PJSIP_HEADER(add,{name})": value for name, value in headers}
        if watch_keys:
            # RFC 2833 keys of two RTP legs in a bridge are otherwise forwarded packet
            # to packet (native RTP) and never reach the core; talk detection hangs an
            # audio hook on the leg that keeps its media, and its DTMF, passing through
            # the core. Set with the originate, it costs no request of its own.
            variables["TALK_DETECT(set)"] = ""
        caller_id = f'"{caller_number}" <{caller_number}>' if caller_number else ""
        await self._do(self._ari.originate(
            endpoint, app=self._app, app_args=app_args, caller_id=caller_id,
            channel_id=channel_id, timeout_s=timeout_s, variables=variables))

    async def bridge(self, bridge_id: str, channel_ids: tuple[str, ...]) -> None:
        await self._do(self._ari.create_bridge(bridge_id))
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

    async def header(self, channel_id: str, name: str) -> str | None:
        return await self._do(self._ari.get_variable(channel_id, f"PJSIP_HEADER(read,{name})"))
