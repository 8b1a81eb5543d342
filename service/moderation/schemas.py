"""Moderation bodies: reports, the queue, hiding, suspension, roles and the audit log."""

from typing import Any, Literal, Self

from pydantic import Field

from models.reports import QUEUE_COUNT_CAP, ReportReason
from models.users import Role
from service.contract.schemas import (
    MAX_LIMIT,
    RequestModel,
    SparseWireModel,
    Text,
    Timestamp,
    WireModel,
    ZonedInstant,
)

Reason = Text(500, strip=False)
Note = Text(2000, strip=False, blank=True)


class NewReport(RequestModel):
    """Why the content is reported, and an optional note for moderators."""

    reason: ReportReason
    note: Note | None = None


class NewReportRequest(RequestModel):
    """The `report` envelope."""

    report: NewReport


class ReportTargetOut(WireModel):
    """What was reported: an article, or a comment on one."""

    type: Literal["article", "comment"]
    slug: str | None = Field(description="null once the article is deleted")
    comment_id: int | None = None


class QueueTargetOut(ReportTargetOut):
    """A queue entry's target as moderators see it (hidden content included)."""

    title: str | None = None
    body: str | None = Field(default=None, description="the comment's text")
    author: str | None = Field(default=None, description="the target author's username")
    hidden: bool = False
    exists: bool = True


class ReportCounts(WireModel):
    """How many reports the same target has."""

    open: int
    total: int


class ReportOut(WireModel):
    """A report, as its reporter sees it."""

    id: str
    reason: ReportReason
    note: str | None
    status: Literal["open", "resolved"]
    resolution: str | None = Field(default=None, description="hidden or dismissed, once resolved")
    created_at: Timestamp
    resolved_at: Timestamp | None = None
    target: ReportTargetOut

    @classmethod
    def from_doc(cls, doc: dict[str, Any], target: dict[str, Any]) -> Self:
        """Build from a stored report and its target."""
        return cls.model_validate({**doc, "id": str(doc["_id"]), "target": target})


class QueuedReportOut(ReportOut):
    """A report in the queue: with its reporter, its target's details and the target's counts."""

    target: QueueTargetOut
    reporter: str | None = Field(description="the reporter's username; null once deleted")
    counts: ReportCounts


class ReportResponse(WireModel):
    """The `report` envelope."""

    report: ReportOut


class ReportQueueResponse(WireModel):
    """A page of the moderation queue, oldest first."""

    reports: list[QueuedReportOut]
    reports_count: int = Field(
        description=f"How many reports are in this status, counted up to {QUEUE_COUNT_CAP:,} "
        "(so that the count stays cheap however many resolved reports accumulate). Exact when "
        f"`reportsCountCapped` is false; otherwise there are more: show \"{QUEUE_COUNT_CAP:,}+\"."
    )
    reports_count_capped: bool = Field(
        description=f"True when there are more than {QUEUE_COUNT_CAP:,} reports in this status "
        f"(`reportsCount` is then {QUEUE_COUNT_CAP:,})."
    )
    next_cursor: str | None = None


class QueueParams(RequestModel):
    """The queue's status and keyset paging."""

    status: Literal["open", "resolved"] = "open"
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=512)


class LogParams(RequestModel):
    """The log's keyset paging."""

    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=512)


class ReasonRequest(RequestModel):
    """`{"reason": "…"}`: why, for the audit log (and for the author, when hiding)."""

    reason: Reason


class OptionalReasonRequest(RequestModel):
    """An optional reason, for actions that undo another."""

    reason: Reason | None = None


class SuspendRequest(RequestModel):
    """`{"reason": "…", "until": "2026-12-31T00:00:00Z"}`; no `until` means until lifted."""

    reason: Reason
    until: ZonedInstant | None = None


class RoleChange(RequestModel):
    """The role to give."""

    role: Role


class RoleChangeRequest(RequestModel):
    """The `user` envelope of a role change."""

    user: RoleChange


class SuspensionView(WireModel):
    """A live suspension."""

    reason: str
    until: Timestamp | None
    at: Timestamp


class ModeratedUserOut(WireModel):
    """An account as moderators see it: its role and any suspension (never its email)."""

    username: str
    role: Role
    suspension: SuspensionView | None = None


class ModeratedUserResponse(WireModel):
    """The `user` envelope of a moderation action."""

    user: ModeratedUserOut


class ModeratedCommentOut(SparseWireModel):
    """A comment after a moderation action."""

    OMITTED_WHEN_NULL = frozenset({"moderation"})

    id: int
    body: str
    author: str | None
    moderation: dict[str, Any] | None = None


class ModeratedCommentResponse(WireModel):
    """The `comment` envelope of a moderation action."""

    comment: ModeratedCommentOut


class ModeratedMediaOut(SparseWireModel):
    """An upload after a moderation action: its id, its owner and whether it is hidden."""

    OMITTED_WHEN_NULL = frozenset({"moderation"})

    id: str
    owner: str | None
    moderation: dict[str, Any] | None = None


class ModeratedMediaResponse(WireModel):
    """The `media` envelope of a moderation action."""

    media: ModeratedMediaOut


class LogEntryOut(WireModel):
    """One moderation action."""

    id: str
    actor: str
    action: str
    target_type: str
    target: str
    reason: str | None
    details: dict[str, Any]
    at: Timestamp


class LogResponse(WireModel):
    """A page of the moderation log, newest first."""

    entries: list[LogEntryOut]
    next_cursor: str | None = None
