"""A fresh SQLite database per test, migrated once into a template."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.knowledge.service import Editor, KnowledgeService
from services.work_orders.db import make_engine, make_session_factory, upgrade

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SUP = Editor("sup", "supervisor")
HOUSING = Editor("dept_housing", "department", "housing")
HRSS = Editor("dept_hrss", "department", "hrss")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kb") / "kb.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rendered() -> list[tuple[str, int, str]]:
    return []


@pytest.fixture
async def kb(template: Path, tmp_path: Path, clock: Clock, rendered):
    db = tmp_path / "kb.db"
    shutil.copy(template, db)
    engine = make_engine(f"sqlite+aiosqlite:///{db}")

    def render(entry_id: str, version: int, text: str) -> str:
        rendered.append((entry_id, version, text))
        return f"hotline/kb/{entry_id}-v{version}"

    yield KnowledgeService(make_session_factory(engine), clock=clock, renderer=render)
    await engine.dispose()


def entry(**overrides) -> dict:
    return {"question": "物业不作为怎么投诉？", "alternatives": ["物业服务差"],
            "answer": "先向物业公司书面提出，再向社区和住房和城乡建设部门反映。",
            "department": "housing", "region_code": "410300", "category": "housing",
            "review_at": "2027-06-30T00:00:00+00:00", **overrides}
