"""`hotline kb`: import and export the knowledge base (JSON lines), search it, seed the lab.

The database is `--db`, else HOTLINE_DB_URL, else SQLite under HOTLINE_DATA_DIR;
the migrations run first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.work_orders.db import make_engine, make_session_factory, resolve_url, upgrade_async

from .errors import KnowledgeError
from .exchange import SEED, read_jsonl, write_jsonl
from .service import KnowledgeService

EXIT_OK, EXIT_ERROR = 0, 1


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="database URL (default: $HOTLINE_DB_URL, else SQLite "
                        "under $HOTLINE_DATA_DIR)")
    kb = subparsers.add_parser("kb", help="the knowledge base (一问一答): import, export, search")
    sub = kb.add_subparsers(dest="kb_command", required=True)

    load = sub.add_parser("import", parents=[common],
                          help="import entries from a JSON-lines file (`-`: stdin); "
                          "`--seed`: the lab city's seed knowledge base")
    load.add_argument("file", type=Path, nargs="?")
    load.add_argument("--seed", action="store_true", help=f"import {SEED.name}")
    load.set_defaults(func=_command(_import))

    dump = sub.add_parser("export", parents=[common], help="export every entry as JSON lines")
    dump.add_argument("file", type=Path, help="file to write (`-`: stdout)")
    dump.set_defaults(func=_command(_export))

    find = sub.add_parser("search", parents=[common], help="ranked published entries for a text")
    find.add_argument("q")
    find.add_argument("--category")
    find.add_argument("--region")
    find.add_argument("--limit", type=int, default=5)
    find.set_defaults(func=_command(_search))


def _command(run: Callable[[KnowledgeService, argparse.Namespace], Awaitable[int]]):
    def call(args: argparse.Namespace) -> int:
        return asyncio.run(_with_service(run, args))
    return call


async def _with_service(run: Callable[[KnowledgeService, argparse.Namespace], Awaitable[int]],
                        args: argparse.Namespace) -> int:
    url = resolve_url(args.db)
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        return await run(KnowledgeService(make_session_factory(engine)), args)
    except KnowledgeError as exc:
        print(f"hotline kb: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        await engine.dispose()


async def _import(service: KnowledgeService, args: argparse.Namespace) -> int:
    if args.seed == (args.file is not None):
        print("hotline kb import: give FILE or --seed", file=sys.stderr)
        return EXIT_ERROR
    path = SEED if args.seed else args.file
    if str(path) == "-":
        records = list(read_jsonl(sys.stdin))
    else:
        try:
            with path.open(encoding="utf-8") as stream:
                records = list(read_jsonl(stream))
        except OSError as exc:
            print(f"hotline kb import: {exc}", file=sys.stderr)
            return EXIT_ERROR
    counts = await service.import_records(records)
    print(json.dumps({"file": str(path), **counts}, ensure_ascii=False))
    return EXIT_OK


async def _export(service: KnowledgeService, args: argparse.Namespace) -> int:
    records = await service.export_records()
    if str(args.file) == "-":
        write_jsonl(records, sys.stdout)
    else:
        with args.file.open("w", encoding="utf-8") as stream:
            write_jsonl(records, stream)
        print(json.dumps({"file": str(args.file), "entries": len(records)}))
    return EXIT_OK


async def _search(service: KnowledgeService, args: argparse.Namespace) -> int:
    hits = await service.search(args.q, category=args.category, region=args.region,
                                limit=args.limit)
    for hit in hits:
        print(json.dumps(hit.to_dict(), ensure_ascii=False))
    return EXIT_OK
