"""The department suggester: its reasons, and how category and region weigh in."""
from services.dispatch.catalogue import Catalogue, Department, Item
from services.dispatch.suggester import DispatchSuggester

CITY, OTHER_CITY = "410300", "410100"


def _catalogue() -> Catalogue:
    departments = {d: Department(d, d, "") for d in (
        "water_company", "urban_management", "district_government")}
    items = (
        Item("water_company.01", "water_company", "供水管网", ("water",), (CITY,),
             ("漏水", "水管爆裂")),
        Item("urban_management.01", "urban_management", "市政道路", ("公共设施",), (CITY,),
             ("井盖", "漏水")),
        Item("district_government.01", "district_government", "属地事项", ("其他纠纷类",),
             ("410302",), ("社区",)),
    )
    return Catalogue(departments, items)


def test_each_candidate_names_the_item_and_the_words_it_matched(suggester):
    result = suggester.suggest("我们小区门口的井盖丢了，晚上很危险", None, "410302")
    assert result.department == "urban_management"
    reason = result.candidates[0].reasons[0]
    assert reason.item_id.startswith("urban_management.") and "井盖" in reason.words
    assert reason.region == "410302"
    assert 0 < result.confidence <= 1
    assert [c.score for c in result.candidates] == sorted(
        (c.score for c in result.candidates), reverse=True)


def test_the_order_category_breaks_a_tie_between_two_departments_items():
    suggester = DispatchSuggester(_catalogue())
    assert suggester.suggest("路边漏水", "公共设施", CITY).department == "urban_management"
    result = suggester.suggest("路边漏水", "water", CITY)
    assert result.department == "water_company"
    assert result.candidates[0].reasons[0].category == "water"


def test_items_outside_the_order_region_are_left_out():
    suggester = DispatchSuggester(_catalogue())
    assert suggester.suggest("社区的事", None, "410302").department == "district_government"
    far = suggester.suggest("社区的事", None, "410303")   # another district: its item not
    assert far.department == "district_government" and far.fallback
    assert not suggester.suggest("井盖丢了", None, OTHER_CITY).candidates[0].reasons


def test_text_that_matches_nothing_goes_to_the_territorial_department_by_rule(suggester):
    result = suggester.suggest("嗯嗯好的谢谢", None, CITY)
    assert result.fallback and result.department == "district_government"
    assert result.confidence == 0.0 and "属地" in result.note


def test_negated_words_do_not_count(suggester):
    result = suggester.suggest("不是停电，是燃气表不走了", None, CITY)
    assert result.department == "gas_heat_company"
    assert all(c.department != "power_company" for c in result.candidates)
