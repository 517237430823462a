"""Work-order errors: the domain error family (services.errors) as the service uses it."""

from __future__ import annotations

from services.errors import DomainError


class WorkOrderError(DomainError):
    """A request the work-order service refuses; never retried by the outbox consumer."""

    error_id = "work_order_error"
    status = 400


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
