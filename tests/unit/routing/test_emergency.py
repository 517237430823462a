from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.model import EMERGENCY_OVERRIDE_TARGETS, UTILITIES


def test_given_a_fire_when_suggesting_then_119_with_emergency(suggester):
    suggestion = suggester.suggest("家里着火了")

    assert (suggestion.target, suggestion.emergency) == ("119", True)
    assert suggestion.reasons[0].kind == "emergency_rule"
    assert suggestion.reasons[0].ref == "E.fire"


def test_given_a_classifier_sure_of_12345_when_text_is_a_fire_then_override_sends_119(
        stub_suggester):
    suggester = stub_suggester({"12345": 30.0})

    suggestion = suggester.suggest("小区垃圾站着火了，火很大")

    assert (suggestion.target, suggestion.emergency) == ("119", True)


def test_given_a_classifier_sure_of_a_utility_when_someone_is_unconscious_then_120(
        stub_suggester):
    suggester = stub_suggester({"power": 30.0})

    suggestion = suggester.suggest("停电以后我爸突然晕倒了，叫不醒")

    assert (suggestion.target, suggestion.emergency) == ("120", True)


def test_given_the_emergency_head_fires_then_target_is_still_an_emergency_line(stub_suggester):
    suggester = stub_suggester({"water_gas_heat": 30.0}, emergency_bias=20.0)

    suggestion = suggester.suggest("快来人")

    assert suggestion.emergency
    assert suggestion.target in EMERGENCY_OVERRIDE_TARGETS


def test_given_violence_now_or_a_missing_child_then_110_emergency(suggester):
    for text in ("楼下有人拿着刀在砍人", "我家孩子在公园走失了", "有个男的在抢劫便利店"):
        suggestion = suggester.suggest(text)
        assert (suggestion.target, suggestion.emergency) == ("110", True), text


def test_given_a_hazard_or_negation_then_no_emergency(suggester):
    for text in ("楼道里很多电动车充电，有火灾隐患", "闻到烟味但是没有着火", "车打不着火了"):
        assert not suggester.suggest(text).emergency, text


def test_given_violence_in_the_past_then_110_without_emergency(suggester):
    suggestion = suggester.suggest("昨天晚上在酒吧被人打了，想报案")

    assert (suggestion.target, suggestion.emergency) == ("110", False)


_EVERYDAY = ["小区路灯坏了", "停电了", "燃气有点味道", "钥匙丢了", "邻居装修很吵", "宽带断网了",
             "超市卖过期牛奶", "工资被拖欠", "想咨询公积金"]
_EMERGENCIES = ["厨房着火了", "有人晕倒了没有呼吸", "有人拿刀砍人", "有人被困在电梯里",
                "孩子掉进河里了"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_EVERYDAY), st.sampled_from(_EMERGENCIES))
def test_an_emergency_is_never_suggested_to_12345_or_a_utility(suggester, everyday, emergency):
    suggestion = suggester.suggest(f"{everyday}，{emergency}")

    assert suggestion.emergency
    assert suggestion.target in EMERGENCY_OVERRIDE_TARGETS
    assert suggestion.target != "12345" and suggestion.target not in UTILITIES


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="火着人被困打刀晕倒停电水气热路灯锁孩子不没有昨天，。", max_size=30))
def test_whenever_emergency_is_set_the_target_is_110_119_or_120(suggester, text):
    suggestion = suggester.suggest(text)

    if suggestion.emergency:
        assert suggestion.target in EMERGENCY_OVERRIDE_TARGETS
