"""The `report_sweeps` collection: a moderation action's resolution of one target's open
reports, until every one of them is marked resolved.

Hiding or dismissing writes the target's state, its log entry and one sweep in one small
transaction; the reports (possibly tens of thousands) are marked afterwards in bounded
batches, and the sweep is deleted last. Meanwhile the queue leaves out the open reports a
sweep covers, so a resolved target never shows as open.
"""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1


class ReportSweep(Document):
    """Resolve the target's reports still open and filed no later than `resolved_at`."""

    article_id: PydanticObjectId
    comment_id: int | None = None
    resolution: str  # "hidden" or "dismissed"
    resolved_by: PydanticObjectId | None = None
    # The action's instant: the reports it covers are those filed up to it (a report filed
    # after it stays open, for the next decision).
    resolved_at: datetime = Field(default_factory=utc_now)
    schema_version: int = SCHEMA_VERSION

    class Settings:
        name = "report_sweeps"
        indexes = [
            # Sweeps due, oldest first: the queue's exclusions and the periodic pass.
            IndexModel([("resolved_at", ASCENDING), ("_id", ASCENDING)], name="due"),
        ]
