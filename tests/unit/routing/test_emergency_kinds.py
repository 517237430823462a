"""One test per kind of emergency the suggester used to miss on outside text (issue 12).

The utterances are the project's own, written for these tests; none comes from an
evaluation set. Each kind has an emergency told without the obvious keyword, and the
negation kinds have a near-twin that is no emergency.
"""
import pytest

from services.routing.model import is_emergency_line


def _assert_emergency(suggester, text, targets):
    suggestion = suggester.suggest(text)
    assert suggestion.emergency, text
    assert suggestion.target in targets, (text, suggestion.target)
    assert is_emergency_line(suggestion.target)
    assert any(r.kind == "emergency_rule" for r in suggestion.reasons), text


@pytest.mark.parametrize("text", [
    "楼下几个人抡着钢管往一个小伙子身上招呼",
    "有个家属在病房把护士站的电脑全掀了，还在砸",
    "放学路上五六个大孩子把我儿子堵在巷子里扇耳光",
    "公交上一个女的冲过去抢司机的方向盘，车都歪了",
])
def test_violence_told_by_its_acts(suggester, text):
    _assert_emergency(suggester, text, {"110"})


@pytest.mark.parametrize("text", [
    "我爸说胸口压得慌，一身冷汗，左胳膊发麻",
    "我妈有糖尿病，现在满头虚汗，说话颠三倒四的",
    "老人吃饭时突然嘴歪了，半边身子使不上劲",
])
def test_medical_emergency_told_by_symptoms(suggester, text):
    _assert_emergency(suggester, text, {"120"})


@pytest.mark.parametrize("text", [
    "十字路口路面突然陷下去一个大坑，车还在一辆辆开过来",
    "商场外墙的大招牌一头掉了，吊着晃，底下全是逛街的人",
    "高架上有辆轿车一会左一会右，像是喝多了在开",
    "一个液化气罐从货车上掉下来在马路中间滚",
])
def test_danger_in_progress_without_a_crime(suggester, text):
    _assert_emergency(suggester, text, {"110", "122", "119"})


@pytest.mark.parametrize("text", [
    "网约车司机把车门锁死了不让我下车，一直往郊区开",
    "导游把我们关在玉器店里，说不买东西不让出去",
])
def test_confinement(suggester, text):
    _assert_emergency(suggester, text, {"110"})


@pytest.mark.parametrize("text", [
    "超市里有个男的往兜里塞东西，人还在货架那边",
    "我看见一个人在撬楼下的电动车锁，他还没走",
    "两口子在楼道里吵，男的一直在扇女的",
])
def test_theft_with_the_suspect_there_and_disputes_with_hitting(suggester, text):
    _assert_emergency(suggester, text, {"110"})


def test_fire_after_a_gas_smell_goes_to_119_not_the_gas_company(suggester):
    _assert_emergency(suggester, "厨房先是一股煤气味，刚才一开灯就烧起来了", {"119"})


def test_a_gas_smell_alone_goes_to_the_gas_company(suggester):
    # A bare "a gas smell, whose leak?" sits near the emergency threshold (the model errs to
    # 119 there, which costs a glance); with nothing burning and nobody hurt it is the gas
    # company's emergency repair (001-4.2).
    suggestion = suggester.suggest("家里厨房有点燃气味，阀门我关了，想请燃气公司来查查哪里漏")
    assert suggestion.target == "water_gas_heat" and not suggestion.emergency


@pytest.mark.parametrize("text", [
    "两条渔船在江面上撞了，我们这条正在进水",
    "货船舱里漏水止不住，船身已经歪了",
])
def test_vessels_colliding_or_taking_on_water_go_to_12395(suggester, text):
    _assert_emergency(suggester, text, {"12395"})


def test_an_emergency_buried_in_a_long_story(suggester):
    text = ("我上个月就反映过小区物业乱收停车费的事一直没人管今天我又去物业办公室问"
            "结果他们经理叫了几个保安出来现在拿棍子在打我老公")
    _assert_emergency(suggester, text, {"110"})


@pytest.mark.parametrize("text, target", [
    ("我们家楼下着伙了烟好大快来人", "119"),       # 着火 heard as 着伙
    ("我爸云倒了叫不醒快派就护车", "120"),         # 晕倒, 救护车
])
def test_speech_recognition_homophones(suggester, text, target):
    _assert_emergency(suggester, text, {target})


