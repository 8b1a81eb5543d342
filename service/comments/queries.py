"""Comment queries: visibility, pages, one comment, and writes. No HTTP here.

A page of comments is one indexed read (filter, order, window) and one `$in` query for its
authors; a signed-in reader adds one `$in` for `following` and, when the page does not hold
every comment, one count of their own hidden comments on a tiny partial index. The total comes
from the article's counters (`comments_count - hidden_comments_count`), never from counting.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from models import Article, Comment, User
from models.comments import HIDDEN, NEWEST_COMMENTS
from models.common import utc_now, utc_now_after
from service.articles.announcing import article_refs, article_summary
from service.articles.counters import counted_insert, move_counter
from service.articles.visibility import is_live
from service.comments.ids import next_id
from service.contract.cursors import after_condition, keyset_cursor
from service.contract.errors import NotFound, PreconditionFailed
from service.contract.versions import at_version, server_version_bump
from service.engine import atomically, collection
from service.events import actor_of, record
from service.profiles.queries import (
    author_stages,
    authors_by_id,
    followed_among,
    public_author,
)
from service.rollups.queries import move_comment
from service.users.queries import Viewer, is_recently_current

# A list asked for without `limit` answers at most this many comments (newest first), with a
# `nextCursor` to the rest: an article with 100,000 comments must not cost one answer of all.
COMMENTS_CAP = 500
COMMENT_FIELDS = {
    "body": 1, "created_at": 1, "updated_at": 1, "author_id": 1, "version": 1, "moderation": 1,
}  # fmt: skip


# --- filter and pipeline builders (pure) ----------------------------------------------------


def visible_comments(
    article_id: PydanticObjectId, viewer_id: PydanticObjectId | None
) -> dict[str, Any]:
    """The filter for the article's comments this viewer may see.

    A comment is hidden while it holds `moderation`; a hidden one is seen only by its author.
    The one statement of that rule: lists, single reads and writes all filter with it (totals
    follow it through the article's counters). Served by `article_created_at` (the condition
    is checked on the article's comments, only as far as the page reads).
    """
    shown = {"moderation": {"$exists": False}}
    if viewer_id is None:
        return {"article_id": article_id, **shown}
    return {"article_id": article_id, "$or": [shown, {"author_id": viewer_id}]}


def comments_page_pipeline(
    match: dict[str, Any], *, offset: int, limit: int, after: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """A page of matching comments, newest first (authors are read after it, by one `$in`).

    Served by `article_created_at` (article_id, created_at, _id), filter and order alike; a
    cursor's `after` joins the filter, so a deep page reads no more than a first one.
    """
    condition = {"$and": [match, after]} if after else match
    paging = [] if after or not offset else [{"$skip": offset}]
    return [
        {"$match": condition},
        {"$sort": dict(NEWEST_COMMENTS)},
        *paging,
        {"$limit": limit},
        {"$project": COMMENT_FIELDS},
    ]


def own_hidden_filter(article_id: PydanticObjectId, viewer_id: PydanticObjectId) -> dict[str, Any]:
    """The viewer's own hidden comments on the article (partial index `hidden_by_author`)."""
    return {"article_id": article_id, "author_id": viewer_id, **HIDDEN}


def comment_pipeline(match: dict[str, Any], comment_id: int) -> list[dict[str, Any]]:
    """One comment by id among the matching ones, with its author."""
    return [
        {"$match": {**match, "_id": comment_id}},
        {"$limit": 1},
        *author_stages(COMMENT_FIELDS),
    ]


# --- reads ----------------------------------------------------------------------------------


async def with_following(
    comments: list[dict[str, Any]], viewer_id: PydanticObjectId | None
) -> list[dict[str, Any]]:
    """Set `author.following` for the viewer on each comment (one `$in` query at most)."""
    followed = await followed_among(viewer_id, (comment["author_id"] for comment in comments))
    for comment in comments:
        comment["author"]["following"] = comment["author_id"] in followed
    return comments


@dataclass
class CommentPage:
    """One page of comments, how many the viewer may see in all, and the next page's cursor."""

    comments: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None


async def _page(
    match: dict[str, Any], offset: int, limit: int, after: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The page, with one extra row to tell whether more follow (one indexed read)."""
    pipeline = comments_page_pipeline(match, offset=offset, limit=limit + 1, after=after)
    return await collection(Comment).aggregate(pipeline).to_list(length=limit + 1)


async def with_authors(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach each comment's author (one `$in` query); a comment whose author is gone drops."""
    authors = await authors_by_id(comment["author_id"] for comment in comments)
    return [{**comment, "author": dict(authors[comment["author_id"]])}
            for comment in comments if comment["author_id"] in authors]


def shown_total(article: dict[str, Any]) -> int:
    """How many of the article's comments everyone sees, from its counters."""
    return max(0, article.get("comments_count", 0) - article.get("hidden_comments_count", 0))


def _holds_hidden(comments: list[dict[str, Any]]) -> bool:
    """Whether any of these comments is hidden (so only a current author may see it)."""
    return any(comment.get("moderation") is not None for comment in comments)


async def _total(
    article: dict[str, Any], viewer: Viewer | None, viewer_id: PydanticObjectId | None,
    rows: list[dict[str, Any]], limit: int, *, first_page: bool, confirmed: bool,
) -> int:
    """The comments this viewer may see: a first page holding them all is its own count;
    otherwise the article's counters, plus the viewer's own hidden comments (one count on
    `hidden_by_author`), which a token no longer current does not see."""
    if first_page and len(rows) <= limit:
        return len(rows)
    total = shown_total(article)
    if viewer is None or viewer_id is None:
        return total
    own = await collection(Comment).count_documents(own_hidden_filter(article["_id"], viewer_id))
    if own and not confirmed and not await is_recently_current(viewer):
        return total
    return total + own


async def comment_page(
    article: dict[str, Any],
    viewer: Viewer | None,
    *,
    offset: int = 0,
    limit: int = COMMENTS_CAP,
    cursor: str | None = None,
) -> CommentPage:
    """A page of the article's comments this viewer may see, newest first.

    Anonymous: one indexed read and one `$in` for authors. Signed in: one `$in` more for
    `following`, and one count of their hidden comments when the total is not the page.
    The viewer's own hidden comments are shown only while their token is current, as drafts
    are: that is checked (from a recent confirmation, or one read) only when one is involved.
    """
    after = after_condition(cursor, NEWEST_COMMENTS) if cursor else None
    article_id = article["_id"]
    viewer_id = None if viewer is None else viewer.id
    rows = await _page(visible_comments(article_id, viewer_id), offset, limit, after)
    confirmed = False
    if viewer is not None and _holds_hidden(rows):
        confirmed = await is_recently_current(viewer)
        if not confirmed:
            viewer_id = None  # a revoked token sees what everyone sees
            rows = await _page(visible_comments(article_id, None), offset, limit, after)
    first_page = not offset and not after
    authored, total = await asyncio.gather(
        with_authors(rows[:limit]),
        _total(article, viewer, viewer_id, rows, limit, first_page=first_page,
               confirmed=confirmed),
    )
    page = await with_following(authored, viewer_id)
    next_cursor = keyset_cursor(NEWEST_COMMENTS, rows[limit - 1]) if len(rows) > limit else None
    return CommentPage(page, total, next_cursor)


async def visible_comment(
    article_id: PydanticObjectId, comment_id: int, viewer: Viewer | None
) -> dict[str, Any]:
    """One comment with its author, if this viewer may see it; NotFound otherwise."""
    viewer_id = None if viewer is None else viewer.id
    pipeline = comment_pipeline(visible_comments(article_id, viewer_id), comment_id)
    found = await collection(Comment).aggregate(pipeline).to_list(length=1)
    if not found or (
        viewer is not None and _holds_hidden(found) and not await is_recently_current(viewer)
    ):
        raise NotFound("comment", "not found")
    return (await with_following(found, viewer_id))[0]


async def add_comment(
    article_id: PydanticObjectId, author: User, body: str, *, published_at: Any = None,
    article: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a comment under the next integer id of the `comments` sequence, and count it.

    The id comes from this process's reserved block (service/comments/ids.py), not from one
    `$inc` per comment on the shared counter.

    The comment and the article's `$inc` are one transaction on a replica set; elsewhere a
    failed `$inc` takes the comment back (`folio db recount` repairs what a failover leaves).
    On a live `article` (as read by slug, with its author) the transaction also writes
    `comment.created`; nothing is announced for a comment on a draft or a scheduled article.
    """
    now = utc_now()
    comment = Comment(
        id=await next_id("comments"),
        article_id=article_id,
        author_id=author.id,  # type: ignore[arg-type]
        body=body,
        created_at=now,
        updated_at=now,
    )

    shown = {"_id": comment.id, "body": body, "created_at": now, "updated_at": now,
             "author_id": author.id, "author": {**public_author(author), "following": False}}

    async def write(session: Any) -> None:
        await counted_insert(
            article_id, "comments_count", lambda session: comment.insert(session=session),
            lambda: collection(Comment).delete_one({"_id": comment.id}), session,
        )
        if article is not None and is_live(article):
            # schemas.py reads this module's COMMENTS_CAP: imported here, not at the top.
            from service.comments.schemas import CommentOut

            await record("comment.created", actor=actor_of(author), data={
                "comment": CommentOut.from_doc(shown).model_dump(mode="json", by_alias=True),
                "article": article_summary(article, article["author"]),
            }, refs={**article_refs(article), "comment": comment.id}, session=session)

    await atomically(write)
    await move_comment(published_at, now, +1)  # the article's `published_at`: analytics
    return shown


async def comment_on_article(
    article_id: PydanticObjectId, comment_id: int, viewer_id: PydanticObjectId | None
) -> dict[str, Any]:
    """The comment with this id under this article, if the viewer may see it; NotFound otherwise.

    Someone else's hidden comment is not found, so a write to it answers 404, not 403.
    """
    comment = await collection(Comment).find_one(
        {**visible_comments(article_id, viewer_id), "_id": comment_id},
        {"author_id": 1, "article_id": 1, "version": 1, "updated_at": 1, "created_at": 1},
    )
    if comment is None:
        raise NotFound("comment", "not found")
    return comment


async def delete_comment(comment: dict[str, Any]) -> None:
    """Delete one comment and uncount it, from the hidden count too if it was hidden (one
    transaction on a replica set).

    In the transaction the article's `$inc` comes first, where a conflict on a busy article
    costs least (see `hot_first` in service/articles/counters.py); a comment already gone
    aborts it, which takes the `$inc` back.
    """

    async def write(session: Any) -> bool:
        if session is not None:
            await move_counter(comment["article_id"], "comments_count", -1, session)
        removed = await collection(Comment).find_one_and_delete(
            {"_id": comment["_id"], "article_id": comment["article_id"]},
            projection={"moderation": 1}, session=session,
        )
        if removed is None:
            if session is not None:
                raise _AlreadyGone
            return False  # a concurrent delete already uncounted it
        deltas = {} if session is not None else {"comments_count": -1}
        if removed.get("moderation") is not None:
            deltas["hidden_comments_count"] = -1
        if deltas:
            await collection(Article).update_one(
                {"_id": comment["article_id"]}, {"$inc": deltas}, session=session
            )
        return True

    try:
        deleted = await atomically(write)
    except _AlreadyGone:
        return
    if deleted and comment.get("created_at") is not None:
        article = await collection(Article).find_one(
            {"_id": comment["article_id"]}, {"published_at": 1}
        )
        await move_comment(article and article.get("published_at"), comment["created_at"], -1)


class _AlreadyGone(Exception):
    """A concurrent delete removed (and uncounted) the comment first: nothing to write."""


def stale() -> PreconditionFailed:
    """The 412 for an `If-Match` that names a version of the comment no longer current."""
    return PreconditionFailed("comment", "was changed by someone else")


async def update_comment(
    comment: dict[str, Any], author: User, body: str, *, if_version: bool = False
) -> dict[str, Any]:
    """Replace the comment's body in one atomic update; `updated_at` moves, the version too.

    The new version is the stored one plus one, computed by the server (a pipeline update),
    whatever version was read: a comment from before versions is never set back to 2.

    With `if_version`, the write applies only while the stored comment is still at the
    version read (checked in the same `find_one_and_update`, never by a read before it), else
    PreconditionFailed and nothing is written.
    """
    changes = {"body": body, "updated_at": utc_now_after(comment.get("updated_at"))}
    # `article_id` rides along in every single-comment write: it leads comments' shard key, so
    # on a sharded cluster each one goes to one shard (docs/scaling.md).
    updated = await collection(Comment).find_one_and_update(
        {"_id": comment["_id"], "article_id": comment["article_id"],
         **(at_version(comment) if if_version else {})},
        server_version_bump(changes),
        projection=dict(COMMENT_FIELDS),  # a copy: the embedded engine adds `_id` to it in place
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        raise stale() if if_version else NotFound("comment", "not found")
    return {**updated, "author": {**public_author(author), "following": False}}
