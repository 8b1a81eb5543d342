"""Notification reads and writes: a page with its joins, unread counts, read marks, stream
polls and stream tickets. No HTTP.

A page is read in at most MAX_SCAN_BATCHES indexed batches (`recipient_newest`), each joined
in one `$in` per kind (actors, articles, comments) plus one for `following`: notifications
about content that is gone or hidden, or from an actor who is gone, are left out on read. A
page that meets many of them ends short after the last batch, with a `nextCursor` past what
it read, so the reads stay bounded whatever was filtered. Deletions also remove them
(service/deletion/), so only hidden content and deleted comments are filtered for long.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models import Article, Comment, Notification, StreamTicket
from models.common import as_utc, utc_now
from models.notifications import NEWEST_NOTIFICATIONS, UNREAD
from service.contract.cursors import after_condition, keyset_cursor
from service.contract.errors import Invalid
from service.engine import collection
from service.profiles.queries import authors_by_id, followed_among

# Batches a page may read when notifications are filtered out; each is one indexed read.
MAX_SCAN_BATCHES = 3
# Ids one `POST /api/notifications/read` may name.
MAX_READ_IDS = 100
NOTIFICATION_FIELDS = {"type": 1, "read": 1, "created_at": 1, "actor_id": 1, "article_id": 1,
                       "comment_id": 1, "action": 1, "reason": 1}
ARTICLE_FIELDS = {"slug": 1, "title": 1, "status": 1, "moderation": 1}
COMMENT_FIELDS = {"body": 1, "moderation": 1, "article_id": 1}


# --- filters (pure) --------------------------------------------------------------------------


def recipient_filter(recipient_id: PydanticObjectId, after: dict[str, Any] | None = None) -> dict:
    """A recipient's notifications, after a cursor's position if given (`recipient_newest`)."""
    match: dict[str, Any] = {"recipient_id": recipient_id}
    return {"$and": [match, after]} if after else match


def unread_filter(recipient_id: PydanticObjectId) -> dict[str, Any]:
    """A recipient's unread notifications (partial index `recipient_unread`)."""
    return {"recipient_id": recipient_id, **UNREAD}


def shown(notification: dict[str, Any], actors: dict, articles: dict, comments: dict) -> bool:
    """Whether a notification is shown: its actor, article and comment still exist, and the
    article and comment are not hidden (a `moderation` notice is about hiding: it shows while
    its content exists, and names no actor)."""
    moderation = notification["type"] == "moderation"
    if not moderation and notification.get("actor_id") not in actors:
        return False
    article_id, comment_id = notification.get("article_id"), notification.get("comment_id")
    if article_id is not None:
        article = articles.get(article_id)
        if article is None or article.get("status") == "deleted":
            return False
        if not moderation and article.get("moderation") is not None:
            return False
    if comment_id is not None:
        comment = comments.get(comment_id)
        if comment is None or (not moderation and comment.get("moderation") is not None):
            return False
    return True


# --- the list --------------------------------------------------------------------------------


@dataclass
class NotificationPage:
    """One page of shown notifications, newest first, and the cursor past what was read."""

    notifications: list[dict[str, Any]]
    next_cursor: str | None


async def _by_id(model: type, ids: set[Any], fields: dict[str, int]) -> dict[Any, dict]:
    if not ids:
        return {}
    found = collection(model).find({"_id": {"$in": sorted(ids)}}, fields)
    return {doc["_id"]: doc async for doc in found}


async def joined(rows: list[dict[str, Any]], viewer_id: PydanticObjectId) -> list[dict[str, Any]]:
    """The shown ones among `rows`, each with `actor`, `article` and `comment` attached (one
    `$in` per kind and one for `following`, whatever the number of rows)."""
    actor_ids = {r["actor_id"] for r in rows if r.get("actor_id") and r["type"] != "moderation"}
    actors = await authors_by_id(actor_ids)
    articles = await _by_id(Article, {r["article_id"] for r in rows if r.get("article_id")},
                            ARTICLE_FIELDS)
    comments = await _by_id(Comment, {r["comment_id"] for r in rows
                                      if r.get("comment_id") is not None}, COMMENT_FIELDS)
    kept = [row for row in rows if shown(row, actors, articles, comments)]
    followed = await followed_among(viewer_id, (r["actor_id"] for r in kept
                                                if r.get("actor_id") in actors))
    for row in kept:
        actor = actors.get(row.get("actor_id")) if row["type"] != "moderation" else None
        row["actor"] = None if actor is None else {**actor, "following": actor["_id"] in followed}
        row["article"] = articles.get(row.get("article_id"))
        row["comment"] = comments.get(row.get("comment_id"))
    return kept


