"""Two category vocabularies meet in search: the order codes an entry carries
(`services/work_orders/categories.py`: housing, labour, …) and the diversion list's
categories the routing suggestion names (seed 001, annex part 2: 住房城乡建设, 劳动和社会保障, …).

A routing category covers the departments whose remit it names in the seed's examples;
an entry matches it when its owning department is one of them.
"""
from __future__ import annotations

from collections.abc import Mapping

ROUTING_CATEGORIES_BY_DEPARTMENT: Mapping[str, frozenset[str]] = {
    "housing": frozenset({"住房城乡建设", "施工管理"}),
    "urban_management": frozenset({"市容管理", "公共设施", "农林绿化", "施工管理"}),
    "hrss": frozenset({"劳动和社会保障"}),
    "market_regulation": frozenset({"市场监督管理", "食品药品监管"}),
    "ecology_environment": frozenset({"环保管理"}),
    "transport": frozenset({"交通运输", "海事管理"}),
    "health": frozenset({"卫生医疗"}),
    "medical_security": frozenset({"卫生医疗", "劳动和社会保障"}),   # 社会保险
    "education": frozenset({"其他纠纷类"}),                          # 教育问题纠纷
    "civil_affairs": frozenset({"民政救助", "劳动和社会保障"}),       # 社会救济、社会福利
    "natural_resources": frozenset({"林水管理", "住房城乡建设"}),     # 森林、野生动植物; 产权
    "water_resources": frozenset({"林水管理"}),
    "agriculture": frozenset({"农林绿化"}),                          # 动植物疫情
    "commerce": frozenset({"市场监督管理"}),                         # 消费纠纷
    "culture_tourism": frozenset({"文旅管理", "文广管理"}),
    "emergency_management": frozenset({"安全生产监督"}),
    "district_government": frozenset({"其他纠纷类"}),
}


def matches(entry: Mapping[str, object], category: str) -> bool:
    """Whether `category` (an order code or a routing category) is the entry's."""
    if entry.get("category") == category:
        return True
    return category in ROUTING_CATEGORIES_BY_DEPARTMENT.get(str(entry.get("department")), ())
