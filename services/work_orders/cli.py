"""`hotline orders`: list, show, export and import orders, and migrate the database.

The database is `--db`, else HOTLINE_DB_URL, else SQLite under HOTLINE_DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from .config import OrdersConfig
from .db import current_revision, head_revision, make_engine, make_session_factory, resolve_url
from .db import upgrade as run_upgrade
from .errors import WorkOrderError
from .levels import Calendar
from .service import WorkOrderService
from .views import Role

EXIT_OK, EXIT_ERROR, EXIT_NOT_MIGRATED = 0, 1, 2


# how a command finds the database and Redis when not given --db/--redis; None: the
# environment, as before (the caller passes one built from its settings)
_config: Callable[[], OrdersConfig] | None = None


def register(subparsers: Any, config: Callable[[], OrdersConfig] | None = None) -> None:
    global _config
    _config = config
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", help="database URL (default: $HOTLINE_DB_URL, else SQLite under $HOTLINE_DATA_DIR)"
    )
    orders = subparsers.add_parser(
        "orders", help="work orders (12345) and police orders (110) in the shared database"
    )
    sub = orders.add_subparsers(dest="orders_command", required=True)

    listing = sub.add_parser("list", parents=[common], help="list orders, newest first")
    listing.add_argument("--status")
    listing.add_argument("--platform", choices=["12345", "110"])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_command(_list))

    show = sub.add_parser("show", parents=[common], help="one order with its history and links")
    show.add_argument("order_id")
    show.add_argument(
        "--role", default=Role.SUPERVISOR, choices=[str(r) for r in Role],
        help="whose view to show (the number is masked unless the role may see it)",
    )  # fmt: skip
    show.set_defaults(func=_command(_show))

    export = sub.add_parser("export", parents=[common], help="export every order")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    export.set_defaults(func=_command(_export))

    load = sub.add_parser("import", parents=[common], help="import orders from JSONL or CSV")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file name")
    load.set_defaults(func=_command(_import))

    rates = sub.add_parser("rates", parents=[common], help="response, resolution, satisfaction")
    rates.add_argument("--by", default="department", help="comma list of department,region,period")
    rates.add_argument("--period", default="month", choices=["day", "week", "month", "year"])
    rates.set_defaults(func=_command(_rates))

    migrate = sub.add_parser("migrate", parents=[common], help="create or upgrade the tables")
    migrate.set_defaults(func=_migrate)

    consume = sub.add_parser(
        "consume", parents=[common],
        help="apply the order events from the Redis outbox stream (the controller starts this)")
    consume.add_argument("--redis", help="Redis URL (default: $HOTLINE_REDIS_URL)")
    consume.add_argument("--consumer", default="work-orders-1",
                         help="consumer name in the stream's group (one per process)")
    consume.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # exit with this pid
    consume.add_argument("--nice", type=int, default=0,
                         help="lower this process's CPU priority by N (calls come first)")
    consume.add_argument("--log-level", default="INFO")
    consume.set_defaults(func=_consume)


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _db_url(args: argparse.Namespace) -> str:
    if args.db or _config is None:
        return resolve_url(args.db)
    return _config().db_url


def _migrate(args: argparse.Namespace) -> int:
    url = _db_url(args)
    run_upgrade(url)
    print(f"database {_display(url)} is at revision {head_revision()}")
    return EXIT_OK


def _consume(args: argparse.Namespace) -> int:
    import os

    from telephony.logs import configure_logging

    from .worker import die_with_parent, lower_priority, run_until_signalled

    redis_url = args.redis or (_config().redis_url if _config is not None
                               else os.environ.get("HOTLINE_REDIS_URL"))
    if not redis_url:
        print("error: no Redis URL (--redis or HOTLINE_REDIS_URL)", file=sys.stderr)
        return EXIT_ERROR
    configure_logging(args.log_level)
    lower_priority(args.nice)
    if args.parent is not None:
        die_with_parent()
    asyncio.run(run_until_signalled(_db_url(args), redis_url, args.consumer, args.parent))
    return EXIT_OK


Handler = Callable[[WorkOrderService, argparse.Namespace], Awaitable[int]]


def _command(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_service(handler, args))

    return run


async def _with_service(handler: Handler, args: argparse.Namespace) -> int:
    url = _db_url(args)
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
