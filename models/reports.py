"""The `reports` collection: readers' reports of articles and comments, for moderators."""

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1
ReportReason = Literal["spam", "abuse", "off-topic", "other"]
REPORT_REASONS: tuple[ReportReason, ...] = ("spam", "abuse", "off-topic", "other")
# The moderation queue runs oldest first; `_id` breaks ties.
OLDEST_FIRST = [("created_at", ASCENDING), ("_id", ASCENDING)]
# The queue's total is counted up to this many reports; past it the API says "more than"
# (`reportsCountCapped`) instead of counting on. Resolved reports are never deleted, so an exact
# total would read an ever-growing range of `status_oldest` on every page; this one reads at
# most QUEUE_COUNT_CAP + 1 index keys, and is exact for any queue a moderator can work through.
QUEUE_COUNT_CAP = 10_000


class Report(Document):
    """One user's report of an article (`comment_id` null) or of one of its comments."""

    reporter_id: PydanticObjectId
    article_id: PydanticObjectId
    comment_id: int | None = None
    reason: ReportReason
    note: str | None = None
    status: Literal["open", "resolved"] = "open"
    # How it was resolved ("hidden" or "dismissed"), by whom and when; null while open.
    resolution: str | None = None
    resolved_by: PydanticObjectId | None = None
    resolved_at: datetime | None = None
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "reports"
        indexes = [
            # One open report per user and target: a repeat hits this and answers the existing one.
            IndexModel(
                [("reporter_id", ASCENDING), ("article_id", ASCENDING), ("comment_id", ASCENDING)],
                name="open_report_unique",
                unique=True,
                partialFilterExpression={"status": "open"},
            ),
            # The queue: open (or resolved) reports, oldest first.
            IndexModel([("status", ASCENDING), *OLDEST_FIRST], name="status_oldest"),
            # A target's reports: resolving them on hide, and the counts beside each queue entry.
            IndexModel(
                [("article_id", ASCENDING), ("comment_id", ASCENDING), ("status", ASCENDING)],
                name="target_status",
            ),
            # Every report a user filed, open or resolved: removed when their account is deleted
            # (`open_report_unique` covers open reports only).
            IndexModel([("reporter_id", ASCENDING), ("_id", ASCENDING)], name="reporter"),
        ]
