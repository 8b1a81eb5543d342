"""Moderation: reports, hiding, suspension, roles and the audit log. No HTTP here.

Every action writes one `moderation_log` document in the same transaction as the action where
the server has transactions; elsewhere the log entry follows the action it records.
"""

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import Article, Comment, ModerationEntry, Report, User
from models.common import utc_now
from models.moderation_log import NEWEST_FIRST
from models.reports import OLDEST_FIRST, QUEUE_COUNT_CAP
from models.users import Role
from service.articles.counters import move_counter
from service.articles.counts import counts
from service.articles.reads import FULL_FIELDS
from service.articles.visibility import is_live, readable
from service.articles.writes import UPDATE_ATTEMPTS, reread
from service.contract.cursors import after_condition, next_page_cursor
from service.contract.errors import Conflict, Forbidden, Invalid, NotFound
from service.contract.versions import at_version, version_bump
from service.engine import atomically, collection
from service.moderation.sweeps import (
    not_covered,
    pending_sweeps,
    resolve_after,
    settle_covered,
    start_sweep,
    target_filter,
)
from service.profiles.queries import usernames_of
from service.rollups.queries import move_article
from service.tags.counting import move_tags, recounting, schedule
from service.users.queries import end_every_session
from service.users.roles import is_admin

# --- pure builders ----------------------------------------------------------------------------


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


def log_pipeline(limit: int, cursor: str | None) -> list[dict[str, Any]]:
    """A page of the moderation log, newest first (index `newest`)."""
    match = after_condition(cursor, NEWEST_FIRST) if cursor is not None else {}
    return [{"$match": match}, {"$sort": dict(NEWEST_FIRST)}, {"$limit": limit}]


# --- the audit log ----------------------------------------------------------------------------


OPERATOR = "operator (folio CLI)"


