"""Moderation's actions: hiding articles and comments, suspension and roles. No HTTP here.

Each action writes its audit entry (log.py) in the same transaction where the server has
transactions; reports and the queue are in reports.py, the report sweeps in sweeps.py.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from models import Article, Comment, User
from models.common import utc_now
from models.users import Role
from service.articles.announcing import announce, announcements, announcing
from service.articles.counters import move_counter
from service.articles.counts import counts
from service.articles.reads import FULL_FIELDS
from service.articles.visibility import is_live, readable
from service.articles.writes import UPDATE_ATTEMPTS, reread
from service.contract.errors import Conflict, Forbidden, Invalid, NotFound
from service.contract.versions import at_version, version_bump
from service.engine import atomically, collection
from service.moderation.events import author_profile, moderation_event, user_fields
from service.moderation.log import log_entry, write_log
from service.moderation.reports import target_label
from service.moderation.sweeps import (
    resolve_after,
    start_sweep,
)
from service.rollups.queries import move_article
from service.tags.counting import move_tags, recounting, schedule
from service.users.queries import end_every_session
from service.users.roles import is_admin


def _moderation(moderator: User, reason: str) -> dict[str, Any]:
    return {"hidden": True, "reason": reason, "by": moderator.id, "at": utc_now()}


async def _moderated_write(
    current: dict[str, Any], fields: dict[str, Any], logged: Any, moderator: User,
    author: dict[str, Any],
) -> dict[str, Any] | None:
    """Set `fields` on the article at the version read, moving the version, with
    `logged(current, session)`, the tag counts' moves (hiding takes a live article's tags
    out, unhiding puts them back) and the article event it makes (hiding a live one
    unpublishes it, unhiding a due one publishes it) in the same transaction; None if the
    version moved."""
    now = utc_now()
    tags = recounting(current, fields, now)
    event = announcing(current, fields, now)

    async def write(session: Any) -> dict[str, Any] | None:
        updated = await collection(Article).find_one_and_update(
            {"_id": current["_id"], **at_version(current), **tags.guard, **event.guard},
            version_bump(current, {**fields, **tags.fields, **event.fields}),
            projection=dict(FULL_FIELDS),
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if updated is not None:
            await logged(current, session)
            await move_tags(tags.moves, session)
            await announce(event.event, updated, author, moderator, session, reason="hidden")
        return updated

    updated = await atomically(write)
    if updated is not None:
        schedule().note(tags.scheduled)
        announcements().note(tags.scheduled)
    return updated


async def _versioned_article_write(
    article: dict[str, Any], fields_for: Any, logged: Any, moderator: User
) -> dict[str, Any]:
    """Set `fields_for(current)` on the article at the version read, moving the version (so an
    author's edit racing this one re-reads it and keeps the article hidden), re-reading while
    another write moves it first. Nothing changes when `fields_for` answers None."""
    current = article
    for _ in range(UPDATE_ATTEMPTS):
        fields = fields_for(current)
        if fields is None:  # nothing to change: already in the wanted state
            return current
        updated = await _moderated_write(current, fields, logged, moderator, article["author"])
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
        await moderation_event("article_hidden", moderator, reason, session, article=current,
                               user=article["author"])

    updated = await _versioned_article_write(article, fields_for, logged, moderator)
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
        await moderation_event("article_restored", moderator, reason, session, article=current,
                               user=article["author"])

    updated = await _versioned_article_write(article, fields_for, logged, moderator)
    return {**readable(updated), "author": article["author"]}


async def set_comment_hidden(
    comment: dict[str, Any], slug: str, moderator: User, reason: str | None, *, hidden: bool
) -> dict[str, Any]:
    """Hide a comment (resolving its open reports) or show it again; logged when it changed."""
    label = target_label(slug, comment["_id"])
    article = await collection(Article).find_one({"_id": comment["article_id"]},
                                                 {"slug": 1, "title": 1})
    author = await author_profile(comment["author_id"])

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
        await moderation_event("comment_hidden" if hidden else "comment_restored", moderator,
                               reason, session, article=article, comment=updated, user=author)
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
        await moderation_event("user_suspended", actor, reason, session,
                               user=user_fields(target))
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
        await moderation_event("user_restored", actor, reason, session,
                               user=user_fields(target))
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
