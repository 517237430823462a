from services.routing import (
    CATEGORIES_12345,
    TARGETS,
    TRANSFERABLE_LINES,
    Suggestion,
    is_emergency_line,
)
from services.routing.diversion_list import load_diversion_list


def test_targets_are_the_twelve_labels_of_issue_5():
    assert TARGETS == ("110", "12345", "119", "120", "122", "12313", "12395", "12348",
                       "power", "water_gas_heat", "telecom", "locksmith")


def test_the_18_categories_are_the_lists_categories():
    entries = load_diversion_list().entries

    assert len(CATEGORIES_12345) == 18
    assert [e.category for e in entries if e.category] == list(CATEGORIES_12345)


def test_the_star_8_key_reaches_every_line_but_110_and_12345():
    assert set(TRANSFERABLE_LINES) == set(TARGETS) - {"110", "12345"}


def test_emergency_lines_are_110_and_the_linked_hotlines():
    assert [t for t in TARGETS if is_emergency_line(t)] == ["110", "119", "120", "122", "12395"]


def test_every_list_entry_has_a_stable_id_and_a_known_target():
    entries = load_diversion_list().entries

    assert len({e.id for e in entries}) == len(entries)
    assert {e.target for e in entries} == set(TARGETS)


def test_category_is_none_unless_the_target_is_12345(suggester):
    for text in ("停电了", "路灯坏了", "有人打架"):
        suggestion: Suggestion = suggester.suggest(text)
        assert (suggestion.category is not None) == (suggestion.target == "12345")
