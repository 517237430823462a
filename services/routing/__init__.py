"""Routing suggestions from the official diversion list (issue 5).

`Suggester.load()` once per process, then `suggest(text, context)` for every call.
"""
from services.routing.model import (
    CATEGORIES_12345,
    TARGETS,
    TRANSFERABLE_LINES,
    Alternative,
    CallContext,
    PriorCall,
    Reason,
    Suggestion,
    is_emergency_line,
)
from services.routing.service import RoutingService, SuggestionUpdate, context_from_dict
from services.routing.suggester import Suggester, Tuning

__all__ = [
    "CATEGORIES_12345",
    "TARGETS",
    "TRANSFERABLE_LINES",
    "Alternative",
    "CallContext",
    "PriorCall",
    "Reason",
    "RoutingService",
    "Suggester",
    "Suggestion",
    "SuggestionUpdate",
    "Tuning",
    "context_from_dict",
    "is_emergency_line",
]
