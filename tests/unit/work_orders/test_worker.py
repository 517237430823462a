"""The order consumer as its own process: started, restarted when it dies, stopped
with the controller, and nothing published is lost across the restart."""
import asyncio
import os
import shutil
import signal

import pytest

from services.work_orders.outbox import Outbox
from services.work_orders.worker import OrderWorker

from .helpers import opened


async def wait_for(predicate, timeout: float = 30.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout}s")


@pytest.fixture
async def new_database(sqlite_template, tmp_path):
    """SQLite only: this is about the process, not the database kind."""
    async def make() -> str:
        target = tmp_path / "orders.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"
    return make


async def test_worker_applies_restarts_after_a_kill_and_stops_with_its_owner(
        service, db_url, redis, redis_server, tmp_path):
    outbox = Outbox(redis, tmp_path / "spool")
    worker = OrderWorker({**os.environ, "HOTLINE_DB_URL": db_url,
                          "HOTLINE_REDIS_URL": redis_server.url})
    running = asyncio.create_task(worker.run())
    try:
        first = opened(service)
        await outbox.publish(first)
        await wait_for(lambda: service.was_applied(first.event_id))
        pid = worker.pid
        assert pid is not None

        os.kill(pid, signal.SIGKILL)                     # the consumer dies ...
        second = opened(service)
        await outbox.publish(second)                     # ... while an event waits
        await wait_for(lambda: service.was_applied(second.event_id))
        assert worker.restarts == 1 and worker.pid not in (None, pid)
    finally:
        last = worker.pid
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert last is not None
    with pytest.raises(ProcessLookupError):             # stopped with its owner, not orphaned
        os.kill(last, 0)
