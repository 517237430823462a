"""Split the controller path's transfer latency into its steps, from one phase's capture
(bench/transfer_bench.py and bench/capacity_bench.py keep it) and the bench controller's
log, written at DEBUG (HOTLINE_LOG_LEVEL=DEBUG when the bench starts its lab: the key and
ring lines are DEBUG, and that logging costs the controller CPU of its own).

    python bench/transfer_split.py /tmp/hotline-bench-XXXX/controller-100.pcap \
        /tmp/hotline-bench/controller.log

Calls are matched across the two sites by the last four digits of the citizen's number,
which the log shows masked (139****0042); each phase's numbers differ in those digits.
Log times have millisecond resolution and come from the same clock as the capture.
"""
from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sipcap import sip_packets, transfers

_LINE = re.compile(r"(\S+ \S+),(\d+) (?:INFO|DEBUG) hotline\.calls: (?:call|leg) (\w+)\S*: (.*)")
_ARRIVED = re.compile(r"citizen 1\d\d\*\*\*\*(\d{4}) arrived at site (\S+);")
STEPS = (
    "12345: last digit → the controller takes the key's event (Asterisk, socket, queue)",
    "12345: key taken → target ring logged (the call's machine)",
    "12345: target ring logged → INVITE on the trunk (ARI originate)",
    "110: trunk INVITE → call opened (Stasis entry, StasisStart, header reads)",
    "110: call opened → seat ring logged (ring indication, seat claim)",
    "110: seat ring logged → INVITE at the seat (ARI originate)",
)


def log_events(path: Path, start: float, end: float) -> dict[str, list[tuple[float, str]]]:
    events: dict[str, list[tuple[float, str]]] = {}
    for line in path.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=UTC).timestamp() + int(m.group(2)) / 1000
        if start - 1 <= when <= end + 1:
            events.setdefault(m.group(3), []).append((when, m.group(4)))
    return events


def first(items: list[tuple[float, str]], prefix: str) -> float | None:
    return next((t for t, msg in items if msg.startswith(prefix)), None)


def split(pcap: Path, log: Path) -> list[tuple[float, ...]]:
    packets = sip_packets(pcap)
    calls = transfers(packets, citizen_net="127.0.1.", origin="127.0.0.21", far="127.0.0.22",
                      agent_ip="127.0.3.1", target_ip="127.0.3.2")
    events = log_events(log, packets[0].time, packets[-1].time)
    opened: dict[tuple[str, str], str] = {}
    for call_id, items in events.items():
        for _, msg in items:
            m = _ARRIVED.search(msg)
            if m:
                opened.setdefault((m.group(1), m.group(2)), call_id)
    rows = []
    for number, c in calls.items():
        near, far = opened.get((number[-4:], "12345")), opened.get((number[-4:], "110"))
        if None in (c.last_digit, c.trunk_invite, c.target_invite) or not near or not far:
            continue
        handover = first(events[near], "ringing target")
        if handover is None:
            continue
        key = max((t for t, msg in events[near] if msg.startswith("DTMF ") and t <= handover),
                  default=None)
        arrived = first(events[far], "citizen ")
        ring = first(events[far], "ringing seat")
        if key is None or arrived is None or ring is None:
            continue
        assert c.last_digit and c.trunk_invite and c.target_invite
        rows.append(tuple(1000 * x for x in (
            key - c.last_digit, handover - key, c.trunk_invite - handover,
            arrived - c.trunk_invite, ring - arrived, c.target_invite - ring)))
    return rows


def main() -> int:
    rows = split(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{len(rows)} calls\n\n| step | p50 | p95 | p99 |\n|---|---|---|---|")
    for i, step in enumerate(STEPS):
        col = sorted(r[i] for r in rows)
        at = [col[min(len(col) - 1, int(q * len(col)))] for q in (.5, .95, .99)]
        print(f"| {step} | " + " | ".join(f"{v:.1f}" for v in at) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
