import re
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import services.call_log.models  # noqa: F401 - its tables are on Base too
import services.dispatch.models  # noqa: F401  (its tables share Base: see 0003_dispatch)
import services.knowledge.models  # noqa: F401 - its tables are on Base too
from services.work_orders import db
from services.work_orders.models import Base

PACKAGE = Path(db.__file__).parent


def _diff(sync_conn):
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations_build_exactly_the_models(engine):
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
    assert await db.current_revision(engine) == db.head_revision()


async def test_migrations_go_down_and_up_again(engine, db_url):
    def down(sync_conn):
        config = db.alembic_config()
        config.attributes["connection"] = sync_conn
        command.downgrade(config, "base")

    async with engine.begin() as conn:
        await conn.run_sync(down)
    assert await db.current_revision(engine) is None
    db.upgrade(db_url)  # from inside a running event loop, as a controller would
    db.upgrade(db_url)  # and again: nothing to do
    assert await db.current_revision(engine) == db.head_revision()


def test_no_code_outside_migrations_creates_or_alters_tables():
    pattern = re.compile(
        r"create_all|drop_all|CREATE TABLE|ALTER TABLE|\.create\(bind", re.IGNORECASE
    )
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_controller_side_modules_do_not_pull_in_sqlalchemy():
    code = (
        "import sys, services.privacy, services.work_orders.ids, services.work_orders.events, "
        "services.work_orders.outbox, services.work_orders.levels, services.work_orders.status; "
        "sys.exit('sqlalchemy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_default_database_is_sqlite_in_the_data_directory(monkeypatch, tmp_path):
    from telephony.cli import orders_config

    assert db.resolve_url(None, data_dir=tmp_path) == f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    assert db.resolve_url("postgresql+asyncpg://h/x", data_dir=tmp_path) == "postgresql+asyncpg://h/x"
    assert db.resolve_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    # the settings name the data directory and the URL; the services only receive them
    monkeypatch.delenv("HOTLINE_DB_URL", raising=False)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    assert orders_config().db_url == f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    monkeypatch.setenv("HOTLINE_DB_URL", "postgresql+asyncpg://h/x")
    assert orders_config().db_url == "postgresql+asyncpg://h/x"


def test_without_a_data_dir_setting_the_fallback_is_the_users_share(monkeypatch, tmp_path):
    monkeypatch.delenv("HOTLINE_DATA_DIR", raising=False)
    monkeypatch.setattr(db, "SYSTEM_DATA_DIR", tmp_path / "ro" / "hotline-link")
    (tmp_path / "ro").mkdir(mode=0o500)
    monkeypatch.setattr(db.os, "access", lambda path, mode: False)
    assert db.default_data_dir() == Path.home() / ".local" / "share" / "hotline-link"
