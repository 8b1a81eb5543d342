"""Wire shapes of the notifications domain."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from service.contract.schemas import MAX_LIMIT, RequestModel, SparseWireModel, Timestamp, WireModel
from service.notifications.queries import MAX_READ_IDS
from service.profiles.schemas import Profile

NotificationId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]


class NotificationArticle(WireModel):
    """The article a notification is about."""

    slug: str
    title: str


class NotificationComment(WireModel):
    """The comment a notification is about."""

    id: int
    body: str


class NotificationModeration(WireModel):
    """What a moderator did (`article_hidden`, `comment_restored`, `user_suspended`, ...), and
    why; who did it stays private, as on hidden comments."""

    action: str
    reason: str | None = None


class NotificationOut(SparseWireModel):
    """One notification. `actor` is who acted (null for `moderation`); `article`, `comment` and
    `moderation` are present when they apply."""

    OMITTED_WHEN_NULL = frozenset({"article", "comment", "moderation"})

    id: str
    type: Literal["followed", "commented", "favorited", "moderation"]
    read: bool
    created_at: Timestamp
    actor: Profile | None = None
    article: NotificationArticle | None = None
    comment: NotificationComment | None = None
    moderation: NotificationModeration | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "NotificationOut":
        """Build from a notification that `queries.joined` completed."""
        actor, article, comment = doc.get("actor"), doc.get("article"), doc.get("comment")
        return cls(
            id=str(doc["_id"]),
            type=doc["type"],
            read=doc.get("read", False),
            created_at=doc["created_at"],
            actor=None if actor is None else Profile.from_author(actor, following=actor["following"]),
            article=None if article is None else NotificationArticle(
                slug=article["slug"], title=article["title"]),
            comment=None if comment is None else NotificationComment(
                id=comment["_id"], body=comment["body"]),
            moderation=NotificationModeration(action=doc.get("action") or "", reason=doc.get("reason"))
            if doc["type"] == "moderation" else None,
        )


class NotificationsResponse(WireModel):
    """A page of notifications, newest first, the unread total, and the next page's cursor."""

    notifications: list[NotificationOut]
    unread_count: int
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last one")


class NotificationPageParams(BaseModel):
    """A page of notifications: how many, and where to continue."""

    limit: int = Field(default=20, ge=1, le=MAX_LIMIT, description="notifications per page")
    cursor: str | None = Field(default=None, max_length=512,
                               description="`nextCursor` of the previous page")


class MarkReadRequest(RequestModel):
    """Which notifications to mark read: `{"ids": [...]}` (one's own; others' are ignored) or
    `{"all": true}`."""

    ids: list[NotificationId] | None = Field(default=None, min_length=1, max_length=MAX_READ_IDS)
    all: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "MarkReadRequest":
        if (self.ids is None) == (self.all is None):
            raise PydanticCustomError("choice", "{message}", {
                "field": "body", "message": 'send either "ids" or "all": true'})
        return self


class UnreadResponse(WireModel):
    """How many notifications are still unread."""

    unread_count: int


class StreamTicketResponse(WireModel):
    """A single-use ticket for `GET /api/notifications/stream?ticket=...`, and its expiry."""

    ticket: str
    expires_at: Timestamp


def stream_data(note: NotificationOut) -> str:
    """A notification as one stream event's `data:` (the list's JSON of it)."""
    return note.model_dump_json(by_alias=True)


