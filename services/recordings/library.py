"""Where a site's recordings are on disk, as the switch writes them, and what a file holds.

The switch names the file (`<recording id>.wav`) in its own recording directory; each
site's directory is configured (HOTLINE_RECORDINGS_DIR, `{site}` in it) and read here
only, never a path a request names.
"""
from __future__ import annotations

import contextlib
import wave
from collections.abc import Callable
from pathlib import Path

from services.recordings.store import RecordingInfo, RecordingStore


class RecordingLibrary:
    def __init__(self, store: Callable[[], RecordingStore | None], dir_template: str | None):
        self._store = store
        self._template = dir_template

    @property
    def store(self) -> RecordingStore | None:
        return self._store()

    def directory(self, site: str) -> Path | None:
        return Path(self._template.format(site=site)) if self._template else None

    def path(self, site: str, file_name: str) -> Path | None:
        """The file, if it is there (names are ours: no separator, no dot-dot)."""
        folder = self.directory(site)
        if folder is None or "/" in file_name or file_name.startswith("."):
            return None
        path = folder / file_name
        return path if path.is_file() else None

    def audio(self, info: RecordingInfo) -> Path | None:
        return None if info.deleted_at else self.path(info.site, info.file_name)

    def delete(self, site: str, file_name: str) -> bool:
        path = self.path(site, file_name)
        if path is None:
            return False
        path.unlink(missing_ok=True)
        return True

    def describe(self, info: RecordingInfo) -> dict:
        """The row as the API shows it, with what the file holds now."""
        out = info.to_dict()
        path = self.audio(info)
        out["available"] = path is not None
        out["duration_s"] = wav_seconds(path) if path else None
        out["bytes"] = path.stat().st_size if path else None
        return out


def wav_seconds(path: Path) -> float | None:
    """Length from the WAV header; None for a file still being written or not a WAV."""
    with contextlib.suppress(wave.Error, EOFError, OSError):
        with wave.open(str(path), "rb") as audio:
            return round(audio.getnframes() / float(audio.getframerate()), 3)
    return None
