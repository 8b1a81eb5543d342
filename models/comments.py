"""The `comments` collection: comments keyed by an integer id from the `counters` collection."""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import Moderation, utc_now

SCHEMA_VERSION = 1
# An article's comments, newest first: the order of the `article_created_at` index after its
# `article_id`, and of every comment list and cursor.
NEWEST_COMMENTS = [("created_at", DESCENDING), ("_id", DESCENDING)]


# A hidden comment carries `moderation`; a shown one has no such field.
HIDDEN = {"moderation": {"$exists": True}}


class Comment(Document):
    """A comment on an article; `_id` is the integer the API shows as `id`."""

    id: int  # type: ignore[assignment]  # integer ids, as the RealWorld spec requires
    article_id: PydanticObjectId
    author_id: PydanticObjectId
    body: str
    # Moves by one on every edit (`$inc`); `If-Match` compares it.
    version: int = 1
    # Absent unless a moderator hid the comment (keep_nulls is off for comments).
    moderation: Moderation | None = None
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "comments"
        keep_nulls = False
        indexes = [
            IndexModel([("article_id", ASCENDING), *NEWEST_COMMENTS], name="article_created_at"),
            # Serves comments per day (analytics).
            IndexModel([("created_at", DESCENDING)], name="created_at"),
            # A signed-in reader's own hidden comments on an article (the part of their comment
            # total that `hidden_comments_count` leaves out). Partial: only hidden comments
            # are in it, so it stays tiny; `$exists: true` is allowed in a partial filter
            # (`$exists: false`, what shown comments have, is not).
            IndexModel(
                [("article_id", ASCENDING), ("author_id", ASCENDING)],
                name="hidden_by_author",
                partialFilterExpression=HIDDEN,
            ),
            # Serves finding an author's comments, in batches, when their account is deleted.
            IndexModel([("author_id", ASCENDING), ("_id", ASCENDING)], name="author"),
        ]