@pytest.mark.parametrize("text", [
    "刚才两辆车蹭了一下，没人受伤，就是想问问怎么定责",
    "厨房的火已经灭了，就是墙熏黑了，问问物业管不管",
    "上个月在菜市场被人打了，想问问能不能申请法律援助",
    "这个广告牌有点松，担心哪天会掉下来，麻烦派人看看",
])
def test_negation_tense_and_worry_are_not_emergencies(suggester, text):
    assert not suggester.suggest(text).emergency, text


def test_an_engine_that_will_not_start_is_no_fire(suggester):
    assert not suggester.suggest("车打不着火了，电瓶可能没电").emergency


def test_the_homophone_repair_leaves_a_river_a_river(processor_and_list):
    processor, _ = processor_and_list
    assert "跳河" not in processor.normalise("我们这条河里天天有人电鱼")


# ---- round 4: near-twins that told the rules apart on outside text (our own wording) ----

def test_a_lift_stuck_with_nobody_inside_is_a_repair_not_a_rescue(suggester):
    assert not suggester.suggest("电梯卡在七楼和八楼之间不动了，里面没人，物业也联系不上").emergency
    _assert_emergency(suggester, "电梯卡在七楼和八楼之间不动了，我妈还关在里面", {"119"})


def test_people_stranded_by_flood_water_go_to_119(suggester):
    _assert_emergency(suggester, "桥洞底下水淹到车窗了，司机爬到车顶上在喊", {"119"})


def test_a_group_caught_dismantling_is_theft_in_the_act(suggester):
    _assert_emergency(suggester, "仓库后面两个人正在拆我们的空调外机往三轮上装", {"110"})


def test_a_wreck_of_years_is_a_maritime_complaint(suggester):
    suggestion = suggester.suggest("河湾里一条废船沉了一半，好几年了没人管，挡着航道")
    assert not suggestion.emergency


def test_a_threat_that_has_not_happened_yet_is_not_an_emergency(suggester):
    assert not suggester.suggest("孩子说班上有人放话要打他，还没发生，想问学校该谁管").emergency


def test_a_button_that_does_not_respond_is_no_casualty(suggester):
    finding = suggester.suggest("门禁按了半天没反应，物业电话也打不通")
    assert not finding.emergency


def test_an_aspect_particle_does_not_make_a_fire(processor_and_list):
    processor, _ = processor_and_list
    assert "着火" not in processor.normalise("师傅正干着活呢，说下午再来修")
    assert "着火" in processor.normalise("厨房着伙了")


def test_a_factory_chimney_is_pollution_not_fire(suggester):
    assert not suggester.suggest("那个厂的烟囱天天排放黑色浓烟，呛得人难受").emergency


# ---- round 5 (our own wording) ----

@pytest.mark.parametrize("text", [
    "我心里难受，刚才把一瓶安眠药全吃了",
    "我爸跟我妈吵完架，把地里打的农药喝了两口",
    "孩子把抽屉里的降压药吃了二十多片",
])
def test_poisoning_and_overdose_go_to_120(suggester, text):
    _assert_emergency(suggester, text, {"120"})


def test_a_wall_that_fell_on_someone_is_a_rescue(suggester):
    _assert_emergency(suggester, "工地的围墙倒了砸到人了，一个工人压在下面", {"119", "120"})


def test_a_worker_on_a_crane_threatening_to_jump(suggester):
    _assert_emergency(suggester, "有个讨薪的工人爬到塔吊顶上了，喊着不给钱就跳", {"110"})


@pytest.mark.parametrize("text", [
    "着火了！哦不是，说错了，是对面饭馆油烟太大，天天这样",
    "上午楼道里有人晕倒，救护车已经拉走了，我想问问楼里的急救箱谁管",
    "导游不买东西不让走，这是上个礼拜的事了，我想投诉旅行社",
    "就是火车站门口那些黑车拉客，一个人收一百多",
])
def test_told_afterwards_or_corrected_is_no_emergency(suggester, text):
    assert not suggester.suggest(text).emergency, text


def test_a_boat_turning_in_a_fast_current_is_in_distress(suggester):
    _assert_emergency(suggester, "渡船开到江中间发动机熄火了，船在原地打转，上面有人", {"12395"})
