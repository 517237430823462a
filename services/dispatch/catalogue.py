"""The dispatch catalogue (派单目录) as data: departments and their responsibility items
(权责清单), each item with the categories and regions it covers and its keywords.

The lab ships the city's catalogue in `data/` (departments.v1.json is the lab's fixed
department list; catalogue.v1.jsonl the items, written from the departments' remits
and the seeds' diversion list). `hotline dispatch import|export` moves it in and out
of the database as JSON lines, one department or item per line.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

DATA_DIR = Path(__file__).parent / "data"
DEPARTMENTS_PATH = DATA_DIR / "departments.v1.json"
ITEMS_PATH = DATA_DIR / "catalogue.v1.jsonl"
FALLBACK_DEPARTMENT = "district_government"   # 属地: what no department's items claim

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ITEM_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}\.[0-9a-z_]{1,16}$")
_REGION = re.compile(r"^\d{6}$")
_TEXT_LIMIT = 200


class CatalogueError(ValueError):
    """A catalogue record is wrong; the message names the line and the field."""


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    remit: str

    def to_record(self) -> dict[str, Any]:
        return {"kind": "department", "id": self.id, "name": self.name, "remit": self.remit}


@dataclass(frozen=True)
class Item:
    """One responsibility of one department: what it covers, where, and on which words."""

    item_id: str
    department: str
    title: str
    categories: tuple[str, ...]
    regions: tuple[str, ...]
    keywords: tuple[str, ...]

    def covers_region(self, region: str | None) -> bool:
        return region is None or any(region_covers(r, region) for r in self.regions)

    def to_record(self) -> dict[str, Any]:
        return {"kind": "item", "item_id": self.item_id, "department": self.department,
                "title": self.title, "categories": list(self.categories),
                "regions": list(self.regions), "keywords": list(self.keywords)}


def region_covers(item_region: str, order_region: str) -> bool:
    """GB/T 2260: 410000 covers the province, 410300 the city and its districts, 410302
    one district only."""
    if item_region.endswith("0000"):
        return order_region[:2] == item_region[:2]
    if item_region.endswith("00"):
        return order_region[:4] == item_region[:4]
    return order_region[:6] == item_region


@dataclass(frozen=True)
class Catalogue:
    departments: Mapping[str, Department]
    items: tuple[Item, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for item in self.items:
            if item.department not in self.departments:
                raise CatalogueError(f"item {item.item_id}: unknown department {item.department}")
            if item.item_id in seen:
                raise CatalogueError(f"item {item.item_id} appears twice")
            seen.add(item.item_id)

    def items_of(self, department: str) -> list[Item]:
        return [i for i in self.items if i.department == department]

    def records(self) -> Iterator[dict[str, Any]]:
        """Departments first, then items: the export's line order."""
        for department in self.departments.values():
            yield department.to_record()
        for item in self.items:
            yield item.to_record()


def department_from(record: Mapping[str, Any], where: str = "") -> Department:
    _check_id(record.get("id"), f"{where}id")
    return Department(id=record["id"], name=_text(record.get("name"), f"{where}name"),
                      remit=_text(record.get("remit", ""), f"{where}remit", allow_empty=True))


def item_from(record: Mapping[str, Any], where: str = "") -> Item:
    item_id = record.get("item_id")
    if not isinstance(item_id, str) or not _ITEM_ID.match(item_id):
        raise CatalogueError(f"{where}item_id must look like department.01, not {item_id!r}")
    _check_id(record.get("department"), f"{where}department")
    regions = _strings(record.get("regions"), f"{where}regions")
    bad = [r for r in regions if not _REGION.match(r)]
    if bad or not regions:
        raise CatalogueError(f"{where}regions must be six-digit region codes, not {bad}")
    keywords = _strings(record.get("keywords"), f"{where}keywords")
    if not keywords:
        raise CatalogueError(f"{where}keywords: an item needs at least one keyword")
    return Item(item_id=item_id, department=record["department"],
                title=_text(record.get("title"), f"{where}title"),
                categories=tuple(_strings(record.get("categories", []), f"{where}categories")),
                regions=tuple(regions), keywords=tuple(keywords))


def read_records(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank line; bad JSON names its line."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"line {number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise CatalogueError(f"line {number}: a record is a JSON object")
        yield number, record


def parse_records(
    records: Iterable[tuple[int, dict[str, Any]]],
) -> tuple[list[Department], list[Item]]:
    departments: list[Department] = []
    items: list[Item] = []
    for number, record in records:
        kind = record.get("kind", "item")
        if kind == "department":
            departments.append(department_from(record, f"line {number}: "))
        elif kind == "item":
            items.append(item_from(record, f"line {number}: "))
        else:
            raise CatalogueError(f"line {number}: kind must be department or item, not {kind!r}")
    return departments, items


def write_records(catalogue: Catalogue, stream: IO[str]) -> int:
    count = 0
    for record in catalogue.records():
        stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def load_shipped(departments_path: Path = DEPARTMENTS_PATH,
                 items_path: Path = ITEMS_PATH) -> Catalogue:
    """The lab city's catalogue from the package's data files."""
    raw = json.loads(departments_path.read_text(encoding="utf-8"))
    departments = [department_from(d, f"{departments_path.name}[{i}]: ")
                   for i, d in enumerate(raw)]
    with items_path.open(encoding="utf-8") as stream:
        extra, items = parse_records(read_records(stream))
    return Catalogue({d.id: d for d in [*departments, *extra]}, tuple(items))


def _check_id(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise CatalogueError(f"{where} must be a lower-case id, not {value!r}")


def _text(value: Any, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value.strip() and not allow_empty):
        raise CatalogueError(f"{where} must be a non-empty string")
    if len(value) > _TEXT_LIMIT or any(ord(c) < 32 for c in value):
        raise CatalogueError(f"{where} must be one line of at most {_TEXT_LIMIT} characters")
    return value.strip()


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or len(value) > 100:
        raise CatalogueError(f"{where} must be a list of at most 100 strings")
    return [_text(v, f"{where}[{i}]") for i, v in enumerate(value)]
