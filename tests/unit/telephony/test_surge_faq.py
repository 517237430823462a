"""The surge FAQ from the knowledge base: key 1 plays the region's most-used answer, then the
caller chooses (0 helped, 1 a person, 2 a callback, 3 the next answer), and the choice is
recorded as the entry's use without the call waiting on the database."""
from __future__ import annotations

import asyncio

from telephony.calls import machine
from telephony.calls.counters import SiteCounters
from telephony.calls.model import (
    Call,
    CallState,
    CitizenEntered,
    CitizenKey,
    HangupLeg,
    LeaveWaitingLine,
    Leg,
    LegHungUp,
    LegRole,
    Notice,
    Notify,
    Play,
    PlaybackDone,
    StartRingback,
    StopPlayback,
    StopRingback,
    SurgeOffered,
)
from telephony.calls.store import call_from_json, call_to_json
from telephony.kb_faq import KbFaq

CITIZEN = "chan-citizen"
MENU = (("kb-410300-T001", "sound:hotline/kb/kb-410300-T001-v1"),
        ("kb-410300-T002", "sound:hotline/kb/kb-410300-T002-v3"))
CHOICE = "sound:hotline/answer-choice"


def new_call() -> Call:
    return Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
                citizen_leg=Leg(CITIZEN, LegRole.CITIZEN), order_id="WO-20261201-000000000001",
                linked_order_id="PO-20261201-000000000002", origin_site="12345")


def run(call: Call, *events):
    commands = []
    for event in events:
        result = machine.step(call, event)
        call = result.call
        commands.append(result.commands)
    return call, commands


def notices(cmds) -> list[tuple[str, dict]]:
    return [(c.kind, c.detail) for c in cmds if isinstance(c, Notify)]


def offered(menu=MENU) -> Call:
    return run(new_call(), CitizenEntered(), SurgeOffered(menu))[0]


def heard_first_answer() -> Call:
    return run(offered(), CitizenKey("1"))[0]


# ---- the answer -------------------------------------------------------------------------
def test_given_kb_menu_when_1_then_the_most_used_answer_plays_then_the_choice():
    call, [cmds] = run(offered(), CitizenKey("1"))
    assert StopPlayback("c1-menu") in cmds   # the menu need not be heard out
    assert Play(CITIZEN, (MENU[0][1], CHOICE), "c1-kb1") in cmds
    assert ("faq_played", {"source": "kb", "entry_id": MENU[0][0], "media": MENU[0][1]}) \
        in notices(cmds)
    assert call.faq_choosing and call.playing == "c1-kb1"


def test_given_no_kb_answer_when_1_then_the_fixed_prompts_play_as_before():
    call, [cmds] = run(offered(menu=()), CitizenKey("1"))
    assert Play(CITIZEN, ("faq",), "c1-faq") in cmds
    assert ("faq_played", {"source": "prompts"}) in notices(cmds)
    assert not call.faq_choosing


def test_given_an_answer_heard_when_3_then_the_next_answer_plays_and_wraps_round():
    call, [cmds] = run(heard_first_answer(), CitizenKey("3"))
    assert StopPlayback("c1-kb1") in cmds and Play(CITIZEN, (MENU[1][1], CHOICE), "c1-kb2") in cmds
    call, [cmds] = run(call, CitizenKey("3"))
    assert Play(CITIZEN, (MENU[0][1], CHOICE), "c1-kb3") in cmds   # its own playback id


def test_given_the_answer_over_when_no_key_then_music_and_the_choice_still_open():
    call, [cmds] = run(heard_first_answer(), PlaybackDone("c1-kb1"))
    assert cmds == (StartRingback(CITIZEN),) and call.faq_choosing
    call, [cmds] = run(call, CitizenKey("2"))
    assert ("faq_choice", {"entry_id": MENU[0][0], "outcome": "callback"}) in notices(cmds)


# ---- the choice -------------------------------------------------------------------------
def test_given_an_answer_heard_when_2_then_a_callback_is_booked_and_the_choice_recorded():
    call, [cmds] = run(heard_first_answer(), CitizenKey("2"))
    assert StopPlayback("c1-kb1") in cmds and LeaveWaitingLine() in cmds
    assert Play(CITIZEN, ("sound:hotline/callback-ok",), "c1-callback") in cmds
    assert notices(cmds) == [("callback_requested", {}),
                             ("faq_choice", {"entry_id": MENU[0][0], "outcome": "callback"})]
    assert call.callback_requested and not call.faq_choosing
    call, [stale, bye] = run(call, PlaybackDone("c1-kb1"), PlaybackDone("c1-callback"))
    assert stale == () and bye == (HangupLeg(CITIZEN),)


def test_given_an_answer_heard_when_1_then_back_to_waiting_for_a_person():
    call, [cmds] = run(heard_first_answer(), CitizenKey("1"))
    assert cmds[:2] == (StopPlayback("c1-kb1"), StartRingback(CITIZEN))
    assert ("faq_choice", {"entry_id": MENU[0][0], "outcome": "person"}) in notices(cmds)
    assert call.state is CallState.WAITING and not call.faq_choosing and call.playing is None
    # the stopped answer's end changes nothing; 1 is the FAQ again
    call, [done, again] = run(call, PlaybackDone("c1-kb1"), CitizenKey("1"))
    assert done == () and Play(CITIZEN, (MENU[1][1], CHOICE), "c1-kb2") in again


