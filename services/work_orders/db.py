"""Engines, sessions and migrations of the work-order database.

SQLite in the data directory is the embedded default; PostgreSQL is production.
Nothing here reads the environment: the caller passes the finished URL.
Tables are only ever created or changed by the Alembic migrations shipped in
this package, run with `upgrade()` (or `hotline orders migrate`).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")
SYSTEM_DATA_DIR = Path("/var/lib/hotline-link")


def default_data_dir() -> Path:
    """/var/lib/hotline-link if writable, else ~/.local/share/hotline-link (the settings
    name the data directory; this is only the fallback when they do not)."""
    probe = SYSTEM_DATA_DIR if SYSTEM_DATA_DIR.exists() else SYSTEM_DATA_DIR.parent
    if os.access(probe, os.W_OK):
        return SYSTEM_DATA_DIR
    return Path.home() / ".local" / "share" / "hotline-link"


def default_url(data_dir: Path | None = None) -> str:
    return f"sqlite+aiosqlite:///{(data_dir or default_data_dir()) / 'orders.db'}"


def resolve_url(url: str | None = None, *, data_dir: Path | None = None) -> str:
    """`url` as given (the settings put the password in it), else SQLite in `data_dir`."""
    return url or default_url(data_dir)


def make_engine(url: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine tuned so a slow or absent database fails fast instead of hanging."""
    url = resolve_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 5})
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_driver_name() == "asyncpg":
        kwargs.setdefault("connect_args", {"timeout": 5, "command_timeout": 30})
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Config pointing at the migrations inside the package, so installs need no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade_async(target: str | AsyncEngine | None = None, revision: str = "head") -> None:
    """Run the migrations up to `revision` on a URL or an existing engine."""
    engine = target if isinstance(target, AsyncEngine) else make_engine(target)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_upgrade, revision)
    finally:
        if engine is not target:
            await engine.dispose()


def _run_upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Blocking form of `upgrade_async`; usable from a CLI or from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(upgrade_async(url, revision))
        return
    # A loop is running here: migrate on a private loop in a worker thread.
    with ThreadPoolExecutor(1, thread_name_prefix="work-orders-migrate") as pool:
        pool.submit(asyncio.run, upgrade_async(url, revision)).result()
