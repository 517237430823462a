"""The HTTP API (issue 7): calls, seats, orders, suggestions, overflow, reports, live events.

Handlers parse, check who asks, call one collaborator and answer JSON; nothing
here imports telephony/ or ARI types. See README.md for endpoints and roles.
"""
from services.api.accounts import Accounts, AccountsError, User, load_accounts
from services.api.app import API_PREFIX, build_api
from services.api.core import ApiDeps
from services.api.desk import ACTION_KEYS, CallDesk
from services.api.errors import ApiError
from services.api.events import EventHub

__all__ = [
    "ACTION_KEYS",
    "API_PREFIX",
    "Accounts",
    "AccountsError",
    "ApiDeps",
    "ApiError",
    "CallDesk",
    "EventHub",
    "User",
    "build_api",
    "load_accounts",
]
