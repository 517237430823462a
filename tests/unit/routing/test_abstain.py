def test_given_two_equally_likely_lines_then_uncertain_and_three_way(stub_suggester):
    suggester = stub_suggester({"110": 5.0, "12345": 5.0})

    suggestion = suggester.suggest("对方一直在门口吵")

    assert suggestion.uncertain and suggestion.propose_three_way
    assert any(r.ref == "001-R.3way" for r in suggestion.reasons)
    assert {suggestion.target, suggestion.alternatives[0].target} == {"110", "12345"}


def test_given_a_clear_winner_then_not_uncertain(stub_suggester):
    suggester = stub_suggester({"110": 9.0, "12345": 1.0})

    suggestion = suggester.suggest("对方一直在门口吵")

    assert not suggestion.uncertain and not suggestion.propose_three_way


def test_given_110_and_122_close_then_not_uncertain_because_they_are_one_answer(stub_suggester):
    suggester = stub_suggester({"110": 5.0, "122": 5.0})

    assert not suggester.suggest("对方一直在门口吵").uncertain


def test_given_text_unlike_anything_trained_on_then_uncertain_and_three_way(suggester):
    # Nothing here is a word of any hotline matter: the suggestion must not pretend.
    suggestion = suggester.suggest("锟斤拷烫烫烫屯屯屯")

    assert suggestion.uncertain and suggestion.propose_three_way
    assert any(r.ref == "001-R.3way" for r in suggestion.reasons)


def test_boundary_pairs_from_the_list_are_told_apart(suggester):
    pairs = [
        ("邻居吵架动手了", "110", None),
        ("停电了", "power", None),
        ("路灯不亮", "12345", "公共设施"),
        ("被拖欠工资", "12345", "劳动和社会保障"),
        ("小卖部卖假烟", "12313", None),
        # fake liquor is fake goods and unsafe food at once: either 12345 category is right
        ("超市卖假酒", "12345", {"市场监督管理", "食品药品监管"}),
    ]
    for text, target, category in pairs:
        suggestion = suggester.suggest(text)
        assert suggestion.target == target, text
        if isinstance(category, set):
            assert suggestion.category in category, text
        else:
            assert suggestion.category == category, text


def test_renovation_noise_goes_to_12345_as_a_dispute_or_construction(suggester):
    suggestion = suggester.suggest("邻居装修噪音扰民")

    assert suggestion.target == "12345"
    assert suggestion.category in {"其他纠纷类", "施工管理"}
