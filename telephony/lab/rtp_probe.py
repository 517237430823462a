"""A softphone's ear for the lab's tests: an RTP socket that sends G.711 µ-law silence
(so Asterisk learns where to send, and frames flow through any audio hook) and keeps
what it receives, to say how loud what this phone heard was.

The SIP side is a SIPp scenario whose SDP names this socket's port (see sipp.py's
`probe_answer_scenario` and `probe_citizen_scenario`).
"""
from __future__ import annotations

import asyncio
import math
import re
import struct

SILENCE = b"\xff" * 160   # µ-law zero, 20 ms


def ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample


_LINEAR = [ulaw_to_linear(b) for b in range(256)]


def sdp_media(sdp: str) -> tuple[str, int] | None:
    """The (address, port) an SDP body sends audio to, or None."""
    address = re.search(r"^c=IN IP4 (\S+)", sdp, re.MULTILINE)
    port = re.search(r"^m=audio (\d+)", sdp, re.MULTILINE)
    return (address.group(1), int(port.group(1))) if address and port else None


class RtpProbe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self._sender: asyncio.Task | None = None

    @classmethod
    async def open(cls, ip: str) -> RtpProbe:
        loop = asyncio.get_running_loop()
        _, probe = await loop.create_datagram_endpoint(cls, local_addr=(ip, 0))
        return probe

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:   # PCMU audio only, not DTMF events
            self.payloads.append(data[12:])

    def talk_to(self, remote: tuple[str, int]) -> None:
        """Send silence to `remote` every 20 ms until closed."""
        async def send() -> None:
            seq, ts = 1, 0
            while True:
                header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, 0x5EED)
                self.transport.sendto(header + SILENCE, remote)
                seq, ts = seq + 1, ts + 160
                await asyncio.sleep(0.02)
        self._sender = asyncio.ensure_future(send())

    def rms(self) -> float:
        """RMS of everything received, as a share of full scale (sox's "RMS amplitude")."""
        samples = [_LINEAR[b] for payload in self.payloads for b in payload]
        if not samples:
            return 0.0
        return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0

    def close(self) -> None:
        if self._sender:
            self._sender.cancel()
        if self.transport:
            self.transport.close()
