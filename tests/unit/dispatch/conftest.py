"""Dispatch tests run on the work-order tests' real databases (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from services.dispatch.catalogue import load_shipped
from services.dispatch.service import DispatchService
from services.dispatch.suggester import DispatchSuggester
from services.work_orders.db import make_session_factory
from services.work_orders.levels import Calendar
from services.work_orders.service import WorkOrderService
from tests.unit.work_orders import conftest as work_orders

# The work-order tests' databases: each test runs on SQLite and on PostgreSQL.
postgres_server = work_orders.postgres_server
postgres_template = work_orders.postgres_template
sqlite_template = work_orders.sqlite_template
new_database = work_orders.new_database
db_url = work_orders.db_url
engine = work_orders.engine


@pytest.fixture(scope="session")
def suggester() -> DispatchSuggester:
    return DispatchSuggester(load_shipped())


@pytest.fixture
def clock() -> work_orders.FakeClock:
    return work_orders.FakeClock(work_orders.START)


@pytest.fixture
async def dispatch(engine, clock, suggester) -> DispatchService:
    service = DispatchService(make_session_factory(engine), clock, suggester)
    catalogue = suggester.catalogue
    await service.import_catalogue(catalogue.departments.values(), catalogue.items)
    return service


@pytest.fixture
def orders(engine, clock, dispatch: DispatchService) -> WorkOrderService:
    return WorkOrderService(make_session_factory(engine), clock, Calendar(),
                            after_apply=[dispatch.after_apply])
