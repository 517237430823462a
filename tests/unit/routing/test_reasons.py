from services.routing import CallContext
from services.routing.dataset import HELDOUT_PATH, read_examples


def test_every_held_out_suggestion_carries_a_reason(suggester):
    for example in read_examples(HELDOUT_PATH):
        assert suggester.suggest(example.text).reasons, example.id


def test_a_call_with_no_summary_yet_still_carries_a_reason(suggester):
    assert suggester.suggest("").reasons
    assert suggester.suggest("", CallContext(site="110")).reasons


def test_reasons_cite_list_entries_that_exist(suggester):
    ids = {entry.id for entry in suggester.diversion_list.entries}

    suggestion = suggester.suggest("小区门口的窨井盖丢了，晚上很危险")

    cited = [r.ref for r in suggestion.reasons if r.kind == "list_entry"]
    assert cited and set(cited) <= ids
    assert cited[0] == "001-2.06"  # 公共设施


def test_reasons_name_the_models_top_features(suggester):
    suggestion = suggester.suggest("路灯坏了一个星期")

    assert any(r.kind == "feature" and "路灯" in r.text for r in suggestion.reasons)


def test_a_road_traffic_suggestion_offers_122_first(suggester):
    suggestion = suggester.suggest("路口两辆车刮蹭了，没人受伤，双方在争执")

    assert suggestion.target == "110"
    assert suggestion.alternatives[0].target == "122"
