"""What a lab UA hears: an RTP receiver for the tests, standing in for a SIPp UA's media
port (the UA's SDP names this receiver's port). It keeps, per packet, when it came and
whether it carried sound (PCMU samples well above silence), so a test can tell music
on hold from the silence (or nothing) a quiet bridge sends."""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

PCMU = 0
LOUD_RMS = 300.0   # 16-bit linear; silence and comfort noise stay far below it


def ulaw_to_linear(byte: int) -> int:
    """One G.711 mu-law byte as a 16-bit linear sample."""
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


_ULAW = [ulaw_to_linear(b) for b in range(256)]


def rms(payload: bytes) -> float:
    if not payload:
        return 0.0
    return math.sqrt(sum(_ULAW[b] ** 2 for b in payload) / len(payload))


@dataclass
class RtpLog(asyncio.DatagramProtocol):
    """Every RTP packet received: (monotonic time, payload type, loud)."""
    packets: list[tuple[float, int, bool]] = field(default_factory=list)

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return   # not RTP version 2
        csrc = data[0] & 0x0F
        payload_type = data[1] & 0x7F
        payload = data[12 + 4 * csrc:]
        loud = payload_type == PCMU and rms(payload) >= LOUD_RMS
        self.packets.append((time.monotonic(), payload_type, loud))

    def loud_since(self, since: float) -> int:
        return sum(1 for at, _, loud in self.packets if at >= since and loud)

    def quiet_since(self, since: float) -> int:
        return sum(1 for at, _, loud in self.packets if at >= since and not loud)


async def listen(ip: str, port: int) -> tuple[asyncio.DatagramTransport, RtpLog]:
    loop = asyncio.get_running_loop()
    transport, log = await loop.create_datagram_endpoint(RtpLog, local_addr=(ip, port))
    return transport, log
