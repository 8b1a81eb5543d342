"""Reports and the moderators' queue: filing, the queue page and its pipelines, dismissing.
No HTTP here.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from models import Article, Comment, Report, User
from models.reports import OLDEST_FIRST, QUEUE_COUNT_CAP
from service.contract.cursors import after_condition, next_page_cursor
from service.contract.errors import Conflict, NotFound
from service.engine import atomically, collection
from service.events import actor_of, record
from service.moderation.log import log_entry, write_log
from service.moderation.sweeps import (
    not_covered,
    pending_sweeps,
    resolve_after,
    settle_covered,
    start_sweep,
    target_filter,
)
from service.profiles.queries import usernames_of


def queue_match(status: str, pending: list[dict[str, Any]]) -> dict[str, Any]:
    """The queue's filter: one status; open leaves out what pending sweeps already resolve."""
    return {"status": status, **(not_covered(pending) if status == "open" else {})}


def queue_pipeline(
    status: str, limit: int, cursor: str | None, pending: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A page of the report queue in one status, oldest first (index `status_oldest`)."""
    match = queue_match(status, pending or [])
    if cursor is not None:
        match.update(after_condition(cursor, OLDEST_FIRST))
    return [{"$match": match}, {"$sort": dict(OLDEST_FIRST)}, {"$limit": limit}]


def target_counts_pipeline(article_ids: list[PydanticObjectId]) -> list[dict[str, Any]]:
    """Open and total reports per target of these articles (index `target_status`)."""
    return [
        {"$match": {"article_id": {"$in": article_ids}}},
        {
            "$group": {
                "_id": {"article_id": "$article_id", "comment_id": "$comment_id"},
                "open": {"$sum": {"$cond": [{"$eq": ["$status", "open"]}, 1, 0]}},
                "total": {"$sum": 1},
            }
        },
    ]


async def _insert(document: dict[str, Any], slug: str | None, reporter: User, session: Any
                  ) -> Any:
    """Insert a report and its `report.created` event (one transaction where the server has
    them); its id. Its target may have been deleted meanwhile (with its reports): then this
    one is taken back (by the abort, or by a delete without a transaction) and NotFound."""
    article_id, comment_id = document["article_id"], document.get("comment_id")
    inserted = await collection(Report).insert_one(document, session=session)
    if not await _target_exists(article_id, comment_id):
        if session is None:
            await collection(Report).delete_one({"_id": inserted.inserted_id})
        raise NotFound("comment" if comment_id is not None else "article", "not found")
    await record("report.created", actor=actor_of(reporter), data={"report": {
        "id": str(inserted.inserted_id), "reason": document["reason"],
        "target": {"article": slug, "comment": comment_id},
    }}, refs={"article": article_id, "comment": comment_id}, session=session)
    return inserted.inserted_id


async def file_report(
    reporter: User, article_id: PydanticObjectId, comment_id: int | None, reason: str,
    note: str | None, slug: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """File a report, or find the reporter's open one on this target; (report, created).

    The unique index `open_report_unique` (partial on open reports) decides, never a read
    first: two concurrent reports by one user leave one document.
    """
    assert reporter.id is not None
    key = {"reporter_id": reporter.id, **target_filter(article_id, comment_id), "status": "open"}
    for _ in range(2):  # the open one may be resolved between our insert and our read
        report = Report(reporter_id=reporter.id, article_id=article_id, comment_id=comment_id,
                        reason=reason, note=note)  # type: ignore[arg-type]
        document = report.model_dump(exclude={"id"})
        try:
            inserted = await atomically(
                lambda session, document=document: _insert(document, slug, reporter, session))
        except DuplicateKeyError:
            existing = await collection(Report).find_one(key)
            if existing is not None and await settle_covered(existing):
                continue  # a moderator already resolved it (its sweep is still running)
            if existing is not None:
                return existing, False
            continue
        return {**document, "_id": inserted}, True
    raise Conflict("report", "changed while it was filed; try again")


async def _target_exists(article_id: PydanticObjectId, comment_id: int | None) -> bool:
    """Whether a report's target is still stored, and not being deleted (one read by `_id`)."""
    if comment_id is not None:
        return await collection(Comment).find_one({"_id": comment_id}, {"_id": 1}) is not None
    live = {"_id": article_id, "status": {"$ne": "deleted"}}
    return await collection(Article).find_one(live, {"_id": 1}) is not None


async def report_by_id(report_id: str) -> dict[str, Any]:
    """The report with this id; NotFound otherwise (also for a malformed id)."""
    try:
        found = await collection(Report).find_one({"_id": PydanticObjectId(report_id)})
    except (InvalidId, TypeError, ValueError):
        found = None
    if found is None:
        raise NotFound("report", "not found")
    return found


def target_label(slug: str | None, comment_id: int | None) -> str:
    """How the log names a target: the slug, or `slug#comment-id` for a comment."""
    return f"{slug}#comment-{comment_id}" if comment_id is not None else str(slug)


async def dismiss_reports(
    report: dict[str, Any], slug: str | None, moderator: User, reason: str | None
) -> int:
    """Resolve the report's target's open reports as dismissed (nothing hidden); logged under
    the target's `slug` (None once its article is deleted). The transaction holds the log
    entry and a sweep; the reports are marked after it (service/moderation/sweeps.py)."""
    label = target_label(slug, report.get("comment_id"))

    async def write(session: Any) -> tuple[dict[str, Any], int]:
        sweep, count = await start_sweep(
            report["article_id"], report.get("comment_id"), moderator, "dismissed", session
        )
        if count:
            entry = log_entry(moderator, "dismiss_reports", "report", label, reason,
                              reports=count, report_id=str(report["_id"]))
            await write_log(entry, session)
        return sweep, count

    sweep, count = await atomically(write)
    if count:
        await settle_covered(report)  # the report named first: the answer shows it resolved
    await resolve_after(sweep)
    return count


@dataclass
class QueuePage:
    """A page of the report queue, each report with its target and the target's counts."""

    reports: list[dict[str, Any]]
    total: int  # at most QUEUE_COUNT_CAP
    next_cursor: str | None
    capped: bool = False  # more than QUEUE_COUNT_CAP reports: `total` is the cap


async def report_queue(status: str, limit: int, cursor: str | None) -> QueuePage:
    """Reports in one status, oldest first, with targets, reporters and counts.

    A bounded number of round trips whatever the page size: the pending sweeps (open only),
    the page and the total (counted up
    to QUEUE_COUNT_CAP), then the page's articles, comments and per-target counts, then one
    `$in` for every username. Open reports a pending sweep covers are left out of page and
    total alike: their target is already decided.
    """
    pending = await pending_sweeps() if status == "open" else []
    page, counted = await asyncio.gather(
        collection(Report).aggregate(queue_pipeline(status, limit, cursor, pending)).to_list(limit),
        collection(Report).count_documents(
            queue_match(status, pending), limit=QUEUE_COUNT_CAP + 1
        ),
    )
    total, capped = min(counted, QUEUE_COUNT_CAP), counted > QUEUE_COUNT_CAP
    if not page:  # nothing to describe: no reads of targets, counts or names
        return QueuePage(page, total, None, capped)
    article_ids = sorted({row["article_id"] for row in page})
    comment_ids = sorted({row["comment_id"] for row in page if row.get("comment_id") is not None})
    articles, comments, tallies = await asyncio.gather(
        collection(Article).find(  # one being deleted shows as gone, like its reports soon
            {"_id": {"$in": article_ids}, "status": {"$ne": "deleted"}},
            {"slug": 1, "title": 1, "author_id": 1, "moderation": 1},
        ).to_list(None),
        collection(Comment).find(
            {"_id": {"$in": comment_ids}}, {"body": 1, "author_id": 1, "moderation": 1}
        ).to_list(None),
        collection(Report).aggregate(target_counts_pipeline(article_ids)).to_list(None),
    )
    by_article = {article["_id"]: article for article in articles}
    by_comment = {comment["_id"]: comment for comment in comments}
    user_ids = {row["reporter_id"] for row in page}
    user_ids |= {doc["author_id"] for doc in [*articles, *comments]}
    names = await usernames_of(user_ids)
    counted = {(t["_id"]["article_id"], t["_id"].get("comment_id")): t for t in tallies}
    for row in page:
        article = by_article.get(row["article_id"])
        comment = by_comment.get(row.get("comment_id")) if row.get("comment_id") else None
        row["reporter"] = names.get(row["reporter_id"])
        row["target"] = queue_target(row, article, comment, names)
        tally = counted.get((row["article_id"], row.get("comment_id")), {"open": 0, "total": 0})
        row["counts"] = {"open": tally["open"], "total": tally["total"]}
    next_cursor = next_page_cursor(OLDEST_FIRST, page, limit)
    return QueuePage(page, total, next_cursor, capped)


def queue_target(
    report: dict[str, Any],
    article: dict[str, Any] | None,
    comment: dict[str, Any] | None,
    names: dict[PydanticObjectId, str],
) -> dict[str, Any]:
    """What a queue entry shows of its target; `exists` false once it was deleted."""
    comment_id = report.get("comment_id")
    shown = comment if comment_id is not None else article
    return {
        "type": "comment" if comment_id is not None else "article",
        "slug": article["slug"] if article else None,
        "title": article["title"] if article else None,
        "comment_id": comment_id,
        "body": comment["body"] if comment else None,
        "author": names.get(shown["author_id"]) if shown else None,
        "hidden": bool(shown and shown.get("moderation")),
        "exists": shown is not None,
    }
