"""What a waiting citizen hears: the surge menu (a FAQ or a callback), the caller's
place in the line, and the music between them. Pure transitions; the machine's
table (machine.TRANSITIONS) names them.

The FAQ (key 1) is the site region's most-used knowledge-base answers, handed in with
SurgeOffered (the call keeps them, so what it offered survives a takeover); without
any it is the fixed prompts of prompts.toml. After a knowledge-base answer the caller
chooses: 0 it helped (goodbye), 1 a person (back to waiting), 2 a callback, 3 the next
answer; the choice is a FAQ_CHOICE notice, recorded as the entry's use."""
from __future__ import annotations

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
    StopPlayback,
    StopRingback,
    SurgeOffered,
    replace,
)

S = CallState
N = Notice

# ---- surge mode: while every seat is busy, a FAQ or a callback ------------------------
SURGE_MENU = ("sound:hotline/surge-menu",)
CALLBACK_OK = ("sound:hotline/callback-ok",)
FAQ = ("faq",)   # the controller plays the editable knowledge file's answers here
ANSWER_CHOICE = "sound:hotline/answer-choice"   # after a KB answer: 0 helped, 1, 2, 3 next
ANSWER_THANKS = ("sound:hotline/answer-thanks",)
# a KB answer heard: the caller's key -> the use's outcome (services/knowledge IVR_OUTCOMES)
AFTER_ANSWER = {"0": "helped", "1": "person", "2": "callback"}
NEXT_ANSWER = "3"


def surge_offered(call: Call, event: SurgeOffered) -> Step:
    if call.surge_offered or call.via_trunk:
        return Step(call)
    # the caller's place may still be playing: Asterisk would play the menu after it, and
    # a seat answering then stopped only the menu (the one playback a call keeps), so the
    # caller went on hearing the place in the line over the agent
    return Step(replace(call, surge_offered=True, faq_menu=event.faq,
                        playing=f"{call.id}-menu"),
                (*_stop_playing(call), StopRingback(call.citizen_leg.id),
                 Play(call.citizen_leg.id, SURGE_MENU, f"{call.id}-menu"),
                 Notify(N.SURGE_OFFERED, {})))


def citizen_key(call: Call, event: CitizenKey) -> Step:
    if not call.surge_offered or call.callback_requested or call.faq_helped:
        return Step(call)
    if call.faq_choosing:
        return _after_answer(call, event.digit)
    if event.digit == "1" and call.faq_menu:   # 一问一答 from the knowledge base
        return _play_answer(call)
    if event.digit == "1":   # the fixed answers, then back to waiting
        leg = call.citizen_leg.id
        return Step(replace(call, playing=f"{call.id}-faq"),
                    (*_stop_playing(call), StopRingback(leg), Play(leg, FAQ, f"{call.id}-faq"),
                     Notify(N.FAQ_PLAYED, {"source": "prompts"})))
    if event.digit == "2":   # a callback: the citizen may hang up, nothing is lost
        booked = _callback(call)
        return Step(booked.call, (*_stop_playing(call), *booked.commands))
    return Step(call)


def _callback(call: Call) -> Step:
    leg = call.citizen_leg.id
    return Step(replace(call, callback_requested=True, playing=f"{call.id}-callback"),
                (LeaveWaitingLine(), StopRingback(leg),
                 Play(leg, CALLBACK_OK, f"{call.id}-callback"),
                 Notify(N.CALLBACK_REQUESTED, {})))


def _stop_playing(call: Call) -> tuple[StopPlayback, ...]:
    """Whatever the caller hears now stops: a key answers it, no need to hear it out."""
    return (StopPlayback(call.playing),) if call.playing else ()


def _play_answer(call: Call) -> Step:
    """The next answer of the menu (most used first, round again after the last), then
    the choice; each playback its own id, so a stopped one cannot end the next."""
    entry_id, media = call.faq_menu[call.faq_heard % len(call.faq_menu)]
    leg, playback = call.citizen_leg.id, f"{call.id}-kb{call.faq_heard + 1}"
    return Step(replace(call, faq_heard=call.faq_heard + 1, faq_choosing=True, playing=playback),
                (*_stop_playing(call), StopRingback(leg),
                 Play(leg, (media, ANSWER_CHOICE), playback),
                 Notify(N.FAQ_PLAYED, {"source": "kb", "entry_id": entry_id, "media": media})))


def _after_answer(call: Call, digit: str) -> Step:
    """The caller's choice after a knowledge-base answer; anything else is ignored."""
    if digit == NEXT_ANSWER:
        return _play_answer(call)
    outcome = AFTER_ANSWER.get(digit)
    if outcome is None:
        return Step(call)
    entry_id = call.faq_menu[(call.faq_heard - 1) % len(call.faq_menu)][0]
    chosen = Notify(N.FAQ_CHOICE, {"entry_id": entry_id, "outcome": outcome})
    stop, leg = _stop_playing(call), call.citizen_leg.id
    call = replace(call, faq_choosing=False, playing=None)
    if outcome == "callback":
        booked = _callback(call)
        return Step(booked.call, (*stop, *booked.commands, chosen))
    if outcome == "person":   # keeps the place in the line; music again if it had stopped
        return Step(call, (*stop, *((StartRingback(leg),) if stop else ()), chosen))
    return Step(replace(call, faq_helped=True, playing=f"{call.id}-bye"),
                (*stop, LeaveWaitingLine(), StopRingback(leg),
                 Play(leg, ANSWER_THANKS, f"{call.id}-bye"), chosen))


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
    if event.playback_id in (f"{call.id}-callback", f"{call.id}-bye"):   # then goodbye
        return Step(replace(call, playing=None), (HangupLeg(call.citizen_leg.id),))
    if event.playback_id != call.playing:
        return Step(call)   # stopped, or superseded
    call = replace(call, playing=None)
    if call.state is S.WAITING and not call.callback_requested:
        return Step(call, (StartRingback(call.citizen_leg.id),))   # back to waiting music
    return Step(call)
