from datetime import datetime, timedelta

from services.routing import CallContext, PriorCall

NOW = datetime(2024, 5, 1, 9, 0)


def _call(days_ago: int, summary: str = "", flags=(), **kwargs) -> PriorCall:
    return PriorCall(when=NOW - timedelta(days=days_ago), summary=summary,
                     flags=frozenset(flags), **kwargs)


def test_given_repeated_harassment_when_caller_rings_again_then_110(suggester):
    context = CallContext(site="12345", history=(
        _call(3, "来电辱骂话务员", {"harassment"}), _call(1, "反复辱骂", {"harassment"})))

    suggestion = suggester.suggest("我要投诉路灯不亮", context)

    assert suggestion.target == "110"
    assert any(r.kind == "history" and r.ref == "002-R.harass" for r in suggestion.reasons)


def test_given_one_threat_in_history_then_110(suggester):
    context = CallContext(history=(_call(2, "扬言要报复", {"threat"}),))

    assert suggester.suggest("小区垃圾没人清运", context).target == "110"


def test_given_a_drunk_caller_once_then_the_text_decides(suggester):
    context = CallContext(history=(_call(2, "醉酒来电", {"drunk"}),))

    suggestion = suggester.suggest("小区门口的路灯坏了", context)

    assert (suggestion.target, suggestion.category) == ("12345", "公共设施")


def test_given_harassment_history_when_there_is_a_fire_then_119_still_wins(suggester):
    context = CallContext(history=(_call(1, "", {"harassment"}), _call(2, "", {"mental"})))

    suggestion = suggester.suggest("家里着火了", context)

    assert (suggestion.target, suggestion.emergency) == ("119", True)


def test_given_an_open_order_about_the_same_matter_then_the_call_links_to_it(suggester):
    context = CallContext(history=(
        _call(5, "小区门口的路灯坏了不亮", order_id="WO-17", open=True,
              target="12345", category="公共设施"),
        _call(9, "楼上漏水", order_id="WO-3", open=True),
    ))

    suggestion = suggester.suggest("小区门口路灯还是不亮，上次已经反映过", context)

    assert suggestion.linked_order_id == "WO-17"
    assert any(r.kind == "history" and r.ref == "WO-17" for r in suggestion.reasons)


def test_given_a_closed_order_then_no_link(suggester):
    context = CallContext(history=(_call(5, "小区门口的路灯坏了不亮", order_id="WO-17",
                                         open=False),))

    assert suggester.suggest("小区门口路灯还是不亮", context).linked_order_id is None
