"""Masking of citizens' phone numbers for logs and restricted views.

Kept free of heavy imports so the call controller can use it on every log line.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().]")
_CHINA_PREFIX = re.compile(r"^(\+86|0086|86)(1\d{10})$")


def mask_number(number: str | None) -> str:
    """Return `number` with its identifying middle hidden, e.g. 138****8000.

    Never shows more than the first 3 and last 4 digits; shorter numbers show
    less, because a few digits of a short number identify it more easily.
    Anything that is not a phone number is masked whole.
    """
    if not number:
        return ""
    compact = _SEPARATORS.sub("", number.strip())
    china = _CHINA_PREFIX.match(compact)
    if china:
        return china.group(1) + _mask_digits(china.group(2))
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isdigit():
        return "*" * min(max(len(number), 3), 8)
    return ("+" if plus else "") + _mask_digits(digits)


def _mask_digits(digits: str) -> str:
    n = len(digits)
    if n >= 11:
        head, tail = 3, 4
    elif n >= 5:
        head, tail = 0, n // 3
    else:
        head, tail = 0, 0
    return digits[:head] + "*" * (n - head - tail) + digits[n - tail :]
