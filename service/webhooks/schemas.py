"""Webhook bodies: creating and changing a webhook, its answers, and its delivery log."""

from typing import Literal

from pydantic import Field, field_validator

from service.contract.schemas import (
    MAX_LIMIT,
    RequestModel,
    SparseWireModel,
    Text,
    Timestamp,
    WireModel,
)
from service.events import EVENT_TYPES

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
Url = Text(2048)
Events = list[EventType]


def _distinct(events: list[str] | None) -> list[str] | None:
    """The event types in the order given, each once; at least one."""
    if events is None:
        return None
    if not events:
        raise ValueError("name at least one event type")
    return list(dict.fromkeys(events))


class NewWebhook(RequestModel):
    """`{"url", "events"}`: where to send, and which event types."""

    url: Url
    events: Events = Field(max_length=len(EVENT_TYPES) * 4)

    _events = field_validator("events")(_distinct)


class NewWebhookRequest(RequestModel):
    """The `webhook` envelope of a creation."""

    webhook: NewWebhook


class WebhookChange(RequestModel):
    """Any of `url`, `events`, `enabled`, and `rotateSecret: true` for a new secret."""

    READ_ONLY = frozenset({"id", "createdAt", "secret", "updatedAt"})

    url: Url | None = None
    events: Events | None = Field(default=None, max_length=len(EVENT_TYPES) * 4)
    enabled: bool | None = None
    rotate_secret: bool = False

    _events = field_validator("events")(_distinct)


class WebhookChangeRequest(RequestModel):
    """The `webhook` envelope of a change."""

    webhook: WebhookChange


class WebhookOut(SparseWireModel):
    """A webhook as admins see it; `secret` only in the creation and rotation answers."""

    OMITTED_WHEN_NULL = frozenset({"secret"})

    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: Timestamp
    updated_at: Timestamp
    disabled_reason: str | None = Field(
        default=None, description="why the sender disabled it (null when enabled or by an admin)"
    )
    secret: str | None = Field(
        default=None,
        description="`whsec_…`: shown only when created or rotated; verify signatures with it",
    )


class WebhookResponse(WireModel):
    """The `webhook` envelope."""

    webhook: WebhookOut


class WebhooksResponse(WireModel):
    """Every webhook, oldest first (no secrets)."""

    webhooks: list[WebhookOut]


class AttemptOut(WireModel):
    """One attempt: when, the receiver's HTTP status (null if none came) and a short error."""

    at: Timestamp
    response_status: int | None = None
    error: str | None = None
    round: int = 1


class DeliveryOut(WireModel):
    """One event for one webhook, and how its sending went."""

    id: str
    event: str
    event_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(description="attempts made so far, over every round")
    last_response_status: int | None = None
    last_error: str | None = None
    next_attempt_at: Timestamp | None = None
    created_at: Timestamp
    history: list[AttemptOut] = Field(description="the attempts, oldest first")


class DeliveriesResponse(WireModel):
    """A page of the delivery log, newest first, and the cursor of the next page."""

    deliveries: list[DeliveryOut]
    next_cursor: str | None = None


class DeliveryResponse(WireModel):
    """The `delivery` envelope."""

    delivery: DeliveryOut


class DeliveryParams(RequestModel):
    """The log's keyset paging."""

    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=512)