def log_entry(
    actor: User | None, action: str, target_type: str, target: str, reason: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """One audit-log document, names copied in so that it reads after deletions; `actor` None
    is an operator at the `folio` command line."""
    return ModerationEntry(
        actor_id=actor.id if actor else None, actor=actor.username if actor else OPERATOR,
        action=action, target_type=target_type, target=target, reason=reason, details=details,
    ).model_dump(exclude={"id"})


async def write_log(entry: dict[str, Any], session: Any = None) -> None:
    """Append one entry to `moderation_log`."""
    await collection(ModerationEntry).insert_one(entry, session=session)


async def log_page(limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The newest log entries after the cursor, and the cursor for the next page."""
    rows = await collection(ModerationEntry).aggregate(log_pipeline(limit, cursor)).to_list(limit)
    next_cursor = next_page_cursor(NEWEST_FIRST, rows, limit)
    return rows, next_cursor


# --- reports ----------------------------------------------------------------------------------


async def file_report(
    reporter: User, article_id: PydanticObjectId, comment_id: int | None, reason: str,
    note: str | None,
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
            inserted = await collection(Report).insert_one(document)
        except DuplicateKeyError:
            existing = await collection(Report).find_one(key)
            if existing is not None and await settle_covered(existing):
                continue  # a moderator already resolved it (its sweep is still running)
            if existing is not None:
                return existing, False
            continue
        # Its target may have been deleted meanwhile (with its reports): take this one back.
        if not await _target_exists(article_id, comment_id):
            await collection(Report).delete_one({"_id": inserted.inserted_id})
            raise NotFound("comment" if comment_id is not None else "article", "not found")
        return {**document, "_id": inserted.inserted_id}, True
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


# --- hiding -----------------------------------------------------------------------------------


def _moderation(moderator: User, reason: str) -> dict[str, Any]:
    return {"hidden": True, "reason": reason, "by": moderator.id, "at": utc_now()}


async def _moderated_write(
    current: dict[str, Any], fields: dict[str, Any], logged: Any
) -> dict[str, Any] | None:
    """Set `fields` on the article at the version read, moving the version, with
    `logged(current, session)` and the tag counts' moves (hiding takes a live article's tags
    out, unhiding puts them back) in the same transaction; None if the version moved."""
    tags = recounting(current, fields, utc_now())

    async def write(session: Any) -> dict[str, Any] | None:
        updated = await collection(Article).find_one_and_update(
            {"_id": current["_id"], **at_version(current), **tags.guard},
            version_bump(current, {**fields, **tags.fields}),
            projection=dict(FULL_FIELDS),
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if updated is not None:
            await logged(current, session)
            await move_tags(tags.moves, session)
        return updated

    updated = await atomically(write)
    if updated is not None:
        schedule().note(tags.scheduled)
    return updated


async def _versioned_article_write(
    article: dict[str, Any], fields_for: Any, logged: Any
) -> dict[str, Any]:
    """Set `fields_for(current)` on the article at the version read, moving the version (so an
    author's edit racing this one re-reads it and keeps the article hidden), re-reading while
    another write moves it first. Nothing changes when `fields_for` answers None."""
    current = article
    for _ in range(UPDATE_ATTEMPTS):
        fields = fields_for(current)
        if fields is None:  # nothing to change: already in the wanted state
            return current
        updated = await _moderated_write(current, fields, logged)
        if updated is not None:
            await counts().clear()
            await move_article(current, updated)  # hiding takes it out of analytics
            return updated
        current = await reread(article["_id"])
    raise Conflict("article", "kept changing while it was moderated; try again")


async def hide_article(article: dict[str, Any], moderator: User, reason: str) -> dict[str, Any]:
    """Hide an article and resolve its open reports; it becomes a draft to all but its author
    and moderators. Hiding a hidden article changes nothing (and logs nothing)."""

    def fields_for(current: dict[str, Any]) -> dict[str, Any] | None:
        if current.get("moderation"):
            return None
        moderation = {**_moderation(moderator, reason), "published_at": current["published_at"]}
        return {"moderation": moderation, "published_at": None}

    sweeps: list[dict[str, Any]] = []

    async def logged(current: dict[str, Any], session: Any) -> None:
        sweep, resolved = await start_sweep(current["_id"], None, moderator, "hidden", session)
        sweeps[:] = [sweep]  # a retried transaction replaces what its aborted try recorded
        entry = log_entry(moderator, "hide_article", "article", current["slug"], reason,
                          reports_resolved=resolved)
        await write_log(entry, session)

    updated = await _versioned_article_write(article, fields_for, logged)
    for sweep in sweeps:
        await resolve_after(sweep)
    return {**readable(updated), "author": article["author"]}


async def unhide_article(
    article: dict[str, Any], moderator: User, reason: str | None
) -> dict[str, Any]:
    """Make a hidden article public again at the instant hiding took away (or an author's later
    choice of one). Unhiding a visible article changes nothing."""

    def fields_for(current: dict[str, Any]) -> dict[str, Any] | None:
        moderation = current.get("moderation")
        if not moderation:
            return None
        return {"moderation": None, "published_at": moderation.get("published_at")}

    async def logged(current: dict[str, Any], session: Any) -> None:
        await write_log(log_entry(moderator, "unhide_article", "article", current["slug"], reason),
                        session)

    updated = await _versioned_article_write(article, fields_for, logged)
    return {**readable(updated), "author": article["author"]}


async def set_comment_hidden(
    comment: dict[str, Any], slug: str, moderator: User, reason: str | None, *, hidden: bool
) -> dict[str, Any]:
    """Hide a comment (resolving its open reports) or show it again; logged when it changed."""
    label = target_label(slug, comment["_id"])

    async def write(session: Any) -> dict[str, Any] | None:
        if hidden:
            assert reason is not None
            change = {"$set": {"moderation": _moderation(moderator, reason)}}
        else:
            change = {"$unset": {"moderation": ""}}
        # `article_id` rides along: it leads comments' shard key (docs/scaling.md).
        updated = await collection(Comment).find_one_and_update(
            {"_id": comment["_id"], "article_id": comment["article_id"],
             "moderation": {"$exists": not hidden}},
            change,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if updated is None:
            return None  # already in that state: nothing to log
        # The article's hidden count moves with the comment, in the same transaction, so that
        # comment totals (comments_count - hidden_comments_count) never count anything.
        await move_counter(comment["article_id"], "hidden_comments_count", 1 if hidden else -1,
                           session)
        details: dict[str, Any] = {}
        sweeps.clear()  # a retried transaction starts over
        if hidden:
            sweep, details["reports_resolved"] = await start_sweep(
                comment["article_id"], comment["_id"], moderator, "hidden", session
            )
            sweeps.append(sweep)
        action = "hide_comment" if hidden else "unhide_comment"
        await write_log(log_entry(moderator, action, "comment", label, reason, **details), session)
        return updated

    sweeps: list[dict[str, Any]] = []
    updated = await atomically(write)
    for sweep in sweeps:
        await resolve_after(sweep)
    if updated is None:
        updated = await collection(Comment).find_one(
            {"_id": comment["_id"], "article_id": comment["article_id"]}
        )
        if updated is None:
            raise NotFound("comment", "not found")
    return updated


async def slug_of(article_id: PydanticObjectId) -> str | None:
    """The slug of the article with this id; None once its deletion has started."""
    found = await collection(Article).find_one(
        {"_id": article_id, "status": {"$ne": "deleted"}}, {"slug": 1}
    )
    return None if found is None else found["slug"]


async def comment_by_id(comment_id: int) -> dict[str, Any]:
    """The comment with this id, wherever it is; NotFound otherwise."""
    found = await collection(Comment).find_one({"_id": comment_id})
    if found is None:
        raise NotFound("comment", "not found")
    return found


def moderator_may_see(article: dict[str, Any], moderator: User) -> bool:
    """What the read routes' `is_visible` answers for a signed-in moderator: live articles,
    their own, and hidden ones; never another author's draft or scheduled article."""
    return (
        is_live(article)
        or article["author_id"] == moderator.id
        or article.get("moderation") is not None
    )


async def comment_to_moderate(comment_id: int, moderator: User) -> tuple[dict[str, Any], str]:
    """The comment with this id and its article's slug, if the moderator may see the article:
    NotFound otherwise, as for an id that does not exist (comment ids are sequential, so a
    different answer would let anyone walk the comments of every draft)."""
    comment = await comment_by_id(comment_id)
    article = await collection(Article).find_one(
        {"_id": comment["article_id"]},
        {"slug": 1, "author_id": 1, "published_at": 1, "moderation": 1},
    )
    if article is None or not moderator_may_see(article, moderator):
        raise NotFound("comment", "not found")
    return comment, article["slug"]


# --- suspension and roles ---------------------------------------------------------------------


def check_may_act_on(actor: User, target: User) -> None:
    """Moderators act on authors only; admins on anyone but themselves."""
    if actor.id == target.id:
        raise Forbidden("user", "cannot be yourself")
    if target.role != "author" and not is_admin(actor):
        raise Forbidden("user", f"is a {target.role}; only an admin can do that")


async def suspend(
    target: User, actor: User, reason: str, until: datetime | None
) -> dict[str, Any]:
    """Suspend an account until `until` (or until lifted): its writes answer 403 and every
    session ends. Suspending again replaces the reason and the end."""
    check_may_act_on(actor, target)
    if until is not None and until <= utc_now():
        raise Invalid("until", "must be in the future")
    suspension = {"reason": reason, "until": until, "by": actor.id, "at": utc_now()}

    async def write(session: Any) -> dict[str, Any]:
        updated = await end_every_session(target, {"suspension": suspension}, session)
        entry = log_entry(actor, "suspend_user", "user", target.username, reason,
                          until=until)
        await write_log(entry, session)
        return updated

    return await atomically(write)


async def unsuspend(target: User, actor: User, reason: str | None) -> dict[str, Any]:
    """Lift a suspension (a no-op, unlogged, for an account that is not suspended)."""
    check_may_act_on(actor, target)

    async def write(session: Any) -> dict[str, Any]:
        updated = await collection(User).find_one_and_update(
            {"_id": target.id, "suspension": {"$exists": True}},
            {"$unset": {"suspension": ""}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if updated is None:
            return target.model_dump(by_alias=True)
        await write_log(log_entry(actor, "unsuspend_user", "user", target.username, reason),
                        session)
        return updated

    return await atomically(write)


async def change_role(
    target: User, admin: User, role: Role, admins: Collection[str]
) -> dict[str, Any]:
    """Give an account a role (admins only, never their own, never away from FOLIO_ADMINS)."""
    if admin.id == target.id:
        raise Forbidden("user", "cannot change your own role")
    if target.username in admins and role != "admin":
        raise Conflict("role", "is admin by FOLIO_ADMINS; remove the name there first")
    return await store_role(target, role, admin)


async def store_role(target: User, role: Role, actor: User | None) -> dict[str, Any]:
    """Store an account's role and log the change (`actor` None: an operator's command).

    The log's "previous" is the role the write replaced, from the document as it was just
    before it (ReturnDocument.BEFORE), not from `target`, which was read earlier and may be
    stale by then (another admin's change in between).
    """

    async def write(session: Any) -> dict[str, Any]:
        before = await collection(User).find_one_and_update(
            {"_id": target.id}, {"$set": {"role": role}},
            return_document=ReturnDocument.BEFORE, session=session,
        )
        if before is None:
            raise NotFound("profile", "not found")
        previous = before.get("role") or "author"  # an account from before roles
        if previous != role:
            entry = log_entry(actor, "set_role", "user", target.username, None,
                              previous=previous, role=role)
            await write_log(entry, session)
        return {**before, "role": role}

    return await atomically(write)


async def users_with_role(role: Role) -> list[dict[str, Any]]:
    """Every account with this role, by username (index `role_username`)."""
    return await collection(User).find(
        {"role": role}, {"username": 1, "email": 1, "role": 1, "suspension": 1}
    ).sort([("role", 1), ("username", 1)]).to_list(None)
