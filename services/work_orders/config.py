"""What the `hotline orders` commands need: the database and the outbox's Redis."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrdersConfig:
    db_url: str
    redis_url: str | None
