"""The event contract shared by the outbox, its drain and its consumers (docs: /work EVENTS.md,
README "Events"): the event types, and what a consumer is."""

from collections.abc import Awaitable, Callable
from typing import Any

# Every event type Folio writes. Webhook subscriptions are validated against this tuple.
EVENT_TYPES: tuple[str, ...] = (
    "article.published",
    "article.updated",
    "article.unpublished",
    "comment.created",
    "profile.followed",
    "article.favorited",
    "report.created",
    "moderation.article_hidden",
    "moderation.article_restored",
    "moderation.comment_hidden",
    "moderation.comment_restored",
    "moderation.user_suspended",
    "moderation.user_restored",
    "moderation.webhook_disabled",
)

# `async def consume(event: dict) -> None`: given the raw event document; idempotent (the drain
# is at-least-once), fast (it writes its own documents, no network calls), and it raises to
# have the event retried later. Registered in service/api.py's EVENT_CONSUMERS.
Consumer = Callable[[dict[str, Any]], Awaitable[None]]
