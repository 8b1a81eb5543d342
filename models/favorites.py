"""The `favorites` collection: one document per user → article favorite edge."""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1

# A user's favorites list runs most recently favorited first; `_id` breaks ties.
NEWEST_FAVORITED = [("created_at", DESCENDING), ("_id", DESCENDING)]


class Favorite(Document):
    """`user_id` favorited `article_id`; the unique index makes favoriting idempotent."""

    user_id: PydanticObjectId
    article_id: PydanticObjectId
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "favorites"
        indexes = [
            # Serves "which of these articles has X favorited" (the viewer flag).
            IndexModel(
                [("user_id", ASCENDING), ("article_id", ASCENDING)],
                name="user_article_unique",
                unique=True,
            ),
            # Serves `?favorited=<user>`, newest edge first, and its count: the work is bounded
            # by the page however many favorites the user has.
            IndexModel(
                [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="user_newest",
            ),
            # Serves removing an article's favorites when the article is deleted.
            IndexModel([("article_id", ASCENDING)], name="article"),
        ]
