"""Order and event ids the controller can mint without asking the database."""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime

# Crockford base32: no I, L, O, U, so ids survive being read out over the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIXES = {"12345": "WO", "110": "PO"}
PLATFORMS = {prefix: platform for platform, prefix in PREFIXES.items()}
ORDER_ID_PATTERN = re.compile(r"^(WO|PO)-(\d{8})-([0-9A-HJKMNP-TV-Z]{12})$")


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_order_id(platform: str, now: datetime) -> str:
    """Return e.g. `WO-20261122-0G3ZK8T5QW1M` for 12345 or `PO-...` for 110.

    The date is `now`'s own calendar date (pass site-local time). The 12-char tail
    is 27 bits of milliseconds since midnight, so ids of a day sort by time,
    plus 33 random bits, so controllers never need to coordinate.
    """
    try:
        prefix = PREFIXES[platform]
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}; expected one of {sorted(PREFIXES)}")
    millis = (now.hour * 3600 + now.minute * 60 + now.second) * 1000 + now.microsecond // 1000
    tail = _base32((millis << 33) | secrets.randbits(33), 12)
    return f"{prefix}-{now:%Y%m%d}-{tail}"


def platform_of(order_id: str) -> str:
    """The platform ("12345" or "110") an order id belongs to."""
    match = ORDER_ID_PATTERN.match(order_id)
    if not match:
        raise ValueError(f"not an order id: {order_id!r}")
    return PLATFORMS[match.group(1)]


def is_order_id(value: str) -> bool:
    return bool(ORDER_ID_PATTERN.match(value))


def new_event_id() -> str:
    """A 26-char time-ordered id (48-bit ms clock + 80 random bits), ULID-like."""
    return _base32((time.time_ns() // 1_000_000 << 80) | secrets.randbits(80), 26)
