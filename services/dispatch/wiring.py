"""Building the dispatch service where a work-order service is built (the controller, the
order consumer process): the shipped catalogue goes into an empty database, and the
suggester is made from the database's catalogue."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dispatch.catalogue import load_shipped
from services.dispatch.service import DispatchService
from services.work_orders.levels import Calendar
from services.work_orders.service import WorkOrderService

log = logging.getLogger(__name__)


async def start_dispatch(session_factory: async_sessionmaker[AsyncSession],
                         clock: Callable[[], datetime]) -> DispatchService | None:
    """A ready dispatch service, or None (logged) when it cannot be had: orders then go
    on without department suggestions, and the dispatch endpoints answer 503."""
    service = DispatchService(session_factory, clock)
    try:
        try:
            if await service.ensure_catalogue(load_shipped):
                log.info("dispatch catalogue: the shipped catalogue loaded into the database")
        except IntegrityError:
            log.info("dispatch catalogue: another process loaded it first")
        await service.load_suggester()
    except Exception:
        log.exception("the dispatch service could not start; orders go on without it")
        return None
    assert service.suggester is not None
    log.info("dispatch suggester ready: %d departments, %d items",
             len(service.suggester.catalogue.departments), len(service.suggester.catalogue.items))
    return service


async def order_services(session_factory: async_sessionmaker[AsyncSession],
                         clock: Callable[[], datetime]
                         ) -> tuple[WorkOrderService, DispatchService | None]:
    """The work-order service with the dispatch suggestion hooked into it (when the dispatch
    service starts): the one way the controller and the consumer process build them."""
    dispatch = await start_dispatch(session_factory, clock)
    orders = WorkOrderService(session_factory, clock=clock, calendar=Calendar(),
                              after_apply=[dispatch.after_apply] if dispatch else [],
                              after_batch=[dispatch.after_batch] if dispatch else [])
    return orders, dispatch
