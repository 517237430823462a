"""The order-event consumer as a process of its own (`hotline orders consume`).

Applying events to the database is the heaviest work the controller had on
its event loop; in a process of its own it runs on the other core and a slow
database cannot delay a call's events. The controller starts and watches it
(`OrderWorker`); ops may instead run it as a separate service.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def consumer_name(controller_id: str | None = None) -> str:
    """This process's name in the group: the controller's id when it has one, else
    host and process id (unique while it lives; a restart is a new consumer, whose
    predecessor's pending entries are claimed after the idle bound)."""
    return f"orders-{controller_id or f'{socket.gethostname()}-{os.getpid()}'}"


async def consume(db_url: str, redis_url: str, consumer: str = "work-orders-1") -> None:
    """Migrate (retrying while the database is away), then apply the stream until cancelled."""
    from services import redis_link

    from . import db
    from .consumer import LINGER_S, OutboxConsumer

    delay = 0.5
    while True:
        try:
            await db.upgrade_async(db_url)
            break
        except Exception as exc:  # noqa: BLE001 - any failure: the database is not ready
            log.warning("order database not ready (%s); retrying in %.1fs",
                        type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    engine = db.make_engine(db_url)
    from services.dispatch.wiring import order_services

    service, _ = await order_services(db.make_session_factory(engine),
                                      lambda: datetime.now(UTC))
    # a blocking stream read outlasts a short socket timeout
    reader = redis_link.connect(redis_url, socket_connect_timeout=1.0, socket_timeout=30.0)
    log.info("order consumer %s applying the outbox stream", consumer)
    try:
        await OutboxConsumer(reader, service, consumer=consumer, linger_s=LINGER_S).run()
    finally:
        await reader.aclose()
        await engine.dispose()


def lower_priority(increment: int) -> None:
    if increment > 0:
        os.nice(increment)


def die_with_parent() -> None:
    """Ask Linux to SIGTERM us when the parent dies, even by SIGKILL: no orphan consumers."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):   # not Linux: the parent check below still applies
        pass


async def run_until_signalled(db_url: str, redis_url: str, consumer: str,
                              parent: int | None = None) -> None:
    task = asyncio.create_task(consume(db_url, redis_url, consumer))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    if parent is not None:
        async def watch_parent() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(1.0)
            log.warning("order consumer: the controller went away; stopping")
            task.cancel()
        watcher = asyncio.create_task(watch_parent())
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        if parent is not None:
            watcher.cancel()


class OrderWorker:
    """Keeps one consumer process running for the controller, restarting it if it dies.

    It runs at a lower CPU priority (`nice`): calls come first, and order
    events wait safely in the stream when the machine is busy.
    """

    def __init__(self, env: Mapping[str, str], consumer: str = "work-orders-1",
                 nice: int = 19) -> None:
        self._env = dict(env)
        self._consumer = consumer
        self._nice = nice
        self._proc: asyncio.subprocess.Process | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    async def run(self) -> None:
        delay = 0.5
        try:
            while True:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "telephony.cli", "orders", "consume",
                    "--consumer", self._consumer, "--parent", str(os.getpid()),
                    "--nice", str(self._nice),
                    env=self._env, stdin=asyncio.subprocess.DEVNULL)
                log.info("order consumer started (pid %d)", self._proc.pid)
                code = await self._proc.wait()
                self.restarts += 1
                log.error("order consumer exited with %s; restarting in %.1fs", code, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        finally:
            await self._terminate()

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()
