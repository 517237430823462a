"""Supervisor listen-in, whisper and barge (班长监听 / 耳语 / 强插; issue 18): the switch side.

A session rings the supervisor's own softphone (a supervisor seat of the call's site);
when it answers, it joins:

- listen:  a snoop on the agent's leg that hears both directions and speaks into none,
           in a bridge of its own with the supervisor;
- whisper: the same snoop, speaking into what the agent's phone receives ("out"): the
           agent hears the supervisor, the citizen does not (the agent's leg sends the
           bridge only what the agent says);
- barge:   the call's own bridge: everyone hears everyone.

The citizen never hears listen or whisper: nothing of the supervisor enters the call's
bridge. Call control does not know sessions exist; its legs are only read.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.errors import DomainError
from services.recordings.store import RecordingStore
from telephony.ari.client import AriClient, AriError
from telephony.calls.model import Call, CallState, Notice
from telephony.calls.ports import CallObserver

log = logging.getLogger("hotline.supervision")

MODES = ("listen", "whisper", "barge")
# snoop directions per mode: (spy, whisper) on the agent's leg
SNOOP = {"listen": ("both", "none"), "whisper": ("both", "out")}
SUPERVISABLE = (CallState.CONNECTED, CallState.TRANSFER_RINGING, CallState.THREE_WAY_RINGING,
                CallState.THREE_WAY)
RING_TIMEOUT_S = 30
BOARD = ("supervisor", "ops")   # who is told of sessions: never the agent being listened to


class SupervisionError(DomainError):
    """A session cannot start; its id and status say why (the API answers them as JSON)."""

    def __init__(self, message: str, error_id: str, status: int = 409):
        super().__init__(message, error_id=error_id, status=status)


@dataclass(frozen=True)
class SupervisionLeg:
    """A channel of ours entered the app: the supervisor's answered leg, or a snoop."""
    leg_id: str
    session_id: str
    part: str   # "supervisor" or "snoop"


@dataclass
class Session:
    session_id: str
    call_id: str
    site: str
    mode: str
    seat: str
    actor: str
    role: str
    agent_leg: str
    call_bridge: str | None
    answered: bool = False
    legs: set[str] = field(default_factory=set)

    @property
    def supervisor_leg(self) -> str:
        return f"{self.session_id}-sup"

    @property
    def snoop_leg(self) -> str:
        return f"{self.session_id}-snoop"

    @property
    def bridge(self) -> str:
        return f"{self.session_id}-b"

    def view(self) -> dict:
        return {"session_id": self.session_id, "call_id": self.call_id, "site": self.site,
                "mode": self.mode, "seat": self.seat, "supervisor": self.actor,
                "answered": self.answered}


