"""The `webhooks` and `webhook_deliveries` collections: the admins' endpoints and what is sent."""

from datetime import datetime
from typing import Any, Literal

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1
# A webhook's delivery log, newest first (ObjectIds grow with time; the id breaks no ties).
LOG_ORDER = [("_id", DESCENDING)]
# Delivery documents are a log: kept this long, then MongoDB's TTL monitor removes them.
DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600
# The admins' list of webhooks.
OLDEST_FIRST = [("created_at", ASCENDING), ("_id", ASCENDING)]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class Webhook(Document):
    """One receiver: its URL, the event types it wants and the secret its deliveries are signed
    with. A webhook belongs to the site, not to the admin who made it (`created_by` is a note).

    The secret is stored as given out (`whsec_` + base64), because signing needs it in the
    clear; it never leaves the database but in the creation or rotation answer, and `folio
    export` leaves it out (README, "Webhooks").
    """

    url: str
    events: list[str]
    enabled: bool = True
    secret: str | None = None  # null only after an import: rotate it before enabling
    created_by: PydanticObjectId | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    # The first failed attempt of the current run of failures (null after a success): a
    # webhook failing for a day is disabled.
    failing_since: datetime | None = None
    disabled_reason: str | None = None
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "webhooks"
        indexes = [
            # consume(): the enabled webhooks subscribed to one event type (a multikey index).
            IndexModel([("events", ASCENDING), ("enabled", ASCENDING)], name="events_enabled"),
            # Account deletion forgets the creator (the webhook stays: it belongs to the site).
            IndexModel([("created_by", ASCENDING)], name="created_by"),
            IndexModel(OLDEST_FIRST, name="oldest"),
        ]


class WebhookDelivery(Document):
    """One event for one webhook: its signed body, its attempts and when the next one is due.

    A sender claims a due delivery by moving `next_attempt_at` past now and writing its
    `lease`, in one `find_one_and_update`; a sender that dies loses the claim when that time
    comes. `next_attempt_at` is null once the delivery is delivered or failed.
    """

    webhook_id: PydanticObjectId
    event_id: PydanticObjectId
    event: str  # the event type
    event_at: datetime
    body: str  # the JSON body, fixed once so that every attempt sends (and signs) the same bytes
    status: DeliveryStatus = "pending"
    # Every attempt: {"at", "status" (HTTP status or null), "error" (short, or null), "round"}.
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    attempt_count: int = 0
    round: int = 1  # a redelivery starts a new round of attempts, under the same webhook-id
    round_attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utc_now)
    lease: str | None = None
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utc_now)
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "webhook_deliveries"
        indexes = [
            # One delivery per webhook and event: a repeated consume() hits this and stops.
            IndexModel([("webhook_id", ASCENDING), ("event_id", ASCENDING)],
                       name="webhook_event_unique", unique=True),
            # The senders' claim: pending deliveries whose next attempt is due.
            IndexModel([("next_attempt_at", ASCENDING)], name="due",
                       partialFilterExpression={"status": "pending"}),
            # A webhook's log, newest first (and removing a deleted webhook's deliveries).
            IndexModel([("webhook_id", ASCENDING), *LOG_ORDER], name="webhook_newest"),
            IndexModel([("created_at", ASCENDING)], name="expire",
                       expireAfterSeconds=DELIVERY_RETENTION_SECONDS),
        ]
