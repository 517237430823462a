"""Domain errors: each carries an id, an HTTP-like status and details for the API layer."""

from __future__ import annotations

from typing import Any


class WorkOrderError(Exception):
    """A request the work-order service refuses; never retried by the outbox consumer."""

    error_id = "work_order_error"
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}


class IllegalTransition(WorkOrderError):
    error_id = "illegal_transition"
    status = 409


class OrderNotFound(WorkOrderError):
    error_id = "order_not_found"
    status = 404


class AccessDenied(WorkOrderError):
    error_id = "access_denied"
    status = 403


class InvalidOrder(WorkOrderError):
    error_id = "invalid_order"
    status = 422
