"""What a lab SIP peer heard: receive a call's RTP (PCMU) on a UDP port of its own, and find
a rendered prompt in it.

A SIPp citizen answers with an SDP naming this recorder's port (`sdp_port`), so Asterisk
sends the call's audio here. `find_prompt` then looks for a WAV's samples in the decoded
stream: where they start (by cross-correlation), how many 20 ms frames match the file
(within G.711's quantisation), how long the matching stretch lasts and how loud it is.
Music on hold before and after a prompt is not the prompt, so it does not count.
"""
from __future__ import annotations

import asyncio
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RATE = 8000
FRAME = 160            # samples per 20 ms packet
PCMU = 0


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes to 16-bit linear samples (ITU-T G.711, as Asterisk decodes)."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def ulaw_encode(samples: np.ndarray) -> bytes:
    """16-bit linear samples to G.711 mu-law (for tests of this module)."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def wav_samples(path: Path) -> np.ndarray:
    """A rendered prompt (8 kHz, 16-bit mono, as telephony/prompts.py writes it)."""
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) != (RATE, 2, 1):
            raise ValueError(f"{path}: not 8 kHz 16-bit mono")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


@dataclass
class RtpRecorder(asyncio.DatagramProtocol):
    """Every RTP packet that reaches the port: (arrival time, sequence number, payload type,
    payload)."""
    packets: list[tuple[float, int, int, bytes]] = field(default_factory=list)

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) >= 12 and data[0] >> 6 == 2:
            csrc, has_ext = data[0] & 0x0F, data[0] & 0x10
            start = 12 + 4 * csrc
            if has_ext and len(data) >= start + 4:
                start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
            self.packets.append((time.time(), int.from_bytes(data[2:4], "big"), data[1] & 0x7F,
                                 data[start:]))

    def audio(self) -> np.ndarray:
        """The PCMU stream as samples, in sequence order; a missing packet is silence, so the
        timing of what follows it is kept."""
        audio = [(seq, payload) for _, seq, pt, payload in self.packets if pt == PCMU]
        if not audio:
            return np.zeros(0, dtype=np.int16)
        out, last = [], None
        for seq, payload in audio:   # loopback: arrival order is sequence order
            if last is not None:
                missing = (seq - last - 1) & 0xFFFF
                if 0 < missing < 50:
                    out.append(np.zeros(missing * FRAME, dtype=np.int16))
            out.append(ulaw_decode(payload))
            last = seq
        return np.concatenate(out)


async def record_rtp(ip: str, port: int) -> tuple[asyncio.DatagramTransport, RtpRecorder]:
    loop = asyncio.get_running_loop()
    transport, recorder = await loop.create_datagram_endpoint(RtpRecorder, local_addr=(ip, port))
    return transport, recorder


@dataclass(frozen=True)
class PromptHeard:
    start_s: float          # where the prompt starts in the received stream
    frames: int             # the prompt's 20 ms frames
    matched: int            # of which the received audio matches
    heard_s: float          # from the first to the last matching frame
    rms: float              # loudness of the received audio over that stretch

    @property
    def share(self) -> float:
        return self.matched / self.frames if self.frames else 0.0


def find_prompt(received: np.ndarray, prompt: np.ndarray, probe_s: float = 0.5) -> PromptHeard:
    """Where `prompt` plays in `received`, and how much of it came through. The loudest
    `probe_s` of the prompt is located by cross-correlation; from there each frame is
    compared with the file, allowing mu-law's quantisation error."""
    probe_n = int(probe_s * RATE)
    if len(prompt) < probe_n or len(received) < len(prompt):
        return PromptHeard(0.0, len(prompt) // FRAME, 0, 0.0, 0.0)
    energy = np.convolve(prompt.astype(np.float64) ** 2, np.ones(probe_n), mode="valid")
    at = int(np.argmax(energy))
    probe = prompt[at:at + probe_n].astype(np.float64)
    rx = received.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(rx) + probe_n)))
    corr = np.fft.irfft(np.fft.rfft(rx, size) * np.conj(np.fft.rfft(probe, size)), size)
    start = int(np.argmax(corr[:len(rx) - probe_n + 1])) - at
    frames = len(prompt) // FRAME
    hits = []
    for j in range(frames):
        lo = start + j * FRAME
        if lo < 0 or lo + FRAME > len(rx):
            continue
        want = prompt[j * FRAME:(j + 1) * FRAME].astype(np.float64)
        got = rx[lo:lo + FRAME]
        if rms(got - want) <= 0.12 * rms(want) + 40:
            hits.append(j)
    if not hits:
        return PromptHeard(start / RATE, frames, 0, 0.0, 0.0)
    first, last = hits[0], hits[-1]
    stretch = received[start + first * FRAME:start + (last + 1) * FRAME]
    return PromptHeard(start / RATE, frames, len(hits), (last - first + 1) * FRAME / RATE,
                       rms(stretch))
