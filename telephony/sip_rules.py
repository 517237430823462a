"""What may come in over SIP, and what may go out to a dial string.

One table, two readers: the dialplan templates render it into FILTER() calls
and length checks, and the controller checks the same rules again before a
value reaches an order or an originate. Pure: no I/O, only the standard
library (the Asterisk image's renderer imports it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class HeaderRule:
    """A header we accept: the characters it may hold and its longest length."""

    name: str
    variable: str        # the dialplan variable that carries it (inherited: __ prefix)
    chars: str           # a regex character class body, e.g. "A-Z0-9-"
    asterisk_chars: str  # the same set as FILTER() spells it in extensions.conf
    max_len: int

    def clean(self, value: str | None) -> str | None:
        """`value` if it keeps to this rule, else None: a bad value is dropped, not mended."""
        if not value or len(value) > self.max_len:
            return None
        return value if re.fullmatch(f"[{self.chars}]+", value) else None


# The only headers a trunk carries, in both directions. Call-Info is the NENA
# style incident id, `<urn:hotline-link:incidentid:ORDER>;purpose=emergency-IncidentId`.
TRUNK_HEADERS: tuple[HeaderRule, ...] = (
    HeaderRule("X-Work-Order", "HL_X_WORK_ORDER", "A-Z0-9-", "A-Z0-9\\-", 64),
    HeaderRule("X-Linked-Order", "HL_X_LINKED_ORDER", "A-Z0-9-", "A-Z0-9\\-", 64),
    HeaderRule("X-Origin-Site", "HL_X_ORIGIN_SITE", "a-z0-9_-", "a-z0-9_\\-", 32),
    HeaderRule("Call-Info", "HL_CALL_INFO", "A-Za-z0-9<>:;=._-", "A-Za-z0-9<>:\\;=._\\-", 160),
)
# Read only on a call from the citizen gateway (identified by its address):
# the gateway's IVR sets it. Nowhere else is it read, and no trunk carries it.
IVR_CHOICE = HeaderRule("X-IVR-Choice", "HL_IVR_CHOICE", "a-z_", "a-z_", 32)

_HEADERS = {rule.name: rule for rule in (*TRUNK_HEADERS, IVR_CHOICE)}

# PJSIP/<endpoint>, PJSIP/<number>@<trunk endpoint> or PJSIP/<number>@citizen-gw (a
# callback): names we configure ourselves
_ENDPOINT = re.compile(r"PJSIP/[A-Za-z0-9_-]{1,40}(@trunk-[A-Za-z0-9_-]{1,32}|@citizen-gw)?")
_NUMBER = re.compile(r"\+?[0-9]{1,32}")  # E.164 callers keep their "+" (+8613800138000)


class UnsafeDialString(ValueError):
    """A dial string holds something other than an endpoint we configured."""


def clean_header(name: str, value: str | None) -> str | None:
    """The header's value if `name` is a known header and `value` keeps to its rule."""
    rule = _HEADERS.get(name)
    return rule.clean(value) if rule else None


def check_endpoint(endpoint: str) -> str:
    """`endpoint` if it is one safe dial string (no `&`, no second technology)."""
    if not _ENDPOINT.fullmatch(endpoint):
        raise UnsafeDialString(f"refusing dial string {endpoint!r}")
    return endpoint


def caller_number(raw: str) -> str:
    """A caller's number as it may reach an originate: ASCII digits (after an E.164 "+"),
    else nothing. A carrier that sends +86… must not cost the citizen their number."""
    return raw if _NUMBER.fullmatch(raw) else ""


def digit_patterns(first: int, last: int) -> list[str]:
    """Asterisk extension patterns that match exactly the numbers first..last.

    Every number in the range has the same count of digits: `_100[1-9]` and
    `1010` for 1001..1010. No `.` or `!`, so a longer string never matches.
    """
    width = len(str(last))
    if not 0 <= first <= last or len(str(first)) != width:
        raise ValueError(f"range {first}-{last} must keep one count of digits")
    patterns, start = [], first
    while start <= last:
        # the widest block from `start`: m runs of 10**k numbers sharing one prefix
        for k in range(width - 1, -1, -1):
            size = 10 ** k
            if start % size:
                continue
            m = min(10 - (start // size) % 10, (last - start + 1) // size)
            if m >= 1:
                break
        patterns.append(_pattern(str(start).zfill(width), (start // size) % 10 + m - 1, k))
        start += m * size
    return patterns


def _pattern(start: str, top_digit: int, k: int) -> str:
    """`start`'s digits up to position -k-1, that digit up to `top_digit`, then k X."""
    if k == 0 and int(start[-1]) == top_digit:
        return start   # one number: an exact extension
    head, low = start[:len(start) - k - 1], int(start[len(start) - k - 1])
    middle = (str(low) if low == top_digit else "X" if (low, top_digit) == (0, 9)
              else f"[{low}-{top_digit}]")
    return f"_{head}{middle}{'X' * k}"


def uri_source(uri: str) -> str:
    """The address a SIP URI's UA sends from, as a PJSIP identify `match`:
    `sip:119@127.0.4.1:5060` -> `127.0.4.1:5060` (`host` alone without a port)."""
    match = re.fullmatch(r"sips?:(?:[^@;]*@)?([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:\d+)?(;.*)?",
                         uri)
    if not match:
        raise ValueError(f"not a SIP URI: {uri!r}")
    return match.group(1) + (match.group(2) or "")
