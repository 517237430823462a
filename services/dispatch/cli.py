"""`hotline dispatch`: the dispatch catalogue in and out of the database, a suggestion for
a text, and the suggester's score on a labelled file.

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

from services.dispatch.catalogue import CatalogueError, parse_records, read_records, write_records

EXIT_OK, EXIT_ERROR, EXIT_NOT_MIGRATED = 0, 1, 2


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", help="database URL (default: $HOTLINE_DB_URL, else SQLite under $HOTLINE_DATA_DIR)")
    parser = subparsers.add_parser(
        "dispatch", help="the dispatch catalogue (派单目录) and the department suggester")
    sub = parser.add_subparsers(dest="dispatch_command", required=True)

    load = sub.add_parser("import", parents=[common],
                          help="add or update departments and items from a JSON lines file")
    load.add_argument("file", type=Path)
    load.set_defaults(func=_db_command(_import))

    export = sub.add_parser("export", parents=[common],
                            help="write the catalogue as JSON lines (departments, then items)")
    export.add_argument("file", type=Path, help="file to write ('-': stdout)")
    export.set_defaults(func=_db_command(_export))

    suggest = sub.add_parser("suggest", help="the department suggestion for a text, as JSON")
    suggest.add_argument("text")
    suggest.add_argument("--category")
    suggest.add_argument("--region")
    suggest.set_defaults(func=_suggest)

    score = sub.add_parser("eval", help="top-1, top-3 and confusions on a JSONL file of "
                           '{"text", "department"} lines (the shipped catalogue)')
    score.add_argument("file", type=Path)
    score.add_argument("--json", action="store_true", help="the figures as one JSON object")
    score.set_defaults(func=_eval)


def _suggest(args: argparse.Namespace) -> int:
    from services.dispatch.suggester import DispatchSuggester

    result = DispatchSuggester.shipped().suggest(args.text, args.category, args.region)
    print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    from services.dispatch.evaluation import evaluate, read_examples, render
    from services.dispatch.suggester import DispatchSuggester

    try:
        with args.file.open(encoding="utf-8") as stream:
            examples = list(read_examples(stream))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    result = evaluate(DispatchSuggester.shipped(), examples)
    print(json.dumps(result, ensure_ascii=False) if args.json else render(result, str(args.file)))
    return EXIT_OK


Handler = Callable[[Any, argparse.Namespace], Awaitable[int]]


def _db_command(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_service(handler, args))

    return run


async def _with_service(handler: Handler, args: argparse.Namespace) -> int:
    from services.dispatch.service import DispatchService
    from services.work_orders.db import (
        current_revision,
        head_revision,
        make_engine,
        make_session_factory,
        resolve_url,
    )
    from services.work_orders.errors import WorkOrderError

    engine = make_engine(resolve_url(args.db))
    try:
        if await current_revision(engine) != head_revision():
            print("the database is not migrated; run `hotline orders migrate`", file=sys.stderr)
            return EXIT_NOT_MIGRATED
        service = DispatchService(make_session_factory(engine), lambda: datetime.now(UTC))
        return await handler(service, args)
    except (WorkOrderError, CatalogueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        await engine.dispose()


async def _import(service: Any, args: argparse.Namespace) -> int:
    try:
        with args.file.open(encoding="utf-8") as stream:
            departments, items = parse_records(read_records(stream))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    counts = await service.import_catalogue(departments, items)
    print(json.dumps(counts, ensure_ascii=False))
    return EXIT_OK


async def _export(service: Any, args: argparse.Namespace) -> int:
    catalogue = await service.catalogue()
    if str(args.file) == "-":
        count = write_records(catalogue, sys.stdout)
    else:
        with args.file.open("w", encoding="utf-8") as stream:
            count = write_records(catalogue, stream)
    print(f"{count} records", file=sys.stderr)
    return EXIT_OK
