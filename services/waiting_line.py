"""Citizens waiting for a seat, per site: first come, first served."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class WaitingLine:
    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._waiting: OrderedDict[str, float] = OrderedDict()

    def join(self, call_id: str) -> int:
        """Add a call (idempotent); returns its 1-based position."""
        self._waiting.setdefault(call_id, self._clock())
        return self.position(call_id) or 0

    def leave(self, call_id: str) -> None:
        self._waiting.pop(call_id, None)

    def pop(self) -> str | None:
        if not self._waiting:
            return None
        call_id, _ = self._waiting.popitem(last=False)
        return call_id

    def push_front(self, call_id: str, since: float) -> None:
        """Return a call to the head, as if it had never left."""
        self._waiting[call_id] = since
        self._waiting.move_to_end(call_id, last=False)

    def position(self, call_id: str) -> int | None:
        for i, waiting in enumerate(self._waiting, start=1):
            if waiting == call_id:
                return i
        return None

    def longest_wait(self) -> float:
        if not self._waiting:
            return 0.0
        return self._clock() - next(iter(self._waiting.values()))

    def __len__(self) -> int:
        return len(self._waiting)