def test_given_an_answer_heard_when_0_then_goodbye_and_no_callback_is_owed():
    call, [cmds] = run(heard_first_answer(), CitizenKey("0"))
    assert LeaveWaitingLine() in cmds and StopRingback(CITIZEN) in cmds
    assert Play(CITIZEN, ("sound:hotline/answer-thanks",), "c1-bye") in cmds
    assert ("faq_choice", {"entry_id": MENU[0][0], "outcome": "helped"}) in notices(cmds)
    call, [cmds] = run(call, PlaybackDone("c1-bye"))
    assert cmds == (HangupLeg(CITIZEN),)
    ended = machine.step(call, LegHungUp(CITIZEN)).call
    counters = SiteCounters()
    assert counters.count(call, ended, LegHungUp(CITIZEN), 40.0) is None   # not abandoned
    assert counters.abandoned == 0


def test_given_helped_when_more_keys_then_ignored():
    call = run(heard_first_answer(), CitizenKey("0"))[0]
    assert run(call, CitizenKey("2"))[1] == [()]


def test_given_the_choice_open_when_other_keys_then_nothing_happens():
    call = heard_first_answer()
    for digit in ("4", "9", "*", "#"):
        after, [cmds] = run(call, CitizenKey(digit))
        assert cmds == () and after == call


def test_a_call_with_its_faq_menu_survives_the_stored_form():
    call = heard_first_answer()
    assert call_from_json(call_to_json(call)) == call


# ---- the menus and the recorded choice (KbFaq) ------------------------------------------
class FakeKnowledge:
    def __init__(self, items=None, fail: Exception | None = None):
        self.items = items if items is not None else [
            {"entry_id": "kb-410300-T001", "audio": "hotline/kb/kb-410300-T001-v1", "uses": 9},
            {"entry_id": "kb-410300-T005", "audio": None, "uses": 1}]
        self.fail = fail
        self.uses: list[tuple[str, dict]] = []

    async def faq_menu(self, region, size=3):
        if self.fail:
            raise self.fail
        return self.items if region == "410300" else []

    async def record_use(self, entry_id, **kw):
        if self.fail:
            raise self.fail
        self.uses.append((entry_id, kw))
        return {"entry_id": entry_id}


def faq_with(knowledge) -> tuple[KbFaq, list]:
    tasks: list = []
    faq = KbFaq(lambda: knowledge, {"12345": "410300", "remote": "410100"},
                lambda coro: tasks.append(asyncio.ensure_future(coro)))
    return faq, tasks


async def test_given_the_database_not_up_then_the_menu_is_the_fixed_prompts():
    faq, _ = faq_with(None)
    await faq.refresh()
    assert faq.menu("12345") == () and faq.status()["12345"] == {"source": "prompts",
                                                                  "answers": 0, "entries": []}


async def test_menus_hold_the_regions_answers_with_audio_as_media():
    faq, _ = faq_with(FakeKnowledge())
    await faq.refresh()
    assert faq.menu("12345") == (("kb-410300-T001", "sound:hotline/kb/kb-410300-T001-v1"),)
    assert faq.menu("remote") == () and faq.status()["12345"] == {
        "source": "kb", "answers": 1, "entries": ["kb-410300-T001"]}


async def test_given_the_database_goes_away_then_the_fixed_prompts_until_it_is_back():
    knowledge = FakeKnowledge()
    faq, _ = faq_with(knowledge)
    await faq.refresh()
    knowledge.fail = OSError("database away")
    await faq.refresh()
    assert faq.menu("12345") == ()
    knowledge.fail = None
    await faq.refresh()
    assert faq.menu("12345")[0][0] == "kb-410300-T001"


async def test_a_choice_is_recorded_as_an_ivr_use_with_the_call_and_order():
    knowledge = FakeKnowledge()
    faq, tasks = faq_with(knowledge)
    call = heard_first_answer()
    faq.notice(call, Notice.FAQ_PLAYED, {"entry_id": "x"})   # only choices are uses
    faq.notice(call, Notice.FAQ_CHOICE, {"entry_id": MENU[0][0], "outcome": "callback"})
    await asyncio.gather(*tasks)
    assert knowledge.uses == [(MENU[0][0], {
        "actor": "ivr", "channel": "ivr", "call_id": "c1", "order_id": call.order_id,
        "region_code": "410300", "outcome": "callback"})]


async def test_given_recording_fails_then_it_is_logged_and_nothing_raises(caplog):
    faq, tasks = faq_with(FakeKnowledge(fail=OSError("database away")))
    faq.notice(heard_first_answer(), Notice.FAQ_CHOICE,
               {"entry_id": MENU[0][0], "outcome": "helped"})
    await asyncio.gather(*tasks)
    assert "not recorded" in caplog.text


async def test_the_order_says_the_faq_answered_a_helped_caller_and_nothing_for_a_person():
    from telephony.orders import OrderRecorder

    published = []

    async def publish(events):
        published.extend(events)

    recorder = OrderRecorder(publish, {"12345": "410300"})
    call = heard_first_answer()
    recorder.notice(call, Notice.FAQ_CHOICE, {"entry_id": MENU[0][0], "outcome": "person"})
    recorder.notice(call, Notice.FAQ_CHOICE, {"entry_id": MENU[0][0], "outcome": "helped"})
    assert recorder.pending() == 1
    task = asyncio.ensure_future(recorder.run())
    while not published:
        await asyncio.sleep(0)
    task.cancel()
    [event] = published
    assert event.order_id == call.order_id and MENU[0][0] in event.summary
    assert "[回拨" not in event.summary   # helped: no callback owed
