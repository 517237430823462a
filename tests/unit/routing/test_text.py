import pytest


@pytest.mark.parametrize(("traditional", "simplified"), [
    ("家裡著火了", "家里着火了"),
    ("停電了，冰箱裡的東西都壞了", "停电了，冰箱里的东西都坏了"),
    ("路燈壞了好幾天", "路灯坏了好几天"),
    ("小賣部賣假菸", "小卖部卖假烟"),
])
def test_traditional_chinese_is_routed_like_simplified(suggester, traditional, simplified):
    a, b = suggester.suggest(traditional), suggester.suggest(simplified)

    assert (a.target, a.category, a.emergency) == (b.target, b.category, b.emergency)
    assert a.confidence == pytest.approx(b.confidence)


def test_full_width_characters_are_normalised(processor_and_list):
    processor, _ = processor_and_list

    assert processor.normalise("ＬＥＤ大屏　太亮") == "led大屏 太亮"


def test_a_negated_phrase_does_not_match_its_list_entry(suggester):
    suggestion = suggester.suggest("家里没有停电，就是路灯不亮")

    assert not any(r.ref == "001-4.1" for r in suggestion.reasons if r.kind == "list_entry")
