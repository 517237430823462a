"""`hotline orders` against a real SQLite file (the embedded default)."""

import argparse
import asyncio
import json
from datetime import UTC, datetime

import pytest

from services.work_orders import cli
from services.work_orders.db import make_engine, make_session_factory
from services.work_orders.levels import Calendar
from services.work_orders.service import WorkOrderService
from telephony.cli import orders_config

from .helpers import CITIZEN, open_order


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="hotline")
    cli.register(parser.add_subparsers(dest="command", required=True), orders_config)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HOTLINE_DB_URL", raising=False)
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'orders.db'}"


def seed(url: str) -> str:
    async def go():
        engine = make_engine(url)
        service = WorkOrderService(
            make_session_factory(engine), lambda: datetime.now(UTC), Calendar()
        )
        order_id = await open_order(service, summary="路灯不亮")
        await engine.dispose()
        return order_id

    return asyncio.run(go())


def test_commands_refuse_an_unmigrated_database(db, capsys):
    assert run("orders", "list") == 2
    assert "hotline orders migrate" in capsys.readouterr().err


def test_migrate_then_list_show_export_import(db, tmp_path, capsys):
    assert run("orders", "migrate") == 0  # default URL from HOTLINE_DATA_DIR
    assert (tmp_path / "data" / "orders.db").exists()
    order_id = seed(db)
    capsys.readouterr()

    assert run("orders", "list") == 0
    listing = capsys.readouterr().out
    assert order_id in listing and "138****8000" in listing and CITIZEN not in listing

    assert run("orders", "show", order_id) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["citizen_number"] == "138****8000" and shown["summary"] == "路灯不亮"

    out = tmp_path / "orders.csv"
    assert run("orders", "export", "--format", "csv", "-o", str(out)) == 0
    assert "路灯不亮" in out.read_text(encoding="utf-8")
    assert run("orders", "export", "--format", "jsonl") == 0
    exported = capsys.readouterr().out
    assert json.loads(exported.splitlines()[0])["order_id"] == order_id

    other = tmp_path / "other.db"
    other_url = f"sqlite+aiosqlite:///{other}"
    assert run("orders", "migrate", "--db", other_url) == 0
    assert run("orders", "import", str(out), "--db", other_url) == 0
    assert "imported 1 orders" in capsys.readouterr().out
    assert run("orders", "import", str(out), "--db", other_url) == 0
    assert "imported 0 orders, kept 1 existing" in capsys.readouterr().out
    assert run("orders", "rates", "--db", other_url, "--by", "region,period") == 0
    assert json.loads(capsys.readouterr().out)["group"]["region"] == "620102"


def test_show_unknown_order_is_an_error_not_a_traceback(db, capsys):
    run("orders", "migrate")
    assert run("orders", "show", "WO-20261123-000000000000") == 1
    assert "no order" in capsys.readouterr().err


def test_database_url_comes_from_the_environment(db, tmp_path, monkeypatch, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("HOTLINE_DB_URL", url)
    assert run("orders", "migrate") == 0
    assert "env.db" in capsys.readouterr().out
