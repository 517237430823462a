"""The one family of domain errors: each carries an id, a status, a message and details.

The API turns any `DomainError` into `{"error_id", "message", "details"}` with its
status (services/api/errors.py, one middleware); the CLI prints the message and
details. Nothing here knows HTTP beyond the number.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the client can act on: an id to branch on, a status, details."""

    error_id = "bad_request"
    status = 400
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, error_id: str | None = None, status: int | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if error_id is not None:
            self.error_id = error_id
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}
