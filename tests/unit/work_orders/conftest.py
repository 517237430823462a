"""Real databases and a real Redis for the work-order tests.

Every database test runs on SQLite and on PostgreSQL. PostgreSQL is a throwaway
cluster started here (as the `postgres` user when run as root), or the server
in HOTLINE_TEST_PG_URL (its user needs CREATEDB). Each test gets a fresh
database copied from a template that the migrations built once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from services.work_orders.db import make_engine, make_session_factory, upgrade
from services.work_orders.levels import Calendar
from services.work_orders.outbox import make_redis
from services.work_orders.service import WorkOrderService
from tests.support.postgres import PgCluster, free_port, pg_bin

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
TEMPLATE = "hotline_template"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL of a PostgreSQL server we may create databases on."""
    configured = os.environ.get("HOTLINE_TEST_PG_URL")
    if configured:
        yield configured
        return
    bin_dir = pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found; set HOTLINE_PG_BIN")
    cluster = PgCluster(bin_dir)
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.destroy()


async def _admin(server_url: str, *statements: str) -> None:
    import asyncpg

    url = make_url(server_url)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password,
        database=url.database or "postgres",
    )  # fmt: skip
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _blocking(coro) -> None:
    # Session fixtures may first be needed from inside a test's running event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def _database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """A database the migrations built once; tests copy it."""
    name = f"{TEMPLATE}_{uuid.uuid4().hex[:8]}"
    _blocking(_admin(postgres_server, f'CREATE DATABASE "{name}"'))
    upgrade(_database_url(postgres_server, name))
    yield name
    _blocking(_admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "orders.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def new_database(request: pytest.FixtureRequest, tmp_path: Path):
    """Makes freshly migrated, empty databases of one kind (each test runs on both kinds)."""
    made: list[str] = []
    kind = request.param
    if kind == "postgresql":
        server = request.getfixturevalue("postgres_server")
        pg_template = request.getfixturevalue("postgres_template")
    else:
        sqlite_file = request.getfixturevalue("sqlite_template")

    async def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            shutil.copy(sqlite_file, tmp_path / f"{name}.db")
            return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        await _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
        made.append(name)
        return _database_url(server, name)

    yield make
    for name in made:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db_url(new_database) -> str:
    return await new_database()


@pytest.fixture
async def engine(db_url: str):
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


# Monday 2026-11-23 09:00 Beijing time.
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def calendar() -> Calendar:
    return Calendar()


@pytest.fixture
def service(engine, clock: FakeClock, calendar: Calendar) -> WorkOrderService:
    return WorkOrderService(make_session_factory(engine), clock, calendar)


@dataclass
class RedisServer:
    """A real redis-server on a free port that a test can kill and start again.

    Run as production should: with an fsync'd append-only file, so a stream
    entry Redis acknowledged survives a crash, and the lab's ACL (default user off, one
    user with a password and the lab's command and key rules).
    """

    port: int
    directory: Path
    process: subprocess.Popen | None = None
    acl_extra: tuple[str, ...] = ()     # more ACL users, e.g. a replica's
    args: tuple[str, ...] = ()          # more redis-server arguments, e.g. --replicaof

    @property
    def url(self) -> str:
        return f"redis://hotline:test-redis-pw@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from telephony.lab.lab import write_redis_acl

        acl = write_redis_acl(self.directory / "users.acl", "hotline", "test-redis-pw",
                              extra=list(self.acl_extra))
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--aclfile", str(acl), "--protected-mode", "yes",
             *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"AUTH hotline test-redis-pw\r\nPING\r\n")
                    if b"+PONG" in sock.recv(32) or b"+PONG" in sock.recv(32):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server not installed (Debian package redis-server)")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer):
    """A client of the test's redis-server."""
    client = make_redis(redis_server.url)
    yield client
    await client.aclose()
