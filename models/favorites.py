"""The `favorites` collection: one document per user → article favorite edge."""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1


class Favorite(Document):
    """`user_id` favorited `article_id`; the unique index makes favoriting idempotent."""

    user_id: PydanticObjectId
    article_id: PydanticObjectId
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "favorites"
        indexes = [
            # Serves "articles X favorited" and "which of these articles has X favorited" (flags).
            IndexModel(
                [("user_id", ASCENDING), ("article_id", ASCENDING)],
                name="user_article_unique",
                unique=True,
            ),
            # Serves removing an article's favorites when the article is deleted.
            IndexModel([("article_id", ASCENDING)], name="article"),
        ]
