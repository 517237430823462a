"""The event loop our long-running processes run on."""
from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where installed (Linux), else asyncio's own (None). The controller's one
    loop carries every call; the order consumer hands each SQLite statement to
    aiosqlite's thread and back, and on asyncio's loop that round trip through the
    selector was a fifth of its busy time under the capacity bench."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
