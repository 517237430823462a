"""Alembic environment: runs on a connection handed in by `db.upgrade`, or, from the
alembic command line, on `-x db=URL`, else `sqlalchemy.url`, else SQLite in the
default data directory."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import services.call_log.models  # noqa: F401 - the call log's tables (0005_call_log)
import services.dispatch.models  # noqa: F401  (its tables share Base: see 0003_dispatch)
import services.knowledge.models  # noqa: F401 - registers the knowledge-base tables on Base
import services.recordings.models  # noqa: F401 - the recording tables (0006_recordings)
from services.work_orders.db import make_engine, resolve_url
from services.work_orders.models import Base

config = context.config
target_metadata = Base.metadata


def command_line_url() -> str:
    return resolve_url(context.get_x_argument(as_dictionary=True).get("db")
                       or config.get_main_option("sqlalchemy.url"))


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url() -> None:
    engine = make_engine(command_line_url())
    async with engine.begin() as conn:
        await conn.run_sync(run_on)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=command_line_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run_on(config.attributes["connection"])
else:
    asyncio.run(run_from_url())
