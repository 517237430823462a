"""Render the controller's prompts (dialplan/prompts.toml) to 8 kHz WAV files
that Asterisk plays as `sound:hotline/<name>`.

espeak-ng speaks Mandarin and sox resamples, both from Debian. Without them a
short tone stands in, so the call flow still works, and the run says so.
"""
from __future__ import annotations

import hashlib
import math
import shutil
import struct
import subprocess
import tempfile
import tomllib
import wave
from pathlib import Path

# no project import: the Asterisk image runs this file on its own (see main)
PROMPTS = Path(__file__).resolve().parents[1] / "dialplan" / "prompts.toml"
SOUND_DIR = "/usr/share/asterisk/sounds/hotline"   # as Asterisk sees it; any language
MOH_DIR = "/usr/share/asterisk/moh"   # musiconhold.conf's [default] class, as Asterisk sees it


def prompt_texts(path: Path = PROMPTS) -> dict[str, str]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    texts = dict(data.get("prompts", {}))
    for i, item in enumerate(data.get("faq", []), start=1):
        texts[f"faq-{i}"] = f"{item['question']} {item['answer']}"
    position = data.get("position")
    if position:
        for n in range(1, int(position["max"]) + 1):
            texts[f"position-{n}"] = position["template"].format(n=n)
    return texts


def position_settings(path: Path = PROMPTS) -> tuple[int, float]:
    """(highest position with its own prompt, seconds between announcements)."""
    position = tomllib.loads(path.read_text(encoding="utf-8")).get("position") or {}
    return int(position.get("max", 0)), float(position.get("every_s", 30))


def faq_media(path: Path = PROMPTS) -> list[str]:
    """The FAQ as ARI media, in order."""
    return [f"sound:hotline/{name}" for name in prompt_texts(path) if name.startswith("faq-")]


def render_prompts(out_dir: Path, path: Path = PROMPTS, say=print) -> int:
    """Write every prompt; skipped when nothing changed since the last render."""
    texts = prompt_texts(path)
    digest = hashlib.sha256(repr(sorted(texts.items())).encode()).hexdigest()
    stamp = out_dir / ".rendered"
    if stamp.exists() and stamp.read_text() == digest:
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    speak = shutil.which("espeak-ng") and shutil.which("sox")
    if not speak:
        say("prompts: espeak-ng or sox missing; tones stand in for speech")
    for name, text in texts.items():
        target = out_dir / f"{name}.wav"
        if speak:
            _speak(text, target)
        else:
            _tone(target)
    stamp.write_text(digest)
    say(f"prompts: {len(texts)} rendered into {out_dir}")
    return len(texts)


def render_text(text: str, target: Path, nice: int = 0) -> bool:
    """One text to one 8 kHz WAV (the knowledge base renders its answers here too, at
    `nice` so that calls keep the CPU); False when a tone stood in because espeak-ng or
    sox is missing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("espeak-ng") and shutil.which("sox"):
        _speak(text, target, nice)
        return True
    _tone(target)
    return False


def _speak(text: str, target: Path, nice: int = 0) -> None:
    lower = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run([*lower, "espeak-ng", "-v", "cmn", "-s", "150", "-w", str(raw), text],
                       check=True, capture_output=True)
        subprocess.run([*lower, "sox", str(raw), "-r", "8000", "-c", "1", "-b", "16",
                        str(target)], check=True, capture_output=True)


def _tone(target: Path, seconds: float = 0.5) -> None:
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 450 * i / 8000)))
                          for i in range(int(8000 * seconds)))
        out.writeframes(frames)


def moh_in_g711(moh_dir: Path, say=print) -> int:
    """Write a mu-law and an A-law copy beside each music-on-hold file that lacks them.

    Debian ships the music as GSM, so every caller on hold had a GSM decoder of its own.
    With the same music in the call's own G.711 law beside it, Asterisk opens that file
    (the format cheapest for the channel) and decodes nothing: 0.89x the Asterisk CPU per
    waiting caller in bench/results/moh.md. Without sox, or for a file sox cannot read,
    nothing changes: the GSM files still play."""
    sox = shutil.which("sox")
    if not sox or not moh_dir.is_dir():
        return 0
    written = 0
    for source in sorted(moh_dir.glob("*.gsm")):
        for law, kind in (("ulaw", "ul"), ("alaw", "al")):
            target = source.with_suffix(f".{law}")
            if target.exists():
                continue
            part = target.with_name(f".{target.name}.part")
            done = subprocess.run([sox, str(source), "-t", kind, "-r", "8000", "-c", "1",
                                   str(part)], capture_output=True, text=True)
            if done.returncode != 0:
                part.unlink(missing_ok=True)
                say(f"music on hold: {source.name} left in GSM only: "
                    f"{done.stderr.strip()[-200:]}")
                continue
            part.replace(target)   # a render cut short leaves no file Asterisk would play
            written += 1
    if written:
        say(f"music on hold: {written} G.711 copies written into {moh_dir}")
    return written


def main(argv: list[str] | None = None) -> int:
    """`python3 prompts.py --source prompts.toml --out DIR [--moh DIR]`: the Asterisk image
    renders its prompts, and its music's G.711 copies, at build time with this file alone
    (Python, espeak-ng and sox)."""
    import argparse

    parser = argparse.ArgumentParser(prog="prompts.py")
    parser.add_argument("--source", type=Path, default=PROMPTS)
    parser.add_argument("--out", type=Path, default=Path(SOUND_DIR))
    parser.add_argument("--moh", type=Path, help="also write G.711 copies of this music on hold")
    args = parser.parse_args(argv)
    render_prompts(args.out, args.source)
    if args.moh:
        moh_in_g711(args.moh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
