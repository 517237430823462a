"""RTP telephone-events (RFC 4733) written as a pcap, for SIPp's play_pcap_audio.

SIPp's own play_dtmf sends payload type 96 whatever the SDP says, and Asterisk,
which offers 101, ignores it: so the lab plays recorded events.
"""
from __future__ import annotations

import struct
from pathlib import Path

_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
_SSRC = 0x1234


def _silence(count: int = 25) -> tuple[list[tuple[float, bytes]], int, int, float]:
    """Half a second of silence first: Asterisk's strict RTP learns the source from the
    first packets and drops what arrives while it learns. Returns (packets, seq, ts, t)."""
    packets, seq, ts, t = [], 1000, 8000, 0.0
    for _ in range(count):
        packets.append((t, struct.pack("!BBHII", 0x80, 0, seq, ts, _SSRC) + b"\xff" * 160))
        seq, ts, t = seq + 1, ts + 160, t + 0.02
    return packets, seq, ts, t


def _digit_packets(event: int, start: tuple[int, int, float], payload_type: int,
                   packets_per_digit: int, packet_s: float) -> tuple[list[tuple[float, bytes]],
                                                                    int, float]:
    """One key: progress packets, then the end packet three times. Returns (packets, seq, t)."""
    seq, ts, t = start
    packets = []
    for i in range(packets_per_digit):
        end = i == packets_per_digit - 1
        payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, 160 * (i + 1))
        marker = 0x80 if i == 0 else 0
        for _ in range(3 if end else 1):
            rtp = struct.pack("!BBHII", 0x80, marker | payload_type, seq & 0xFFFF, ts, _SSRC)
            packets.append((t, rtp + payload))
            seq += 1
        t += packet_s
    return packets, seq, t


def _write(path: Path, packets: list[tuple[float, bytes]]) -> None:
    """Each RTP packet in UDP in IPv4 in Ethernet, 127.0.0.1:6000 both ways."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for when, rtp in packets:
            udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
            frame = b"\0" * 12 + b"\x08\x00" + ip
            sec, usec = int(when), int((when % 1) * 1_000_000)
            out.write(struct.pack("<IIII", 1_700_000_000 + sec, usec, len(frame), len(frame)))
            out.write(frame)


def write_rfc2833_pcap(path: Path, digits: str, payload_type: int = 101,
                       packets_per_digit: int = 8, packet_s: float = 0.02,
                       gap_s: float = 0.2) -> Path:
    """A pcap of RTP telephone-events (RFC 4733) for `digits`."""
    packets, seq, ts, t = _silence()
    for digit in digits:
        keyed, seq, t = _digit_packets(_EVENTS[digit], (seq, ts, t), payload_type,
                                       packets_per_digit, packet_s)
        packets += keyed
        ts += 160 * 10
        t += gap_s
    _write(path, packets)
    return path


def linear_to_ulaw(sample: int) -> int:
    """One 16-bit linear sample as a G.711 mu-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def write_tone_pcap(path: Path, seconds: float, hz: float = 440.0,
                    amplitude: int = 8000) -> Path:
    """A pcap of PCMU RTP (payload type 0) carrying a steady tone: a voice that a far UA
    can tell from silence (after the usual half second of silence for strict RTP)."""
    import math

    packets, seq, ts, t = _silence()
    for _ in range(int(seconds / 0.02)):
        payload = bytes(linear_to_ulaw(int(amplitude * math.sin(2 * math.pi * hz * (ts + i) / 8000)))
                        for i in range(160))
        packets.append((t, struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, _SSRC) + payload))
        seq, ts, t = seq + 1, ts + 160, t + 0.02
    _write(path, packets)
    return path


def write_audio_pcap(path: Path, wav: Path, lead_silence: int = 25) -> Path:
    """A pcap of `wav` as G.711 µ-law RTP (payload type 0, 20 ms packets), after half a
    second of silence (see `_silence`): what a citizen's phone would send. sox converts."""
    import subprocess

    raw = subprocess.run(["sox", str(wav), "-t", "raw", "-r", "8000", "-c", "1", "-e",
                          "mu-law", "-b", "8", "-"], capture_output=True, check=True).stdout
    packets, seq, ts, t = _silence(lead_silence)
    for offset in range(0, len(raw) - 159, 160):
        rtp = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, _SSRC)
        packets.append((t, rtp + raw[offset:offset + 160]))
        seq, ts, t = seq + 1, ts + 160, t + 0.02
    _write(path, packets)
    return path


def spoken_wav(path: Path, text: str) -> Path:
    """`text` spoken by espeak-ng (Mandarin), as a WAV: a citizen's voice for the tests."""
    import subprocess

    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "150", "-w", str(path), text],
                   check=True, capture_output=True)
    return path
