"""The `events` collection: the transactional outbox. Every change worth announcing writes one
event in the change's own transaction; the drain (service/events/drain.py) hands each to every
consumer and marks it done. Events expire after FOLIO_EVENT_RETENTION_DAYS (TTL on `at`).

The shape consumers read (`type`, `at`, `actor`, `data`, `refs`) is the contract in
service/events/types.py; the rest is the drain's bookkeeping, which consumers must not rely on.
"""

from datetime import datetime
from typing import Any

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1
DEFAULT_RETENTION_DAYS = 14
# Only events some consumer still has to handle are in the `pending` index; the drain unsets
# `pending` when every consumer is done, so the index stays as small as the backlog.
PENDING = {"pending": True}


def expiry_index(days: int) -> IndexModel:
    """The TTL index that removes events `days` after their instant."""
    return IndexModel([("at", ASCENDING)], name="expire_at", expireAfterSeconds=days * 86_400)


class Event(Document):
    """One announced change: what happened (`type`), when, who did it, and its payload."""

    type: str
    # When the change happened: the publish instant for a scheduled article going live.
    at: datetime = Field(default_factory=utc_now)
    actor: dict[str, Any] | None = None  # {"id", "username"}; None for the system
    data: dict[str, Any] = Field(default_factory=dict)
    refs: dict[str, Any] = Field(default_factory=dict)
    # --- the drain's bookkeeping -------------------------------------------------------------
    pending: bool | None = True  # unset once every consumer is done (or it was given up)
    due_at: datetime = Field(default_factory=utc_now)  # next attempt (backoff after failures)
    done: list[str] = Field(default_factory=list)  # consumers that handled it
    attempts: int = 0  # failed passes so far
    failed: list[str] = Field(default_factory=list)  # consumers given up on
    last_error: str | None = None
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "events"
        indexes = [
            # What the drain reads: pending events due now, oldest first (equality on
            # `pending`, then the range and sort on `due_at`); the backlog gauge counts its
            # prefix. Partial, so handled events never enter it.
            IndexModel([("pending", ASCENDING), ("due_at", ASCENDING)], name="pending",
                       partialFilterExpression=PENDING),
            expiry_index(DEFAULT_RETENTION_DAYS),  # the retention: see use_retention
        ]


def use_retention(days: int) -> None:
    """Declare the TTL index for this retention (FOLIO_EVENT_RETENTION_DAYS), so that
    `folio db sync`/`check` and the API agree on the `expire_at` index's expireAfterSeconds."""
    Event.Settings.indexes = [
        index for index in Event.Settings.indexes if index.document["name"] != "expire_at"
    ] + [expiry_index(days)]
