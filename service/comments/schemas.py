"""Wire shapes of the comments domain."""

from typing import Any

from pydantic import Field

from service.comments.queries import COMMENTS_CAP
from service.contract.schemas import (
    MAX_LIMIT,
    PageParams,
    RequestModel,
    SparseWireModel,
    Text,
    Timestamp,
    WireModel,
)
from service.profiles.schemas import Profile

# Like an article's body, a comment keeps its own white space.
CommentBody = Text(10_000, strip=False)


class NewComment(RequestModel):
    """A comment to add."""

    body: CommentBody


class NewCommentRequest(RequestModel):
    """The `comment` envelope of a create."""

    comment: NewComment


class CommentChange(RequestModel):
    """A comment's new body; the fields a comment answer carries may be sent back, unused."""

    READ_ONLY = frozenset({"id", "createdAt", "updatedAt", "author", "moderation"})

    body: CommentBody


class UpdateCommentRequest(RequestModel):
    """The `comment` envelope of an edit."""

    comment: CommentChange


class CommentModeration(WireModel):
    """Why a comment is hidden; shown to its author only (who moderated it stays private)."""

    hidden: bool = True
    reason: str


class CommentOut(SparseWireModel):
    """A comment with its author's profile; `id` is an integer.

    `moderation` is present only on a hidden comment, which only its author is shown.
    """

    OMITTED_WHEN_NULL = frozenset({"moderation"})  # a visible comment has RealWorld's shape

    id: int
    created_at: Timestamp
    updated_at: Timestamp
    body: str
    author: Profile
    moderation: CommentModeration | None = Field(
        default=None, description="present only while the comment is hidden (its author sees it)"
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "CommentOut":
        """Build from a pipeline result whose `_id` is the comment's integer id."""
        return cls.model_validate({**doc, "id": doc["_id"]})


class SingleCommentResponse(WireModel):
    """The `comment` envelope."""

    comment: CommentOut


class MultipleCommentsResponse(WireModel):
    """The `comments` envelope, with how many the viewer may see and the next page's cursor."""

    comments: list[CommentOut]
    comments_count: int = Field(description="every comment of the article this viewer may see")
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last one"
    )


class CommentPageParams(PageParams):
    """Paging of an article's comments: RealWorld's offset, or a cursor; no limit is the cap."""

    limit: int | None = Field(  # type: ignore[assignment]
        default=None,
        ge=1,
        le=MAX_LIMIT,
        description=f"comments per page; without it, up to {COMMENTS_CAP} (then `nextCursor`)",
    )
