"""Order exports for people: streamed, and safe to open in a spreadsheet.

A cell a spreadsheet would read as a formula (starting `=`, `+`, `-`, `@`, tab or carriage
return; OWASP "CSV injection") gets a leading `'`, so it shows as text. This is the API's
export for supervisors; the exchange format (`hotline orders export`) stays exact, for import.
"""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from services.work_orders.exchange import CSV_COLUMNS, dump_jsonl, record_to_csv_row

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


async def csv_chunks(records: AsyncIterable[dict[str, Any]]) -> AsyncIterator[str]:
    yield csv_line(list(CSV_COLUMNS))
    async for record in records:
        row = record_to_csv_row(record)
        yield csv_line([neutralise(row[column]) for column in CSV_COLUMNS])


async def jsonl_chunks(records: AsyncIterable[dict[str, Any]]) -> AsyncIterator[str]:
    async for record in records:
        yield dump_jsonl(record) + "\n"
