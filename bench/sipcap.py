"""Read SIP out of a loopback capture (tcpdump -w) and time each transfer in it.

Kept free of the lab so it can be checked on a saved capture:
`python bench/sipcap.py FILE.pcap AGENT_IP TARGET_IP` prints one line a call.
"""
from __future__ import annotations

import re
import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# link-layer header length by pcap link type: null/loopback, Ethernet, Linux SLL, SLL2
_LINK_HEADER = {0: 4, 1: 14, 113: 16, 276: 20}
_COMPACT = {"i": "call-id", "f": "from", "t": "to", "m": "contact", "l": "content-length",
            "c": "content-type", "v": "via"}
_USER = re.compile(r"sip:([^@;>]+)@")


@dataclass(frozen=True)
class SipPacket:
    time: float              # capture time, seconds since the epoch (microseconds)
    src: tuple[str, int]
    dst: tuple[str, int]
    start_line: str
    headers: dict[str, str]  # lower-case name -> first value
    body: str

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        """The request's method, or the method a response answers (from CSeq)."""
        if self.is_request:
            return self.start_line.split(" ", 1)[0]
        return self.headers.get("cseq", " ").split()[-1]

    @property
    def status(self) -> int | None:
        return None if self.is_request else int(self.start_line.split()[1])

    @property
    def call_id(self) -> str:
        return self.headers.get("call-id", "")

    @property
    def cseq(self) -> int:
        return int(self.headers.get("cseq", "0 X").split()[0])

    @property
    def from_user(self) -> str:
        match = _USER.search(self.headers.get("from", ""))
        return match.group(1) if match else ""

    @property
    def signal(self) -> str | None:
        """The digit of a SIP INFO application/dtmf-relay."""
        match = re.search(r"^Signal\s*=\s*(\S+)", self.body, re.MULTILINE)
        return match.group(1) if match else None


def read_pcap(path: Path) -> Iterator[tuple[float, bytes]]:
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    else:
        endian = ">"
        magic = struct.unpack(">I", data[:4])[0]
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        offset += 16
        yield sec + frac * scale, _strip_link(linktype, data[offset:offset + caplen])
        offset += caplen


def _strip_link(linktype: int, frame: bytes) -> bytes:
    try:
        return frame[_LINK_HEADER[linktype]:]
    except KeyError:
        raise ValueError(f"unsupported pcap link type {linktype}") from None


def udp_payloads(path: Path) -> Iterator[tuple[float, tuple[str, int], tuple[str, int], bytes]]:
    for when, ip in read_pcap(path):
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        sport, dport, length = struct.unpack("!HHH", ip[ihl:ihl + 6])
        yield when, (src, sport), (dst, dport), ip[ihl + 8:ihl + length]


def parse_sip(when: float, src, dst, payload: bytes) -> SipPacket | None:
    text = payload.decode("utf-8", errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if not lines or not ("SIP/2.0" in lines[0]):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        headers.setdefault(_COMPACT.get(name, name), value.strip())
    return SipPacket(when, src, dst, lines[0], headers, body)


def sip_packets(path: Path) -> list[SipPacket]:
    out = []
    for when, src, dst, payload in udp_payloads(path):
        packet = parse_sip(when, src, dst, payload)
        if packet is not None:
            out.append(packet)
    return out


@dataclass
class CallTimes:
    """What one citizen's call did on the wire, by the citizen's (unique) number."""

    number: str
    start: float | None = None          # citizen's INVITE
    end: float | None = None            # first BYE of the citizen's dialog
    agent_call_id: str | None = None    # the dialog Asterisk opened to the agent's UA
    agent_invite: float | None = None
    digits: list[tuple[float, str]] = field(default_factory=list)  # agent's INFOs
    trunk_invite: float | None = None   # origin site -> far site
    target_invite: float | None = None  # INVITE arriving at the target seat's UA

    @property
    def last_digit(self) -> float | None:
        return self.digits[-1][0] if self.digits else None

    @property
    def latency_ms(self) -> float | None:
        if self.last_digit is None or self.target_invite is None:
            return None
        return (self.target_invite - self.last_digit) * 1000

    @property
    def origin_ms(self) -> float | None:
        """Last digit to the INVITE leaving the origin site on the trunk."""
        if self.last_digit is None or self.trunk_invite is None:
            return None
        return (self.trunk_invite - self.last_digit) * 1000

    @property
    def far_ms(self) -> float | None:
        """INVITE on the trunk to the INVITE at the target seat."""
        if self.trunk_invite is None or self.target_invite is None:
            return None
        return (self.target_invite - self.trunk_invite) * 1000


def transfers(packets: list[SipPacket], *, citizen_net: str, origin: str, far: str,
              agent_ip: str, target_ip: str) -> dict[str, CallTimes]:
    """Per citizen number: the first transmission of each message that matters.

    Retransmissions are ignored (a request is keyed by Call-ID and CSeq); the
    agent's dialog is found by the citizen's number in the From of the INVITE
    Asterisk sent to the agent's UA, and the agent's keys by that Call-ID.
    """
    calls: dict[str, CallTimes] = {}
    citizen_dialogs: dict[str, str] = {}
    agent_dialogs: dict[str, str] = {}
    seen: set[tuple[str, int, str, str]] = set()

    def call(number: str) -> CallTimes:
        return calls.setdefault(number, CallTimes(number))

    for p in sorted(packets, key=lambda p: p.time):
        if not p.is_request:
            continue
        key = (p.call_id, p.cseq, p.method, p.dst[0])
        if key in seen:
            continue   # a retransmission
        seen.add(key)
        if p.method == "INVITE" and p.src[0].startswith(citizen_net):
            citizen_dialogs[p.call_id] = p.from_user
            call(p.from_user).start = p.time
        elif p.method == "BYE" and p.call_id in citizen_dialogs:
            c = call(citizen_dialogs[p.call_id])
            c.end = c.end or p.time
        elif p.method == "INVITE" and p.dst[0] == agent_ip:
            c = call(p.from_user)
            if c.agent_call_id is None:
                c.agent_call_id, c.agent_invite = p.call_id, p.time
                agent_dialogs[p.call_id] = p.from_user
        elif p.method == "INFO" and p.src[0] == agent_ip and p.call_id in agent_dialogs:
            call(agent_dialogs[p.call_id]).digits.append((p.time, p.signal or "?"))
        elif p.method == "INVITE" and p.src[0] == origin and p.dst[0] == far:
            c = call(p.from_user)
            c.trunk_invite = c.trunk_invite or p.time
        elif p.method == "INVITE" and p.dst[0] == target_ip:
            c = call(p.from_user)
            c.target_invite = c.target_invite or p.time
    return calls


def concurrency_at(calls: dict[str, CallTimes], when: float) -> int:
    """Citizens' calls up at `when` (INVITE sent, no BYE yet)."""
    return sum(1 for c in calls.values()
               if c.start is not None and c.start <= when and (c.end is None or c.end > when))


if __name__ == "__main__":
    pcap, agent, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    found = transfers(sip_packets(pcap), citizen_net="127.0.1.", origin="127.0.0.21",
                      far="127.0.0.22", agent_ip=agent, target_ip=target)
    for number, c in sorted(found.items()):
        print(number, "".join(d for _, d in c.digits), c.latency_ms, c.origin_ms, c.far_ms)
