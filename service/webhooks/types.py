"""The event types a webhook may subscribe to (docs: /work EVENTS contract, issue 23)."""

# A copy of the outbox's EVENT_TYPES (service/events/types.py once it lands), kept in the
# contract's order; subscriptions are validated against it.
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
