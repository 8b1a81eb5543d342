"""Open notification streams in this process: admission (per user and per process), and the
in-process wake-up that lets a stream look at once when this process wrote for its user.

Nothing here holds notifications: a wake-up is an `asyncio.Event` per stream, and the stream
reads what is new from the database itself (service/notifications/stream.py). So a slow
reader holds no queue, and another process's notifications arrive by the stream's poll.
"""

import asyncio
import weakref
from collections import Counter

from beanie import PydanticObjectId

from service.contract.errors import TooManyRequests, Unavailable
from service.observability import metrics

# Every hub of this process (one per app; tests build many), for `wake`.
_hubs: "weakref.WeakSet[Hub]" = weakref.WeakSet()


class Hub:
    """The streams one app holds open, bounded per user and per process."""

    def __init__(self, per_user: int, per_process: int) -> None:
        self.per_user = per_user
        self.per_process = per_process
        self.open: Counter[PydanticObjectId] = Counter()
        self.waiters: dict[PydanticObjectId, set[asyncio.Event]] = {}
        self.closing = asyncio.Event()
        _hubs.add(self)

    @property
    def total(self) -> int:
        """How many streams are open."""
        return sum(self.open.values())

    def admit(self, user_id: PydanticObjectId) -> asyncio.Event:
        """Count a new stream for this user and give it its wake-up; 429 past the user's bound,
        503 past the process's (the client's EventSource retries after its retry delay)."""
        if self.closing.is_set():
            raise Unavailable("stream", "the server is shutting down", retry_after=1)
        if self.open[user_id] >= self.per_user:
            raise TooManyRequests(
                "stream", f"at most {self.per_user} open streams per user", retry_after=5)
        if self.total >= self.per_process:
            raise Unavailable("stream", "this server holds as many streams as it may",
                              retry_after=5)
        self.open[user_id] += 1
        wakeup = asyncio.Event()
        self.waiters.setdefault(user_id, set()).add(wakeup)
        metrics.STREAMS_OPEN.inc()
        return wakeup

    def release(self, user_id: PydanticObjectId, wakeup: asyncio.Event) -> None:
        """Forget a stream that ended."""
        self.open[user_id] -= 1
        if self.open[user_id] <= 0:
            del self.open[user_id]
        waiting = self.waiters.get(user_id, set())
        waiting.discard(wakeup)
        if not waiting:
            self.waiters.pop(user_id, None)
        metrics.STREAMS_OPEN.dec()

    def close(self) -> None:
        """End every stream (shutdown): each sees `closing` and finishes its answer."""
        self.closing.set()
        for waiting in self.waiters.values():
            for wakeup in waiting:
                wakeup.set()


def wake(user_id: PydanticObjectId) -> None:
    """Tell this process's streams of this user to look now (a notification was written)."""
    for hub in list(_hubs):
        for wakeup in hub.waiters.get(user_id, ()):
            wakeup.set()
