"""The `notifications` collection: what a user is told about others' actions on their things."""

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1
NotificationType = Literal["followed", "commented", "favorited", "moderation"]
NOTIFICATION_TYPES: tuple[NotificationType, ...] = ("followed", "commented", "favorited", "moderation")
# A recipient's notifications, newest first: the list's order, its cursors' and the stream's.
NEWEST_NOTIFICATIONS = [("created_at", DESCENDING), ("_id", DESCENDING)]
UNREAD = {"read": False}


class Notification(Document):
    """One notification for `recipient_id`, written by the events consumer
    (service/notifications/consumer.py), never by a request.

    `key` names what the notification is about, so that a repeat of the same thing is the same
    document (unique per recipient): `followed:<actor>`, `favorited:<actor>:<article>`,
    `commented:<comment>`, `moderation:<event>`. The first one stays as it was, read or not,
    with its `created_at`: a follow, unfollow, follow (or a favorite toggled) is not news
    twice, and a replayed event writes nothing.
    """

    recipient_id: PydanticObjectId
    type: NotificationType
    key: str
    # Who acted (for `moderation`, the moderator, kept for account deletion and never shown).
    actor_id: PydanticObjectId | None = None
    article_id: PydanticObjectId | None = None
    comment_id: int | None = None
    # `moderation` only: the action (e.g. `article_hidden`) and the moderator's reason.
    action: str | None = None
    reason: str | None = None
    read: bool = False
    event_id: PydanticObjectId | None = None
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "notifications"
        keep_nulls = False
        indexes = [
            # The list, its cursors, and the stream's polls (a recipient's newest since an
            # instant): equality on the recipient, then the order.
            IndexModel([("recipient_id", ASCENDING), *NEWEST_NOTIFICATIONS], name="recipient_newest"),
            # `unreadCount` is one count on this index, and "mark all read" walks it: only unread
            # notifications are in it, so it stays as small as what is unread.
            IndexModel([("recipient_id", ASCENDING)], name="recipient_unread",
                       partialFilterExpression=UNREAD),
            # Makes consuming an event idempotent and collapses repeats (see the class docstring).
            IndexModel([("recipient_id", ASCENDING), ("key", ASCENDING)], name="recipient_key_unique",
                       unique=True),
            # Account deletion removes the notifications about what the account did.
            IndexModel([("actor_id", ASCENDING)], name="actor", sparse=True),
            # Article deletion removes the notifications about the article.
            IndexModel([("article_id", ASCENDING)], name="article", sparse=True),
        ]
