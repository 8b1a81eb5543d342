"""Writing events: `record` inserts one event document in the transaction of the change it
announces, so that either both are stored or neither is (on a replica set). No HTTP here.

On the embedded engine and a standalone server there are no transactions: `atomically` hands
the change `session=None`, and the event is inserted right after the change's own writes. A
process that dies between the two leaves the change without its event (docs/engines.md).
"""

import asyncio
from datetime import datetime
from typing import Any

from bson import ObjectId

from models.common import utc_now
from models.events import Event
from service.engine import collection
from service.events.types import EVENT_TYPES
from service.observability import metrics

# The drains of this process (usually one): `record` wakes them, so an event this process
# writes is handed on at once rather than at the next poll.
_wakers: set[asyncio.Event] = set()


def actor_of(user: Any) -> dict[str, Any] | None:
    """The event's `actor` for a user (a User, or a dict with `_id`/`id` and `username`)."""
    if user is None:
        return None
    if isinstance(user, dict):
        return {"id": user.get("_id", user.get("id")), "username": user["username"]}
    return {"id": user.id, "username": user.username}


def event_document(
    type_: str, *, actor: dict[str, Any] | None, data: dict[str, Any], refs: dict[str, Any],
    at: datetime | None = None,
) -> dict[str, Any]:
    """The document `record` inserts: the contract's fields and the drain's bookkeeping."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    now = utc_now()
    return {
        "_id": ObjectId(),
        "type": type_,
        "at": at or now,
        "actor": actor,
        "data": data,
        "refs": {key: value for key, value in refs.items() if value is not None},
        "pending": True,
        "due_at": now,
        "done": [],
        "attempts": 0,
        "failed": [],
        "last_error": None,
        "schema_version": 1,
    }


async def record(
    type_: str, *, actor: dict[str, Any] | None, data: dict[str, Any],
    refs: dict[str, Any], session: Any, at: datetime | None = None,
) -> ObjectId:
    """Insert one event in the caller's transaction (`session`; None where there is none) and
    wake this process's drain; the event's id."""
    document = event_document(type_, actor=actor, data=data, refs=refs, at=at)
    await collection(Event).insert_one(document, session=session)
    metrics.event_written(type_)  # counted when sent: a transaction run again counts again
    wake()
    return document["_id"]


def wake() -> None:
    """Tell this process's drains that an event was (or is about to be) committed."""
    for waker in _wakers:
        waker.set()


def register_waker(waker: asyncio.Event) -> None:
    """Let `record` wake this drain."""
    _wakers.add(waker)


def unregister_waker(waker: asyncio.Event) -> None:
    """Stop waking this drain (it stopped)."""
    _wakers.discard(waker)
