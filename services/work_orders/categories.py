"""Order categories with their default response level; also the Open311 services list.

The routing engine may use finer categories; an unknown category simply falls
back to the 7-day level until an agent sets one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .levels import ResponseLevel

L = ResponseLevel


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    group: str
    level: ResponseLevel
    keywords: tuple[str, ...] = ()


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("emergency", "突发事件", "紧急", L.URGENT, ("突发", "事故")),
    Category("instability", "不稳定因素", "紧急", L.URGENT, ("群体", "聚集")),
    Category("life_property_risk", "生命财产安全风险", "紧急", L.URGENT, ("危险", "坠落")),
    Category("water", "供水", "水电气热", L.UTILITY, ("停水", "水管")),
    Category("power", "供电", "水电气热", L.UTILITY, ("停电",)),
    Category("gas", "供气", "水电气热", L.UTILITY, ("燃气", "煤气")),
    Category("heat", "供热", "水电气热", L.UTILITY, ("暖气", "供暖")),
    Category("health", "卫生医疗", "公共服务", L.GENERAL, ("医院",)),
    Category("market", "市场监管", "经济调节", L.GENERAL, ("消费", "售后")),
    Category("labour", "劳动保障", "社会管理", L.GENERAL, ("欠薪", "工资")),
    Category("housing", "住房建设", "社会管理", L.GENERAL, ("物业", "违建")),
    Category("environment", "生态环境", "生态环境", L.GENERAL, ("噪音", "污染")),
    Category("traffic", "交通运输", "公共服务", L.GENERAL, ("公交", "出租车")),
    Category("dispute", "其他纠纷", "社会管理", L.GENERAL, ("纠纷",)),
    Category("other", "其他", "其他", L.GENERAL),
    Category("complex", "复杂疑难", "其他", L.COMPLEX),
)


def default_level(
    category: str | None, catalogue: tuple[Category, ...] = DEFAULT_CATEGORIES
) -> ResponseLevel:
    """The level an order of `category` gets until an agent says otherwise."""
    for entry in catalogue:
        if entry.code == category:
            return entry.level
    return ResponseLevel.GENERAL
