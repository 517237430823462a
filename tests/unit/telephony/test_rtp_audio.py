"""The lab's RTP ear: a prompt is found in what a peer received, between music, and a prompt
cut short or never played is seen as such."""
from __future__ import annotations

import struct
import wave

import numpy as np

from telephony.lab.rtp_audio import (
    FRAME,
    RATE,
    RtpRecorder,
    find_prompt,
    ulaw_decode,
    ulaw_encode,
    wav_samples,
)

RNG = np.random.default_rng(7)


def speech_like(seconds: float) -> np.ndarray:
    """Noise shaped by syllables, with pauses: loud and quiet stretches like espeak's."""
    n = int(seconds * RATE)
    envelope = np.abs(np.sin(np.arange(n) * np.pi * 4 / RATE)) * 9000
    return (RNG.standard_normal(n) * envelope).clip(-32000, 32000).astype(np.int16)


def music(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tones = 6000 * np.sin(2 * np.pi * 330 * t) + 3000 * np.sin(2 * np.pi * 495 * t)
    return tones.astype(np.int16)


def received(*parts: np.ndarray, lose: tuple[int, ...] = ()) -> np.ndarray:
    """The parts sent as 20 ms PCMU packets to a recorder, as Asterisk sends them."""
    stream = np.concatenate(parts)
    stream = stream[:len(stream) // FRAME * FRAME]
    recorder = RtpRecorder()
    for i in range(len(stream) // FRAME):
        if i in lose:
            continue
        header = struct.pack("!BBHII", 0x80, 0, (65500 + i) & 0xFFFF, i * FRAME, 0x42)
        recorder.datagram_received(header + ulaw_encode(stream[i * FRAME:(i + 1) * FRAME]),
                                   ("127.0.0.11", 10000))
    recorder.datagram_received(b"\x80\x65" + b"\0" * 14, ("127.0.0.11", 10000))   # DTMF event
    return recorder.audio()


def test_mu_law_round_trip_is_within_quantisation():
    x = np.linspace(-32000, 32000, 4001).astype(np.int16)
    back = ulaw_decode(ulaw_encode(x)).astype(float)
    assert np.all(np.abs(back - x) <= np.abs(x) * 0.07 + 8)


def test_a_prompt_between_music_is_found_whole_and_loud():
    prompt = speech_like(6.0)
    heard = find_prompt(received(music(3.2), prompt, music(4.0)), prompt)
    assert abs(heard.start_s - 3.2) < 0.01
    assert heard.share > 0.95 and abs(heard.heard_s - 6.0) <= 0.1
    assert heard.rms > 2000


def test_a_lost_packet_keeps_the_timing_of_what_follows():
    prompt = speech_like(4.0)
    heard = find_prompt(received(music(1.0), prompt, music(1.0), lose=(120,)), prompt)
    assert heard.share > 0.95 and abs(heard.heard_s - 4.0) <= 0.1


def test_a_prompt_cut_short_is_heard_short():
    prompt = speech_like(6.0)
    heard = find_prompt(received(music(2.0), prompt[:2 * RATE], music(6.0)), prompt)
    assert abs(heard.start_s - 2.0) < 0.01   # found by its beginning
    assert abs(heard.heard_s - 2.0) <= 0.1 and heard.share < 0.4 and heard.rms > 2000


def test_music_alone_is_not_the_prompt():
    prompt = speech_like(3.0)
    heard = find_prompt(received(music(10.0)), prompt)
    assert heard.share < 0.1


def test_rendered_wav_is_read_as_samples(tmp_path):
    path = tmp_path / "p.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.arange(800, dtype="<i2").tobytes())
    assert len(wav_samples(path)) == 800 and wav_samples(path)[799] == 799


def test_a_pause_in_the_prompt_is_no_evidence_and_silence_alone_is_not_the_prompt():
    prompt = np.concatenate([speech_like(2.0), np.zeros(RATE, dtype=np.int16), speech_like(2.0)])
    heard = find_prompt(received(music(1.0), prompt[:int(2.5 * RATE)], music(3.0)), prompt)
    assert heard.frames == 200 and heard.matched == 100   # the pause's frames are not counted
    assert abs(heard.heard_s - 2.5) <= 0.02               # but heard, up to the music
    silence = find_prompt(received(np.zeros(8 * RATE, dtype=np.int16)), prompt)
    assert silence.matched == 0 and silence.heard_s == 0.0
