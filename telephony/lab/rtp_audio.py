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
SILENT = 100.0         # RMS below which a frame of a prompt is a pause


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
    frames: int             # the prompt's sounding 20 ms frames (its pauses not counted)
    matched: int            # of which the received audio matches
    heard_s: float          # from the first to the last matching frame
    rms: float              # loudness of the received audio over that stretch

    @property
    def share(self) -> float:
        return self.matched / self.frames if self.frames else 0.0


def find_prompt(received: np.ndarray, prompt: np.ndarray, probe_s: float = 0.5) -> PromptHeard:
    """Where `prompt` plays in `received`, and how much of it came through. Probes (the
    loudest `probe_s` of the prompt's first 2 s, and of each 5 s after) are located by
    cross-correlation, so a prompt cut short is found by its beginning; from the best
    placing each frame is compared with the file, allowing mu-law's quantisation error."""
    probe_n = int(probe_s * RATE)
    frames = len(prompt) // FRAME
    if len(prompt) < probe_n or len(received) < probe_n:
        return PromptHeard(0.0, frames, 0, 0.0, 0.0)
    rx = received.astype(np.float64)
    best: PromptHeard | None = None
    for start in {_locate(rx, prompt, lo, hi, probe_n) for lo, hi in _probe_windows(len(prompt))}:
        heard = _compare(received, prompt, start)
        if best is None or heard.matched > best.matched:
            best = heard
    return best or PromptHeard(0.0, frames, 0, 0.0, 0.0)


def _probe_windows(n: int) -> list[tuple[int, int]]:
    first = [(0, min(n, 2 * RATE))]
    return first + [(lo, min(n, lo + 5 * RATE)) for lo in range(2 * RATE, n, 5 * RATE)]


def _locate(rx: np.ndarray, prompt: np.ndarray, lo: int, hi: int, probe_n: int) -> int:
    """Where the prompt would start in `rx`, by its loudest probe within [lo, hi)."""
    window = prompt[lo:hi].astype(np.float64)
    if len(window) < probe_n:
        window, lo = prompt[-probe_n:].astype(np.float64), len(prompt) - probe_n
    energy = np.convolve(window ** 2, np.ones(probe_n), mode="valid")
    at = lo + int(np.argmax(energy))
    probe = prompt[at:at + probe_n].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(rx) + probe_n)))
    corr = np.fft.irfft(np.fft.rfft(rx, size) * np.conj(np.fft.rfft(probe, size)), size)
    return int(np.argmax(corr[:max(1, len(rx) - probe_n + 1)])) - at


def _compare(received: np.ndarray, prompt: np.ndarray, start: int) -> PromptHeard:
    """Frame by frame against the file placed at `start`. Only the file's sounding frames
    are evidence (a pause matches any silence); the stretch heard runs from the first to
    the last sounding frame that matches, and on over matching pauses at either end."""
    rx = received.astype(np.float64)
    hit, sounding = [], []
    for j in range(len(prompt) // FRAME):
        lo = start + j * FRAME
        want = prompt[j * FRAME:(j + 1) * FRAME].astype(np.float64)
        sounding.append(rms(want) > SILENT)
        hit.append(0 <= lo and lo + FRAME <= len(rx)
                   and rms(rx[lo:lo + FRAME] - want) <= 0.12 * rms(want) + 40)
    evidence = [j for j, (h, s) in enumerate(zip(hit, sounding, strict=True)) if h and s]
    if not evidence:
        return PromptHeard(start / RATE, sum(sounding), 0, 0.0, 0.0)
    first, last = evidence[0], evidence[-1]
    while first > 0 and hit[first - 1]:
        first -= 1
    while last + 1 < len(hit) and hit[last + 1]:
        last += 1
    stretch = received[start + first * FRAME:start + (last + 1) * FRAME]
    return PromptHeard(start / RATE, sum(sounding), len(evidence),
                       (last - first + 1) * FRAME / RATE, rms(stretch))
