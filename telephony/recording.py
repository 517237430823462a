"""Recording every call at each site it visits (issue 18): the switch side.

A call observer: when a seat answers, the call's bridge is recorded through ARI (mixed
audio, `<recording id>.wav` in the site's spool), with an optional announcement played
into the bridge; a hand-over or three-way links the recording to the other
platform's order; the end of the call closes its row. The call never waits on any of
this: switch requests are sent without waiting, database writes go through one ordered
queue, drained by `run()`.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from services.recordings.policy import RecordingPolicy
from services.recordings.store import RecordingStore, new_recording_id
from telephony.ari.client import AriClient, AriError
from telephony.calls.model import Call, Notice
from telephony.calls.ports import CallObserver

log = logging.getLogger("hotline.recording")

# what links a recording to the other platform's order
_LINKING = (Notice.TRANSFER_COMPLETED, Notice.THREE_WAY_JOINED)
RETRY_S = 1.0


class CallRecorder(CallObserver):
    def __init__(self, aris: Mapping[str, AriClient], policies: Mapping[str, RecordingPolicy],
                 store: Callable[[], RecordingStore | None], clock: Callable[[], datetime]):
        self._aris = aris
        self._policies = policies
        self._store = store
        self._clock = clock
        self._live: dict[str, tuple[str, str]] = {}   # call id -> (recording id, bridge id)
        self._requests: set[asyncio.Future] = set()
        self._queue: asyncio.Queue[tuple[str, Callable[[], Awaitable[None]]]] = asyncio.Queue()

    def recording_of(self, call_id: str) -> str | None:
        live = self._live.get(call_id)
        return live[0] if live else None

    # ---- what calls do -----------------------------------------------------------------
    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        if kind is Notice.SEAT_ANSWERED and detail.get("recovered"):
            return   # whether the lost controller started the bridge's recording is unknown
        if kind is Notice.SEAT_ANSWERED:
            self._answered(call, detail.get("seat"))
        elif kind in _LINKING and call.id in self._live:
            if kind is Notice.TRANSFER_COMPLETED and detail.get("mode") == "line":
                return   # a public line (119 ...) opens no order of ours
            recording_id = self._live[call.id][0]
            self._later("link", lambda store: store.linked(recording_id, call.linked_order_id))
        elif kind is Notice.CALL_ENDED and call.id in self._live:
            recording_id, _ = self._live.pop(call.id)
            at = self._clock()
            self._later("end", lambda store: store.ended(recording_id, at))

    def _answered(self, call: Call, seat: str | None) -> None:
        policy = self._policies.get(call.site)
        if policy is None or not policy.enabled or not call.bridge_id:
            return
        live = self._live.get(call.id)
        if live and live[1] == call.bridge_id:   # another seat in the same, recorded bridge
            self._later("seat", lambda store: store.linked(live[0], seat=seat))
            return
        recording_id, bridge_id = new_recording_id(call.id), call.bridge_id
        self._live[call.id] = (recording_id, bridge_id)
        # a hand-over arriving here is already both platforms' case
        orders = [call.order_id] + ([call.linked_order_id] if call.via_trunk else [])
        at = self._clock()
        self._on_switch(self._aris[call.site], call.citizen_leg.id, bridge_id, recording_id,
                        policy.announcement)
        self._later("start", lambda store: store.started(
            recording_id, call.id, call.site, call.platform, seat, orders, at))
        log.info("call %s: recording %s at site %s", call.id, recording_id, call.site)

    def _on_switch(self, ari: AriClient, citizen_leg: str, bridge_id: str, recording_id: str,
                   announcement: str | None) -> None:
        """The bridge's recording, then the announcement into the bridge; at once, not
        behind database writes. Played to the bridge, not to the citizen's channel: a
        channel playing a file is out of the mix meanwhile, and the citizen's first words
        would be lost to the agent and the recording alike (the agent hears it too, as
        callers expect of "this call is recorded")."""
        async def start() -> None:
            try:
                await ari.record_bridge(bridge_id, recording_id)
                if announcement:
                    await ari.play_bridge(bridge_id, f"sound:{announcement}",
                                          f"{recording_id}-announce")
            except AriError as exc:
                log.warning("recording %s not started: %s", recording_id, exc)
        task = asyncio.ensure_future(start())
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def _later(self, what: str, write: Callable[[RecordingStore], Awaitable[None]]) -> None:
        async def run() -> None:
            store = self._store()
            if store is None:
                raise LookupError("the order database is not ready")
            await write(store)
        self._queue.put_nowait((what, run))

    # ---- the queue ------------------------------------------------------------------------
    async def run(self) -> None:
        """Carry out the database writes in order; each waits (retried) while the
        database is away."""
        while True:
            what, job = await self._queue.get()
            for attempt in range(60):
                try:
                    await job()
                    break
                except Exception as exc:  # noqa: BLE001 - the database away: retried
                    if attempt == 0:
                        log.warning("recording: %s not written yet (%r); retrying", what, exc)
                    await asyncio.sleep(RETRY_S)
            else:
                log.error("recording: %s given up after retries", what)


def retention_of(policies: Mapping[str, RecordingPolicy | None]):
    """Each recording site's retention period."""
    return {site: policy.retention for site, policy in policies.items() if policy}


async def expire_recordings(store: Callable[[], RecordingStore | None], library,
                            policies: Mapping[str, RecordingPolicy | None],
                            interval_s: float) -> None:
    """The retention job: every `interval_s`, delete the audio past its site's retention
    (an audit line each, written by the store)."""
    while True:
        await asyncio.sleep(interval_s)
        current = store()
        if current is None:
            continue
        try:
            expired = await current.expire(retention_of(policies), library.delete)
        except Exception as exc:  # noqa: BLE001 - the database away: the next round retries
            log.warning("recording retention: not run (%r)", exc)
            continue
        if expired:
            log.info("recording retention: %d recordings deleted", len(expired))
