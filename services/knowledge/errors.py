"""Knowledge-base refusals; they are work-order errors so the API maps them the same way."""

from __future__ import annotations

from services.work_orders.errors import WorkOrderError


class KnowledgeError(WorkOrderError):
    error_id = "kb_error"
    status = 400


class EntryNotFound(KnowledgeError):
    error_id = "kb_entry_not_found"
    status = 404


class IllegalEntryTransition(KnowledgeError):
    error_id = "kb_illegal_transition"
    status = 409


class NotYourEntry(KnowledgeError):
    """A department editor touching another department's entry, or a move it may not make."""

    error_id = "kb_forbidden"
    status = 403


class InvalidEntry(KnowledgeError):
    error_id = "kb_invalid_entry"
    status = 422
