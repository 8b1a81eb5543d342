"""The `article_revisions` collection: the content each article update replaced."""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1
# Revisions kept per article; older ones are deleted as new ones arrive.
KEPT_REVISIONS = 50


class ArticleRevision(Document):
    """Version `version` of an article, as it stood before an update replaced it."""

    article_id: PydanticObjectId
    version: int
    title: str
    description: str
    body: str
    tag_list: list[str] = Field(default_factory=list)
    # Who wrote this version, and when; then who replaced it, and when.
    editor_id: PydanticObjectId
    edited_at: datetime
    replaced_by: PydanticObjectId
    replaced_at: datetime = Field(default_factory=utc_now)
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "article_revisions"
        indexes = [
            # One revision per version; newest first for paging and for trimming to the last 50.
            IndexModel(
                [("article_id", ASCENDING), ("version", DESCENDING)],
                name="article_version_unique",
                unique=True,
            ),
        ]
