"""Each site's recording policy (dialplan/sites.toml, `recording = {...}` of a site)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


class PolicyError(ValueError):
    """A site's recording table cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class RecordingPolicy:
    """Whether a site records, what the citizen hears first, and how long audio is kept.

    The announcement is a sound name as the switch knows it (e.g. `hotline/recorded`),
    played into the call when it is answered; None: no announcement.
    """

    enabled: bool = True
    announcement: str | None = None
    retention_days: float = 180.0

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @classmethod
    def parse(cls, raw: dict[str, Any] | None, where: str) -> RecordingPolicy | None:
        if raw is None:
            return None
        unknown = set(raw) - {"enabled", "announcement", "retention_days"}
        if unknown:
            raise PolicyError(f"{where}.recording: unknown keys {sorted(unknown)}")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PolicyError(f"{where}.recording.enabled must be true or false")
        announcement = raw.get("announcement") or None
        if announcement is not None and (not isinstance(announcement, str) or not all(
                c.isalnum() or c in "-_/" for c in announcement)):
            raise PolicyError(f"{where}.recording.announcement must be a sound name "
                              "(letters, digits, - _ /)")
        days = raw.get("retention_days", 180)
        if not isinstance(days, int | float) or isinstance(days, bool) or days <= 0:
            raise PolicyError(f"{where}.recording.retention_days must be a positive number")
        return cls(enabled, announcement, float(days))
