"""Knowledge-base answers as sounds Asterisk can play: the renderer the knowledge service
calls when an entry is published.

Files go to `<sound dir>/kb/<entry id>-v<version>.wav` (the sound dir is the one the
site's Asterisk reads `sound:hotline/...` from; HOTLINE_KB_SOUND_DIR, which `hotline lab up`
sets for its controller). The name handed back is the ARI media without the `sound:`
prefix, e.g. `hotline/kb/kb-410300-T182-v1`.
"""
from __future__ import annotations

import re
from pathlib import Path

from telephony.prompts import render_text

NICE = 10   # rendering yields the CPU to calls
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")


class KbAudio:
    def __init__(self, sound_dir: Path) -> None:
        self.dir = sound_dir / "kb"

    def __call__(self, entry_id: str, version: int, text: str) -> str:
        if not _SAFE.match(entry_id):     # never let an id name a path elsewhere
            raise ValueError(f"entry id unfit for a file name: {entry_id!r}")
        name = f"{entry_id}-v{int(version)}"
        render_text(text, self.dir / f"{name}.wav", nice=NICE)
        return f"hotline/kb/{name}"


def kb_audio(sound_dir: Path | None) -> KbAudio | None:
    """The renderer for the settings' kb_sound_dir (HOTLINE_KB_SOUND_DIR), or None: entries
    then publish without audio."""
    return KbAudio(sound_dir) if sound_dir else None