class SupervisionDesk(CallObserver):
    def __init__(self, aris: Mapping[str, AriClient], app: str,
                 supervisor_seats: Mapping[str, tuple[str, ...]],
                 call_of: Callable[[str], Call | None],
                 store: Callable[[], RecordingStore | None],
                 publish: Callable[[dict], object] = lambda event: None):
        self._aris = aris
        self._app = app
        self._seats = supervisor_seats
        self._call_of = call_of
        self._store = store
        self._publish = publish
        self._sessions: dict[str, Session] = {}
        self._legs: dict[str, str] = {}   # channel id -> session id

    def sessions(self, call_id: str | None = None) -> list[dict]:
        return [s.view() for s in self._sessions.values()
                if call_id is None or s.call_id == call_id]

    # ---- the API's requests ----------------------------------------------------------------
    async def start(self, call_id: str, mode: str, seat: str, actor: str, role: str) -> dict:
        call = self._call_of(call_id)
        if call is None:
            raise SupervisionError("no such live call", "call_not_found", 404)
        if mode not in MODES:
            raise SupervisionError(f"mode must be one of {MODES}", "bad_mode", 422)
        if seat not in self._seats.get(call.site, ()):
            raise SupervisionError(f"seat {seat} is not a supervisor seat of site {call.site}",
                                   "not_a_supervisor_seat", 422)
        if call.state not in SUPERVISABLE or call.agent_leg is None:
            raise SupervisionError(f"the call has no agent to supervise (state "
                                   f"{call.state.value})", "call_not_answered")
        if any(s.seat == seat for s in self._sessions.values()):
            raise SupervisionError(f"seat {seat} is already supervising", "seat_busy")
        session = Session(f"sv{uuid.uuid4().hex[:10]}", call.id, call.site, mode, seat, actor,
                          role, call.agent_leg.id, call.bridge_id)
        self._sessions[session.session_id] = session
        self._track(session, session.supervisor_leg)
        try:
            await self._aris[call.site].originate(
                f"PJSIP/{seat}", app=self._app, app_args=f"supervision,{session.session_id}",
                caller_id=f'"{mode} {call.id}" <{call.site}>', channel_id=session.supervisor_leg,
                timeout_s=RING_TIMEOUT_S)
        except AriError as exc:
            self._forget(session)
            raise SupervisionError(f"the supervisor seat could not be rung: {exc}",
                                   "seat_unreachable", 502) from exc
        await self._audit(session, "supervision_started")
        log.info("call %s: %s by %s at seat %s (session %s)", call.id, mode, actor, seat,
                 session.session_id)
        return session.view()

    async def stop(self, call_id: str, actor: str, role: str) -> list[str]:
        """End every session on the call (a supervisor ends theirs; the site's others too)."""
        ended = [s for s in list(self._sessions.values()) if s.call_id == call_id]
        for session in ended:
            await self._end(session, f"ended by {actor}")
        return [s.session_id for s in ended]

    # ---- the switch's events ----------------------------------------------------------------
    def owns(self, leg_id: str) -> bool:
        return leg_id in self._legs

    async def entered(self, site: str, leg: SupervisionLeg) -> None:
        session = self._sessions.get(leg.session_id)
        ari = self._aris[site]
        if session is None:
            await _quietly(ari.hangup(leg.leg_id))
            return
        try:
            if leg.part == "supervisor":
                await self._supervisor_answered(session, ari)
            elif leg.part == "snoop":
                await ari.add_to_bridge(session.bridge, leg.leg_id)
        except AriError as exc:
            log.warning("session %s: could not join (%s); ending it", session.session_id, exc)
            await self._end(session, "join failed")

    async def _supervisor_answered(self, session: Session, ari: AriClient) -> None:
        session.answered = True
        if session.mode == "barge":
            if not session.call_bridge:
                raise AriError(409, "the call has no bridge")
            await ari.add_to_bridge(session.call_bridge, session.supervisor_leg)
        else:
            spy, whisper = SNOOP[session.mode]
            await ari.create_bridge(session.bridge)
            await ari.add_to_bridge(session.bridge, session.supervisor_leg)
            self._track(session, session.snoop_leg)
            await ari.snoop(session.agent_leg, spy=spy, whisper=whisper, app=self._app,
                            app_args=f"supervision,{session.session_id},snoop",
                            snoop_id=session.snoop_leg)
        self._publish({"type": "supervision_joined", "site": session.site,
                       "roles": list(BOARD), **session.view()})

    async def gone(self, leg_id: str) -> None:
        """One of our legs is gone (the supervisor hung up, or the snoop died with the
        agent's leg): the session ends."""
        session = self._sessions.get(self._legs.pop(leg_id, ""))
        if session is not None:
            await self._end(session, "leg gone")

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        """A call that ends takes its sessions with it (the barging supervisor too)."""
        if kind is Notice.CALL_ENDED:
            for session in [s for s in self._sessions.values() if s.call_id == call.id]:
                self._forget(session)
                ari = self._aris[session.site]
                _spawn(self._teardown(ari, session), self._audit(session, "supervision_ended",
                                                                 why="call ended"))

    # ---- ending -------------------------------------------------------------------------------
    async def _end(self, session: Session, why: str) -> None:
        if self._sessions.get(session.session_id) is not session:
            return
        self._forget(session)
        await self._teardown(self._aris[session.site], session)
        await self._audit(session, "supervision_ended", why=why)

    async def _teardown(self, ari: AriClient, session: Session) -> None:
        await _quietly(ari.hangup(session.supervisor_leg))
        if session.mode != "barge":
            await _quietly(ari.hangup(session.snoop_leg))
            await _quietly(ari.destroy_bridge(session.bridge))
        self._publish({"type": "supervision_ended", "site": session.site,
                       "roles": list(BOARD), **session.view()})

    def _track(self, session: Session, leg_id: str) -> None:
        session.legs.add(leg_id)
        self._legs[leg_id] = session.session_id

    def _forget(self, session: Session) -> None:
        self._sessions.pop(session.session_id, None)
        for leg in session.legs:
            self._legs.pop(leg, None)

    async def _audit(self, session: Session, action: str, **detail) -> None:
        store = self._store()
        if store is None:
            log.warning("session %s: %s not audited (database not ready)", session.session_id,
                        action)
            return
        try:
            await store.audit(session.actor, session.role, action, None, session.call_id,
                              session_id=session.session_id, mode=session.mode,
                              seat=session.seat, site=session.site, **detail)
        except Exception as exc:  # noqa: BLE001 - the session goes on; the log says so
            log.error("session %s: %s not audited (%r)", session.session_id, action, exc)


async def _quietly(request: Awaitable) -> None:
    try:
        await request
    except AriError:
        pass   # gone already


_pending: set = set()


def _spawn(*coros: Awaitable) -> None:
    import asyncio

    async def run() -> None:
        for coro in coros:
            await coro
    task = asyncio.ensure_future(run())
    _pending.add(task)
    task.add_done_callback(_pending.discard)
