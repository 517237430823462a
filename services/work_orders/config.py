"""What the order commands need to know, handed in by whoever reads the settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrdersConfig:
    db_url: str              # finished: with its password, if the database wants one
    redis_url: str | None    # the outbox stream; None: no Redis
