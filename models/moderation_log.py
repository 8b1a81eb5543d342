"""The `moderation_log` collection: one document per moderation action, never changed."""

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import DESCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1
NEWEST_FIRST = [("at", DESCENDING), ("_id", DESCENDING)]


class ModerationEntry(Document):
    """Who did what to which target, why and when.

    Usernames and slugs are copied in as they were, so that the log still reads after an
    account or article is deleted.
    """

    # Null for an operator's `folio` command, which acts as no account.
    actor_id: PydanticObjectId | None = None
    actor: str
    action: str
    target_type: str  # "article", "comment", "user" or "report"
    target: str  # a slug, "slug#comment-id", a username or a report id
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    at: datetime = Field(default_factory=utc_now)
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "moderation_log"
        indexes = [IndexModel(NEWEST_FIRST, name="newest")]
