"""A small JSON Schema checker for the subset the API's OpenAPI document uses.

The document's schemas are the only description of a valid body, so the same
dicts both describe and check requests: nothing can drift between the two.
Supported: type (one or a list), enum, minLength, maxLength, pattern, format
date-time, minimum, maximum, properties, required, additionalProperties (bool),
items, minItems, maxItems, minProperties. Anything else in a schema is an error
at start, not a silent pass.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

KNOWN_KEYWORDS = frozenset({
    "type", "enum", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "minProperties", "description", "example", "title", "nullable", "readOnly",
})
# Text no database or log should receive: NUL and other C0 controls except tab and newlines,
# DEL, the C1 controls, and the Unicode line/paragraph separators (a log line splitter).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


class SchemaError(ValueError):
    """A schema uses something this checker does not understand."""


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise SchemaError if `schema` uses a keyword `problems` would ignore."""
    unknown = set(schema) - KNOWN_KEYWORDS
    if unknown:
        raise SchemaError(f"unsupported schema keywords {sorted(unknown)}")
    pattern = schema.get("pattern")
    if pattern is not None and not (pattern.startswith("^") and pattern.endswith("$")):
        # JSON Schema patterns search; ours match whole values. Anchored, both agree.
        raise SchemaError(f"pattern {pattern!r} must be anchored with ^ and $")
    for sub in schema.get("properties", {}).values():
        check_schema(sub)
    if "items" in schema:
        check_schema(schema["items"])


def problems(schema: Mapping[str, Any], value: Any, path: str = "") -> list[dict[str, str]]:
    """Everything wrong with `value`, as [{"path": "/a/0", "message": ...}]; [] if valid."""
    out: list[dict[str, str]] = []
    _check(schema, value, path, out)
    return out


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(wanted: str | list[str], actual: str) -> bool:
    names = [wanted] if isinstance(wanted, str) else wanted
    return actual in names or (actual == "integer" and "number" in names)


@cache
def _pattern(text: str) -> re.Pattern[str]:
    # ASCII classes as in ECMA-262 (the document's regex dialect): \d is 0-9, not every
    # Unicode digit.
    return re.compile(text, re.ASCII)


def _check(schema: Mapping[str, Any], value: Any, path: str, out: list[dict[str, str]]) -> None:
    def bad(message: str) -> None:
        out.append({"path": path or "/", "message": message})

    actual = _type_of(value)
    wanted = schema.get("type")
    if wanted is not None and not _type_ok(wanted, actual):
        bad(f"expected {wanted if isinstance(wanted, str) else ' or '.join(wanted)}, "
            f"got {actual}")
        return
    if "enum" in schema and value not in schema["enum"]:
        bad(f"must be one of {schema['enum']}")
        return
    if actual == "string":
        _check_string(schema, value, bad)
    elif actual in ("integer", "number"):
        if isinstance(value, float) and not math.isfinite(value):
            bad("must be a finite number")
        elif "minimum" in schema and value < schema["minimum"]:
            bad(f"must be at least {schema['minimum']}")
        elif "maximum" in schema and value > schema["maximum"]:
            bad(f"must be at most {schema['maximum']}")
    elif actual == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            bad(f"needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            bad(f"takes at most {schema['maxItems']} items")
            return
        if "items" in schema:
            for index, item in enumerate(value):
                _check(schema["items"], item, f"{path}/{index}", out)
    elif actual == "object":
        _check_object(schema, value, path, out, bad)


def _check_string(schema: Mapping[str, Any], value: str, bad) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        bad("is not valid Unicode text")
        return
    if _CONTROL.search(value):
        bad("contains control characters")
    if "minLength" in schema and len(value) < schema["minLength"]:
        bad(f"must be at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        bad(f"must be at most {schema['maxLength']} characters")
    # The whole value must match: Python's `$` also matches before a final newline, so
    # "1001\n" would pass `^\d+$` with search().
    if "pattern" in schema and not _pattern(schema["pattern"]).fullmatch(value):
        bad(f"must match {schema['pattern']}")
    if schema.get("format") == "date-time" and parse_datetime(value) is None:
        bad("must be an ISO 8601 date-time with a UTC offset")


def _check_object(schema, value: dict, path: str, out: list[dict[str, str]], bad) -> None:
    props = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            out.append({"path": f"{path}/{name}", "message": "is required"})
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        bad(f"needs at least {schema['minProperties']} of {sorted(props)}")
    if schema.get("additionalProperties") is False:
        for name in value:
            if name not in props:
                out.append({"path": f"{path}/{_safe(name)}", "message": "is not allowed"})
    for name, sub in props.items():
        if name in value:
            _check(sub, value[name], f"{path}/{name}", out)


def _safe(name: str) -> str:
    """A client's key, fit to be echoed back in an error."""
    return name.encode("utf-8", "replace").decode("utf-8")[:64]


def parse_datetime(text: str) -> datetime | None:
    """An aware datetime from ISO 8601 text, or None (naive times are ambiguous: refused)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
