"""The `follows` collection: one document per follower → followee edge."""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1


class Follow(Document):
    """`follower_id` follows `followee_id`; the unique index makes following idempotent."""

    follower_id: PydanticObjectId
    followee_id: PydanticObjectId
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "follows"
        indexes = [
            # Also serves "whom does X follow" (feed) and "does X follow these authors" (flags).
            IndexModel(
                [("follower_id", ASCENDING), ("followee_id", ASCENDING)],
                name="follower_followee_unique",
                unique=True,
            ),
            # Serves counting a user's followers (analytics).
            IndexModel([("followee_id", ASCENDING)], name="followee"),
            # Serves the feed's authors: a user's most recent follows first, up to its cap.
            IndexModel(
                [("follower_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="follower_newest",
            ),
        ]
