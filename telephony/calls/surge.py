"""What a waiting citizen hears: the surge menu (a FAQ or a callback), the caller's
place in the line, and the music between them. Pure transitions; the machine's
table (machine.TRANSITIONS) names them."""
from __future__ import annotations

from dataclasses import replace

from telephony.calls.model import (
    Call,
    CallState,
    CitizenKey,
    HangupLeg,
    LeaveWaitingLine,
    Notice,
    Notify,
    Play,
    PlaybackDone,
    PositionAnnounce,
    StartRingback,
    Step,
    StopRingback,
    SurgeOffered,
)

S = CallState
N = Notice

# ---- surge mode: while every seat is busy, a FAQ or a callback ------------------------
SURGE_MENU = ("sound:hotline/surge-menu",)
CALLBACK_OK = ("sound:hotline/callback-ok",)
FAQ = ("faq",)   # the controller plays the editable knowledge file's answers here


def surge_offered(call: Call, _: SurgeOffered) -> Step:
    if call.surge_offered or call.via_trunk:
        return Step(call)
    return Step(replace(call, surge_offered=True, playing=f"{call.id}-menu"),
                (StopRingback(call.citizen_leg.id),
                 Play(call.citizen_leg.id, SURGE_MENU, f"{call.id}-menu"),
                 Notify(N.SURGE_OFFERED, {})))


def citizen_key(call: Call, event: CitizenKey) -> Step:
    leg = call.citizen_leg.id
    if not call.surge_offered or call.callback_requested:
        return Step(call)
    if event.digit == "1":   # 一问一答: the answers, then back to waiting
        return Step(replace(call, playing=f"{call.id}-faq"),
                    (StopRingback(leg), Play(leg, FAQ, f"{call.id}-faq"),
                     Notify(N.FAQ_PLAYED, {})))
    if event.digit == "2":   # a callback: the citizen may hang up, nothing is lost
        return Step(replace(call, callback_requested=True, playing=f"{call.id}-callback"),
                    (LeaveWaitingLine(), StopRingback(leg),
                     Play(leg, CALLBACK_OK, f"{call.id}-callback"),
                     Notify(N.CALLBACK_REQUESTED, {})))
    return Step(call)


def announce_position(call: Call, event: PositionAnnounce) -> Step:
    """Music stops for the caller's place in the line, then resumes."""
    if (call.via_trunk or call.surge_offered or call.callback_requested or call.playing
            or event.position < 1):
        return Step(call)
    leg = call.citizen_leg.id
    return Step(replace(call, playing=f"{call.id}-position"), (StopRingback(leg),
                       Play(leg, (f"sound:hotline/position-{event.position}",),
                            f"{call.id}-position")))


def playback_done(call: Call, event: PlaybackDone) -> Step:
    if event.playback_id == f"{call.id}-callback":
        return Step(replace(call, playing=None), (HangupLeg(call.citizen_leg.id),))
    if event.playback_id != call.playing:
        return Step(call)   # stopped, or superseded
    call = replace(call, playing=None)
    if call.state is S.WAITING and not call.callback_requested:
        return Step(call, (StartRingback(call.citizen_leg.id),))   # back to waiting music
    return Step(call)
