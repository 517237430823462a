"""Masking of citizens' phone numbers for logs and restricted views.

Kept free of heavy imports so the call controller can use it on every log line.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().]")
# Phone numbers inside free text (log lines, tracebacks), each shape China uses:
#   mobiles 13800138000, 138-0013-8000, 138 0013 8000, with +86 / 0086 / 86 / 0 before;
#   landlines 010-12345678, 0379 6123456, 037961234567, +86 379 61234567, 0086-10-12345678.
# Not inside a longer word or digit run (ids, timestamps, hex), and not after a `*`.
_MOBILE_BODY = r"1[3-9]\d(?:[- ]?\d{4}){2}"
_INTL = r"(?:\+|00)?86[- ]?"
_NUMBER_IN_TEXT = re.compile(
    r"(?<![\w+*])(?:"
    rf"(?:{_INTL}|0)?{_MOBILE_BODY}"                         # mobiles
    rf"|0\d{{2,3}}[- ]?\d{{7,8}}"                             # landlines, domestic
    rf"|(?:\+|00)86[- ]?[1-9]\d{{1,2}}[- ]?\d{{7,8}}"            # landlines, international
    r")(?![\w*])"
)
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


def mask_text(text: str) -> str:
    """`text` with every phone number in it masked (mobiles and landlines, with or
    without +86, 0086 or a leading 0): the log's last line of defence."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_number(m.group(0)), text)


def _mask_digits(digits: str) -> str:
    n = len(digits)
    if n >= 11:
        head, tail = 3, 4
    elif n >= 5:
        head, tail = 0, n // 3
    else:
        head, tail = 0, 0
    return digits[:head] + "*" * (n - head - tail) + digits[n - tail :]
