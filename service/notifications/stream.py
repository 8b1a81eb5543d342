"""The live stream's events: what a stream sends, from the database, as it appears. No HTTP
(the router wraps these in Server-Sent Events).

A stream reads its user's notifications made since a floor, oldest first (`recipient_newest`),
and sends those it has not sent. It looks when this process wrote one for the user (a wake-up
from service/notifications/live.py) and otherwise every FOLIO_NOTIFICATION_POLL_SECONDS, which
is how notifications written by another API process arrive. The floor trails the newest one
seen by COMMIT_GRACE: a notification stamped a moment before another but committed after it
(two processes, two clocks) is still found; the ids seen within that window (at most MAX_SEEN)
are what keeps anything from being sent twice.

Resuming (`Last-Event-ID`: the id of the last notification received) starts the floor at that
notification's `created_at`: everything after it is sent, once, and the stream goes on live.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models.common import as_utc, utc_now
from service.engine import own_budget
from service.notifications import queries
from service.notifications.live import Hub

log = logging.getLogger("folio.notifications")

# Notifications sent per read, at most: a long backlog is read batch after batch, each sent
# before the next is read, so a slow reader holds one batch, never the backlog.
BATCH = 100
COMMIT_GRACE = timedelta(seconds=10)
MAX_SEEN = 1000


@dataclass
class Position:
    """Where a stream is: the ids it has seen lately (with their instants) and its floor."""

    floor: datetime
    seen: dict[PydanticObjectId, datetime] = field(default_factory=dict)

    def remember(self, rows: list[dict[str, Any]]) -> None:
        """Note rows as seen, and move the floor up behind the newest (see the module docstring)."""
        for row in rows:
            self.seen[row["_id"]] = as_utc(row["created_at"])
        if not self.seen:
            return
        newest = max(self.seen.values())
        self.floor = max(self.floor, newest - COMMIT_GRACE)
        kept = sorted(((at, key) for key, at in self.seen.items() if at >= self.floor),
                      reverse=True)[:MAX_SEEN]
        self.seen = {key: at for at, key in kept}
        if len(kept) == MAX_SEEN:  # a burst: what fell out of the window is behind the floor
            self.floor = max(self.floor, kept[-1][0])


async def start(user_id: PydanticObjectId, last_event_id: PydanticObjectId | None) -> Position:
    """Where a new stream starts: after the notification named by Last-Event-ID, else now.

    The ones made in the grace window before that point count as seen (the client has them,
    or connected after them).
    """
    anchor = utc_now() if last_event_id is None else await queries.position_of(user_id, last_event_id)
    earlier = await queries.since(user_id, anchor - COMMIT_GRACE, MAX_SEEN)

    def up_to_anchor(row: dict[str, Any]) -> bool:
        at = as_utc(row["created_at"])
        return at < anchor or (at == anchor and (last_event_id is None or row["_id"] <= last_event_id))

    position = Position(floor=anchor - COMMIT_GRACE)
    position.remember([row for row in earlier if up_to_anchor(row)])
    if last_event_id is not None:
        position.seen[last_event_id] = anchor
    return position


async def poll(user_id: PydanticObjectId, position: Position) -> tuple[list[dict[str, Any]], bool]:
    """The notifications to send now (shown ones, joined as the list joins them), and whether
    more may be waiting (a full batch was read)."""
    rows = await queries.since(user_id, position.floor, len(position.seen) + BATCH)
    fresh = [row for row in rows if row["_id"] not in position.seen][:BATCH]
    position.remember(fresh)
    full = len(fresh) == BATCH
    return (await queries.joined(fresh, user_id) if fresh else []), full


async def notifications(
    user_id: PydanticObjectId, position: Position, *, hub: Hub, wakeup: asyncio.Event,
    poll_seconds: float, budget_seconds: float | None,
) -> AsyncIterator[dict[str, Any]]:
    """The stream's notifications, as they come, until the hub closes or a read fails.

    Each read runs under a database budget of its own (the request's would run out), and the
    next one waits until this batch was sent: a reader that does not keep up is not read for.
    """
    try:
        while not hub.closing.is_set():
            wakeup.clear()
            batch, full = await own_budget(budget_seconds, poll, user_id, position)
            for note in batch:
                yield note
            if full:
                continue
            try:
                await asyncio.wait_for(wakeup.wait(), poll_seconds)
            except TimeoutError:
                pass
    except Exception:  # the database: end the stream; the client resumes with Last-Event-ID
        log.warning("a notification stream stopped on a database error", exc_info=True)
