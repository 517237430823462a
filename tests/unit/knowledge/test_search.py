import pytest

from services.knowledge.exchange import seed_records
from services.knowledge.search import SearchIndex


def doc(entry_id, question, answer="请拨打12345。", category="other", region="410300", alts=()):
    return {"entry_id": entry_id, "topic": None, "question": question, "alternatives": list(alts),
            "answer": answer, "department": "x", "category": category, "region_code": region,
            "version": 1}


@pytest.fixture(scope="module")
def index():
    return SearchIndex().build([
        doc("lamp", "路灯不亮了找谁修？", alts=["路灯坏了"]),
        doc("heat", "暖气不热怎么办？", category="heat", alts=["供暖温度不达标"]),
        doc("heat-fee", "暖气费怎么交？", category="heat"),
        doc("wage", "老板拖欠工资怎么办？", category="labour", alts=["欠薪"]),
        doc("wage-zz", "郑州的欠薪怎么投诉？", category="labour", region="410100"),
    ])


def test_the_entry_asked_in_other_words_ranks_first_with_its_matched_words(index):
    hits = index.search("我家暖气一点都不热")
    assert hits[0].entry["entry_id"] == "heat"
    assert "暖气" in hits[0].matched
    assert hits[0].score > hits[1].score


def test_the_routing_category_lifts_its_entries(index):
    plain = index.search("工资 暖气")
    lifted = index.search("工资 暖气", category="labour")
    assert lifted[0].entry["category"] == "labour" and lifted[0].category_match
    assert lifted[0].score == pytest.approx(lifted[0].bm25 * index.category_boost)
    assert {h.entry["entry_id"] for h in plain} == {h.entry["entry_id"] for h in lifted}


def test_region_keeps_only_that_regions_entries(index):
    assert [h.entry["entry_id"] for h in index.search("欠薪", region="410300")] == ["wage"]
    assert "wage-zz" in [h.entry["entry_id"] for h in index.search("欠薪")]


def test_nothing_in_common_or_empty_text_finds_nothing(index):
    assert index.search("") == []
    assert index.search("？？？！！") == []
    assert index.search("量子计算机") == []


def test_limit_and_stable_order(index):
    assert len(index.search("怎么办 暖气 路灯 工资", limit=2)) == 2
    assert index.search("暖气") == index.search("暖气")


def test_traditional_and_full_width_text_is_read_as_simplified(index):
    assert index.search("暖氣不熱")[0].entry["entry_id"] == "heat"


def test_on_the_seed_each_entrys_own_question_finds_it_first():
    """A sanity floor on the shipped data (its own questions, not an evaluation set)."""
    records = seed_records()
    idx = SearchIndex().build(records)
    firsts = sum(idx.search(r["question"], category=r["category"])[0].entry["entry_id"]
                 == r["entry_id"] for r in records)
    assert firsts / len(records) >= 0.95


def test_the_routing_suggestions_diversion_list_category_lifts_its_departments_entries():
    idx = SearchIndex().build([
        {**doc("pension", "养老金什么时候发？", category="labour"), "department": "hrss"},
        {**doc("heat-fee", "暖气费什么时候交？", category="heat"),
         "department": "gas_heat_company"},
    ])
    assert idx.search("什么时候", category="劳动和社会保障")[0].entry["entry_id"] == "pension"
    top = idx.search("什么时候", category="劳动和社会保障")[0]
    assert top.category_match and top.score == pytest.approx(top.bm25 * idx.category_boost)
    assert not any(h.category_match for h in idx.search("什么时候", category="公共设施"))
