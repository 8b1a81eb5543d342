"""The events consumer that writes notifications (registered as "notifications" in
service/api.py's EVENT_CONSUMERS). No HTTP, no network: one upsert per event at most.

At-least-once safe: each notification has a key unique per recipient (models/notifications.py),
and the write is an upsert that only sets fields on insert, so a replayed event, or a repeat
of the same thing (follow, unfollow, follow), leaves the first notification as it was.
"""

from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from models import Notification
from models.common import utc_now
from service.engine import collection
from service.notifications import live
from service.observability import metrics

# Event type -> notification type, for the events that tell someone about another's action.
SIMPLE = {"profile.followed": "followed", "comment.created": "commented",
          "article.favorited": "favorited"}
MODERATION_PREFIX = "moderation."


def _key(kind: str, event: dict[str, Any], actor_id: Any) -> str | None:
    """What makes two notifications the same one for their recipient (None: not a notification)."""
    refs = event.get("refs") or {}
    if kind == "followed":
        return f"followed:{actor_id}"
    if kind == "favorited":
        return f"favorited:{actor_id}:{refs.get('article')}" if refs.get("article") else None
    if kind == "commented":
        return f"commented:{refs['comment']}" if refs.get("comment") is not None else None
    return f"moderation:{event['_id']}"


def notification_for(event: dict[str, Any]) -> dict[str, Any] | None:
    """The notification document an event makes, without `_id` and `created_at`; None when the
    event tells nobody anything (no recipient, the actor's own doing, an unrelated type). Pure."""
    event_type = str(event.get("type", ""))
    if event_type in SIMPLE:
        kind = SIMPLE[event_type]
    elif event_type.startswith(MODERATION_PREFIX):
        kind = "moderation"
    else:
        return None
    refs = event.get("refs") or {}
    recipient = refs.get("user")
    actor_id = (event.get("actor") or {}).get("id")
    if recipient is None or (actor_id is not None and actor_id == recipient):
        return None  # nobody to tell, or the recipient's own action
    if kind != "moderation" and actor_id is None:
        return None
    key = _key(kind, event, actor_id)
    if key is None:
        return None
    document: dict[str, Any] = {"recipient_id": recipient, "type": kind, "key": key,
                                "read": False, "schema_version": 1}
    for field, value in (("actor_id", actor_id), ("article_id", refs.get("article")),
                         ("comment_id", refs.get("comment")), ("event_id", event.get("_id"))):
        if value is not None:
            document[field] = value
    if kind == "moderation":
        data = event.get("data") or {}
        document["action"] = data.get("action") or event_type.removeprefix(MODERATION_PREFIX)
        if data.get("reason"):
            document["reason"] = str(data["reason"])
    return document


async def consume(event: dict[str, Any]) -> None:
    """Write the notification this event makes, once (see the module docstring)."""
    document = notification_for(event)
    if document is None:
        return
    fresh = {**document, "_id": ObjectId(), "created_at": utc_now()}
    try:
        written = await collection(Notification).update_one(
            {"recipient_id": document["recipient_id"], "key": document["key"]},
            {"$setOnInsert": fresh},
            upsert=True,
        )
    except DuplicateKeyError:
        return  # a concurrent upsert of the same key inserted it first
    if written.upserted_id is None:
        return  # the same thing again: the first notification stands
    metrics.notification_written(document["type"])
    live.wake(document["recipient_id"])  # streams in this process look at once
