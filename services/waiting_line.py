"""Citizens waiting for a seat, per site: emergencies first, then first come,
first served."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class WaitingLine:
    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._waiting: OrderedDict[str, float] = OrderedDict()
        self._urgent: set[str] = set()

    def join(self, call_id: str, urgent: bool = False, first: bool = False) -> int:
        """Add a call (idempotent); returns its 1-based position.

        An urgent call (an emergency by its routing suggestion) goes ahead of
        every call that is not, behind urgent ones that came before it. A call
        joining `first` (its agent was lost) goes to the head of the line; an
        emergency arriving later still goes ahead of it.
        """
        if call_id not in self._waiting and first:
            self._waiting[call_id] = self._clock()
            self._waiting.move_to_end(call_id, last=False)
            if urgent:
                self._urgent.add(call_id)
        elif call_id not in self._waiting:
            self._waiting[call_id] = self._clock()
            if urgent:
                self._urgent.add(call_id)
                for other in list(self._waiting):
                    if other != call_id and other not in self._urgent:
                        self._waiting.move_to_end(other)
        return self.position(call_id) or 0

    def leave(self, call_id: str) -> None:
        self._waiting.pop(call_id, None)
        self._urgent.discard(call_id)

    def pop(self) -> str | None:
        if not self._waiting:
            return None
        call_id, _ = self._waiting.popitem(last=False)
        self._urgent.discard(call_id)
        return call_id

    def calls(self) -> list[str]:
        """Waiting calls, head first."""
        return list(self._waiting)

    def waits(self) -> dict[str, float]:
        """How long each waiting call has waited, in seconds."""
        now = self._clock()
        return {call_id: now - joined for call_id, joined in self._waiting.items()}

    def position(self, call_id: str) -> int | None:
        for i, waiting in enumerate(self._waiting, start=1):
            if waiting == call_id:
                return i
        return None

    def longest_wait(self) -> float:
        if not self._waiting:
            return 0.0
        return self._clock() - min(self._waiting.values())

    def __len__(self) -> int:
        return len(self._waiting)
