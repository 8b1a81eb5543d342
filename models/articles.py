"""The `articles` collection: posts, with a denormalized `favorites_count`."""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utc_now

# Lists sort newest first; `_id` breaks ties between articles created in the same millisecond.
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


class Article(Document):
    """A post; `favorites_count` moves only by `$inc`, next to the favorite edge write."""

    slug: str
    title: str
    description: str
    body: str
    tag_list: list[str] = Field(default_factory=list)
    author_id: PydanticObjectId
    favorites_count: int = 0
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "articles"
        indexes = [
            IndexModel([("slug", ASCENDING)], name="slug_unique", unique=True),
            IndexModel(NEWEST_FIRST, name="created_at"),
            IndexModel([("author_id", ASCENDING), *NEWEST_FIRST], name="author_created_at"),
            IndexModel([("tag_list", ASCENDING), *NEWEST_FIRST], name="tag_created_at"),
        ]
