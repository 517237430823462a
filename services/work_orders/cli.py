"""`hotline orders`: list, show, export and import orders, and migrate the database.

The database is `--db`, else the one the settings name (`config`, read only when a
command runs, so `hotline --help` needs no settings).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from services.event_loop import loop_factory

from .config import OrdersConfig
from .db import current_revision, head_revision, make_engine, make_session_factory
from .db import upgrade as run_upgrade
from .errors import WorkOrderError
from .levels import Calendar
from .service import WorkOrderService
from .views import Role

EXIT_OK, EXIT_ERROR, EXIT_NOT_MIGRATED = 0, 1, 2

Config = Callable[[], OrdersConfig]
LogSetup = Callable[[str], None]


def register(subparsers: Any, config: Config, *,
             configure_logging: LogSetup | None = None) -> None:
    """`hotline orders ...`; `configure_logging(level)` sets up the consumer's log (the
    caller's masking set-up; plain `logging.basicConfig` if none is given)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", help="database URL (default: $HOTLINE_DB_URL, else SQLite under $HOTLINE_DATA_DIR)"
    )
    orders = subparsers.add_parser(
        "orders", help="work orders (12345) and police orders (110) in the shared database"
    )
    sub = orders.add_subparsers(dest="orders_command", required=True)
    _add_reads(sub, common, config)
    _add_exchange(sub, common, config)
    migrate = sub.add_parser("migrate", parents=[common], help="create or upgrade the tables")
    migrate.set_defaults(func=lambda args: _migrate(args, config))
    _add_consume(sub, common, config, configure_logging or _basic_logging)


def _add_reads(sub: Any, common: argparse.ArgumentParser, config: Config) -> None:
    listing = sub.add_parser("list", parents=[common], help="list orders, newest first")
    listing.add_argument("--status")
    listing.add_argument("--platform", choices=["12345", "110"])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_command(_list, config))

    show = sub.add_parser("show", parents=[common], help="one order with its history and links")
    show.add_argument("order_id")
    show.add_argument(
        "--role", default=Role.SUPERVISOR, choices=[str(r) for r in Role],
        help="whose view to show (the number is masked unless the role may see it)",
    )  # fmt: skip
    show.set_defaults(func=_command(_show, config))

    rates = sub.add_parser("rates", parents=[common], help="response, resolution, satisfaction")
    rates.add_argument("--by", default="department", help="comma list of department,region,period")
    rates.add_argument("--period", default="month", choices=["day", "week", "month", "year"])
    rates.set_defaults(func=_command(_rates, config))


def _add_exchange(sub: Any, common: argparse.ArgumentParser, config: Config) -> None:
    export = sub.add_parser("export", parents=[common], help="export every order")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    export.set_defaults(func=_command(_export, config))

    load = sub.add_parser("import", parents=[common], help="import orders from JSONL or CSV")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file name")
    load.set_defaults(func=_command(_import, config))


def _add_consume(sub: Any, common: argparse.ArgumentParser, config: Config,
                 configure_logging: LogSetup) -> None:
    consume = sub.add_parser(
        "consume", parents=[common],
        help="apply the order events from the Redis outbox stream (the controller starts this)")
    consume.add_argument("--redis", help="Redis URL (default: $HOTLINE_REDIS_URL)")
    consume.add_argument("--consumer", default=None,
                         help="consumer name in the stream's group, one per process "
                              "(default: orders-<host>-<pid>)")
    consume.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # exit with this pid
    consume.add_argument("--nice", type=int, default=0,
                         help="lower this process's CPU priority by N (calls come first)")
    consume.add_argument("--log-level", default="INFO")
    consume.set_defaults(func=lambda args: _consume(args, config, configure_logging))


def _basic_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _db_url(args: argparse.Namespace, config: Config) -> str:
    return str(args.db) if args.db else config().db_url


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _migrate(args: argparse.Namespace, config: Config) -> int:
    url = _db_url(args, config)
    run_upgrade(url)
    print(f"database {_display(url)} is at revision {head_revision()}")
    return EXIT_OK


def _consume(args: argparse.Namespace, config: Config, configure_logging: LogSetup) -> int:
    from .worker import consumer_name, die_with_parent, lower_priority, run_until_signalled

    config = functools.cache(config)   # the settings are read once, if a flag is missing
    redis_url = args.redis or config().redis_url
    if not redis_url:
        print("error: no Redis URL (--redis or HOTLINE_REDIS_URL)", file=sys.stderr)
        return EXIT_ERROR
    db_url = _db_url(args, config)
    configure_logging(args.log_level)
    lower_priority(args.nice)
    if args.parent is not None:
        die_with_parent()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(run_until_signalled(db_url, redis_url, args.consumer or consumer_name(),
                                       args.parent))
    return EXIT_OK


Handler = Callable[[WorkOrderService, argparse.Namespace], Awaitable[int]]


def _command(handler: Handler, config: Config) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_service(handler, args, _db_url(args, config)))

    return run


async def _with_service(handler: Handler, args: argparse.Namespace, url: str) -> int:
    engine = make_engine(url)
    try:
        if await current_revision(engine) != head_revision():
            print(
                f"database {_display(url)} is not migrated; run `hotline orders migrate`",
                file=sys.stderr,
            )
            return EXIT_NOT_MIGRATED
        service = WorkOrderService(
            make_session_factory(engine), lambda: datetime.now(UTC), Calendar()
        )
        return await handler(service, args)
    except WorkOrderError as exc:
        print(f"error: {exc.message} {json.dumps(exc.details, ensure_ascii=False)}",
              file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    finally:
        await engine.dispose()


async def _list(service: WorkOrderService, args: argparse.Namespace) -> int:
    rows = await service.list_orders(status=args.status, platform=args.platform, limit=args.limit)
    tz = service.calendar.tz
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=_json_default))
        return EXIT_OK
    print(f"{'ORDER':<24} {'PLATFORM':<8} {'STATUS':<12} {'LEVEL':<5} {'DEADLINE':<16} "
          f"{'CITIZEN':<14} DEPARTMENT")  # fmt: skip
    for row in rows:
        deadline = row["deadline_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M")
        print(f"{row['order_id']:<24} {row['platform']:<8} {row['status']:<12} "
              f"{row['level']:<5} {deadline:<16} {row['citizen']:<14} {row['department'] or '-'}")  # fmt: skip
    return EXIT_OK


async def _show(service: WorkOrderService, args: argparse.Namespace) -> int:
    view = await service.view(args.order_id, args.role)
    print(json.dumps(view, ensure_ascii=False, indent=2, default=_json_default))
    return EXIT_OK


async def _export(service: WorkOrderService, args: argparse.Namespace) -> int:
    if args.output is None:
        count = await service.export(sys.stdout, args.format)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            count = await service.export(out, args.format)
    print(f"exported {count} orders", file=sys.stderr)
    return EXIT_OK


async def _import(service: WorkOrderService, args: argparse.Namespace) -> int:
    fmt = args.format or ("csv" if args.file.suffix.lower() == ".csv" else "jsonl")
    with args.file.open(encoding="utf-8", newline="") as stream:
        counts = await service.import_stream(stream, fmt)
    print(f"imported {counts['orders']} orders, kept {counts['skipped']} existing, "
          f"added {counts['entries']} history entries, visits, notices and links")  # fmt: skip
    return EXIT_OK


async def _rates(service: WorkOrderService, args: argparse.Namespace) -> int:
    by = [name.strip() for name in args.by.split(",") if name.strip()]
    for row in await service.rates(by=by, period=args.period):
        print(json.dumps(row.to_dict(), ensure_ascii=False))
    return EXIT_OK


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")