async def page(recipient_id: PydanticObjectId, *, limit: int, cursor: str | None) -> NotificationPage:
    """A page of the recipient's shown notifications, newest first (see the module docstring)."""
    after = after_condition(cursor, NEWEST_NOTIFICATIONS) if cursor else None
    kept: list[dict[str, Any]] = []
    for _ in range(MAX_SCAN_BATCHES):
        wanted = limit - len(kept)
        rows = await (collection(Notification).find(recipient_filter(recipient_id, after),
                                                    NOTIFICATION_FIELDS)
                      .sort(NEWEST_NOTIFICATIONS).limit(wanted + 1).to_list(None))
        batch, more = rows[:wanted], len(rows) > wanted
        if not batch:
            return NotificationPage(kept, None)
        shown_rows = await joined(batch, recipient_id)
        kept.extend(shown_rows)
        last = batch[-1]
        if not more:
            return NotificationPage(kept, None)
        if len(kept) >= limit:
            return NotificationPage(kept, keyset_cursor(NEWEST_NOTIFICATIONS, kept[-1]))
        after = after_condition(keyset_cursor(NEWEST_NOTIFICATIONS, last), NEWEST_NOTIFICATIONS)
    # Scan budget spent on filtered notifications: a short page, continuing past what was read.
    return NotificationPage(kept, keyset_cursor(NEWEST_NOTIFICATIONS, last))


async def unread_count(recipient_id: PydanticObjectId) -> int:
    """How many of the recipient's notifications are unread (one count on `recipient_unread`)."""
    return await collection(Notification).count_documents(unread_filter(recipient_id))


async def mark_read(recipient_id: PydanticObjectId, ids: list[PydanticObjectId] | None) -> None:
    """Mark these of the recipient's notifications read (others' ids match nothing); all of
    them when `ids` is None."""
    condition = unread_filter(recipient_id)
    if ids is not None:
        condition["_id"] = {"$in": ids}
    await collection(Notification).update_many(condition, {"$set": {"read": True}})


# --- the stream ------------------------------------------------------------------------------


async def position_of(recipient_id: PydanticObjectId, notification_id: PydanticObjectId) -> datetime:
    """When the named notification was made (the instant its ObjectId carries, if it is gone)."""
    found = await collection(Notification).find_one(
        {"_id": notification_id, "recipient_id": recipient_id}, {"created_at": 1})
    return as_utc(found["created_at"]) if found else notification_id.generation_time


async def since(recipient_id: PydanticObjectId, instant: datetime, limit: int) -> list[dict]:
    """The recipient's notifications made at or after `instant`, oldest first, at most `limit`
    (`recipient_newest`, read backwards)."""
    return await (collection(Notification)
                  .find({"recipient_id": recipient_id, "created_at": {"$gte": instant}},
                        NOTIFICATION_FIELDS)
                  .sort([("created_at", 1), ("_id", 1)]).limit(limit).to_list(None))


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue_ticket(user_id: PydanticObjectId, seconds: float) -> tuple[str, datetime]:
    """A new single-use stream ticket for this user, and when it expires (only its hash is
    stored)."""
    ticket = secrets.token_urlsafe(32)
    expires_at = utc_now() + timedelta(seconds=seconds)
    await collection(StreamTicket).insert_one(
        {"_id": _digest(ticket), "user_id": user_id, "expires_at": expires_at})
    return ticket, expires_at


async def redeem_ticket(ticket: str) -> PydanticObjectId | None:
    """The user a live ticket was issued to, consuming it (one atomic find-and-delete); None
    for an unknown, used or expired ticket."""
    if not ticket or len(ticket) > 128:
        return None
    found = await collection(StreamTicket).find_one_and_delete(
        {"_id": _digest(ticket), "expires_at": {"$gt": utc_now()}}, projection={"user_id": 1})
    return None if found is None else found["user_id"]


def parse_ids(values: list[str]) -> list[PydanticObjectId]:
    """Notification ids from a request body; Invalid for a malformed one."""
    try:
        return [PydanticObjectId(value) for value in values]
    except Exception:
        raise Invalid("ids", "must be notification ids") from None
