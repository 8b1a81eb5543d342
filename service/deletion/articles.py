"""Article deletion: mark the article, sweep what names it in batches, delete it last. No HTTP.

A multi-document delete is not atomic and stops part-way when its time budget runs out, so an
article's dependents are never removed by one unbounded `delete_many`. Instead:

1. `mark` (one update, on the article alone) sets `status: "deleted"`, `published_at: null`,
   moves the slug aside (`<slug>~deleted~<id>`, freeing it at once, as a delete would), moves
   the version (a concurrent edit or moderation re-reads and finds nothing) and stamps
   `deleting` by the server's clock. Every list, feed, search, tag, analytics and Atom query
   already filters on `published_at` (or `status` for drafts), through the same indexes, so
   the article is gone from all of them at once; a by-slug read refuses it (`is_visible`).
   From then on nothing new can be counted on it: `move_counter` never adds to a marked
   article, so a favorite or comment that raced the mark takes itself back (and a report
   finds its target gone, service/moderation/reports.py).
2. `sweep` removes its favorite edges, comments, reports and revisions in batches of at most
   BATCH_SIZE, found by `article_id` and deleted by `_id`; favorites and comments each move
   the article's counter down by exactly the number deleted, in the same transaction where
   the server has them. It runs until a whole pass finds nothing, then deletes the article.
3. One sweeper at a time holds an article (`deletion_claimed_until`, a lease by the server's
   clock, renewed after every batch); every step is idempotent (it deletes what it finds and
   counts only what it deleted), so a second sweeper, or a rerun after a crash, does no harm.

The DELETE request marks, then sweeps up to INLINE_BATCHES batches; the deletion sweeper, a
loop in the API's lifespan (service/deletion/sweeper.py, every FOLIO_DELETION_SWEEP_SECONDS), finishes
the rest under its own time budget, and resumes whatever a stopped process left.
"""

import logging
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from models import Article, ArticleRevision, Comment, Favorite, Notification, Report
from models.common import utc_now
from service.articles.announcing import announce, was_announced
from service.articles.counts import counts
from service.articles.reads import favorites_key
from service.articles.writes import stale
from service.contract.versions import at_version
from service.engine import atomically, collection, take_lease
from service.profiles.queries import authors_by_id
from service.rollups.queries import move_article
from service.tags.counting import uncount

log = logging.getLogger("folio.deletion")

# Documents removed per batch: small enough for a short transaction that touches one article.
BATCH_SIZE = 50
# How long a sweeper holds an article between two batches before another may take it over.
CLAIM_SECONDS = 60
# Batches the DELETE request itself sweeps before it leaves the rest to the background loop.
INLINE_BATCHES = 4
# What the analytics rollups need of the article as it was before the mark.
ROLLUP_FIELDS = {"published_at": 1, "tag_list": 1, "favorites_count": 1, "comments_count": 1}
# What its `article.unpublished` event needs of it.
EVENT_FIELDS = {"slug": 1, "title": 1, "author_id": 1, "announced": 1}
DELETED = "deleted"


class SweepBusy(Exception):
    """Another sweeper holds this article (its claim has not lapsed)."""


def tombstone_slug(slug: str, article_id: PydanticObjectId) -> str:
    """The slug a marked article keeps: never one that `slugify` makes, and unique."""
    return f"{slug}~deleted~{article_id}"


def marking(article: dict[str, Any]) -> dict[str, Any]:
    """The update that marks an article deleted (see the module docstring)."""
    return {
        "$set": {
            "status": DELETED,
            "published_at": None,
            "slug": tombstone_slug(article["slug"], article["_id"]),
            "announced": False,
        },
        "$inc": {"version": 1},
        "$currentDate": {"deleting": True},
    }


async def mark(article: dict[str, Any], *, if_version: bool = False) -> bool:
    """Mark an article deleted, and take its tags out of the counts and write its
    `article.unpublished` (when it was announced) in the same transaction; whether this call
    marked it (not when it already was, or is gone). With `if_version`, only while it is still
    at the version read (else PreconditionFailed). The actor is the author when `article`
    carries its `author` (their DELETE), else the system (an account's deletion)."""
    author = article.get("author")
    if author is None and article.get("author_id") is not None:
        author = (await authors_by_id([article["author_id"]])).get(article["author_id"])
    selector = {
        "_id": article["_id"],
        "status": {"$ne": DELETED},
        **(at_version(article) if if_version else {}),
    }

    async def write(session: Any) -> dict[str, Any] | None:
        before = await collection(Article).find_one_and_update(
            selector, marking(article), projection={**ROLLUP_FIELDS, **EVENT_FIELDS},
            return_document=ReturnDocument.BEFORE, session=session,
        )
        if before is None:
            return None
        # Its instant is gone (null), so the scheduled-tags sweep can never count it again.
        await uncount(article["_id"], session)
        if was_announced(before, utc_now()):
            shown = author or {"_id": before["author_id"], "username": "", "bio": None,
                               "image": None}
            await announce("article.unpublished", before, shown, article.get("author"), session,
                           reason="deleted")
        return before

    before = await atomically(write)
    if before is None:
        if if_version and await collection(Article).find_one(
            {"_id": article["_id"], "status": {"$ne": DELETED}}, {"_id": 1}
        ):
            raise stale()
        return False
    await counts().clear()  # lists and totals drop it at once
    await move_article(before, None)  # and analytics, after the commit (service/rollups/queries.py)
    return True


# --- the steps, each removing one batch of one kind ----------------------------------------------

# A step removes at most BATCH_SIZE documents naming the article, and says how many.
Step = Callable[[PydanticObjectId], Awaitable[int]]


async def _batch(model: type, article_id: PydanticObjectId, fields: dict[str, int]) -> list[dict]:
    """The next batch of documents naming the article (each kind has an index led by
    `article_id`)."""
    cursor = collection(model).find({"article_id": article_id}, {"_id": 1, **fields})
    return await cursor.limit(BATCH_SIZE).to_list(None)


async def _counted(model: type, counter: str, article_id: PydanticObjectId) -> list[dict]:
    """Delete one batch of counted documents and move the counter down by exactly as many, in
    one transaction where the server has them; the documents deleted (as read)."""
    batch = await _batch(model, article_id, {"user_id": 1} if model is Favorite else {})
    if not batch:
        return []

    async def write(session: Any) -> int:
        gone = await collection(model).delete_many(
            {"_id": {"$in": [d["_id"] for d in batch]}, "article_id": article_id},
            session=session,
        )
        if gone.deleted_count:  # only what this sweeper deleted is uncounted
            await collection(Article).update_one(
                {"_id": article_id}, {"$inc": {counter: -gone.deleted_count}}, session=session
            )
        return gone.deleted_count

    await atomically(write)
    return batch


async def favorites(article_id: PydanticObjectId) -> int:
    """One batch of favorite edges; each fan's favorites lists count again."""
    batch = await _counted(Favorite, "favorites_count", article_id)
    for user_id in {edge["user_id"] for edge in batch}:
        await counts().forget(favorites_key(user_id))
    return len(batch)


async def comments(article_id: PydanticObjectId) -> int:
    """One batch of comments."""
    return len(await _counted(Comment, "comments_count", article_id))


async def _uncounted(model: type, article_id: PydanticObjectId) -> int:
    """Delete one batch of documents that nothing counts."""
    batch = await _batch(model, article_id, {})
    if not batch:
        return 0
    gone = await collection(model).delete_many({"_id": {"$in": [d["_id"] for d in batch]}})
    return gone.deleted_count or len(batch)


async def reports(article_id: PydanticObjectId) -> int:
    """One batch of reports (on the article or its comments)."""
    return await _uncounted(Report, article_id)


async def revisions(article_id: PydanticObjectId) -> int:
    """One batch of revisions."""
    return await _uncounted(ArticleRevision, article_id)


async def notifications(article_id: PydanticObjectId) -> int:
    """One batch of notifications about the article (its comments' ones name it too)."""
    return await _uncounted(Notification, article_id)


# Everything that names an article by `article_id`. Reports before comments would let a
# report filed on a comment meanwhile survive it, so reports come after.
STEPS: dict[str, Step] = {
    "favorites": favorites,
    "comments": comments,
    "reports": reports,
    "revisions": revisions,
    "notifications": notifications,
}


# --- sweeping -----------------------------------------------------------------------------------


async def _claim(article_id: PydanticObjectId, held: datetime | None) -> datetime | None:
    """Take (or renew `held`) the sweep of a marked article; the end of the claim, or None once
    the article is gone. SweepBusy while another sweeper holds it."""
    found = await take_lease(
        Article, {"_id": article_id, "status": DELETED}, "deletion_claimed_until",
        CLAIM_SECONDS, held,
    )
    if found is not None:
        return found["deletion_claimed_until"]
    if await collection(Article).find_one({"_id": article_id, "status": DELETED}, {"_id": 1}):
        raise SweepBusy(str(article_id))
    return None


async def _release(article_id: PydanticObjectId, held: datetime) -> None:
    """Give up this sweeper's claim if it still holds it (best effort: it lapses anyway)."""
    try:
        await collection(Article).update_one(
            {"_id": article_id, "deletion_claimed_until": held},
            {"$set": {"deletion_claimed_until": None}},
        )
    except Exception:  # the database may be why the sweep stopped
        log.warning("could not release the deletion claim on article %s", article_id)


async def sweep(article_id: PydanticObjectId, max_batches: int | None = None) -> Tally[str] | None:
    """Sweep a marked article, at most `max_batches` batches (None: to the end); what it
    removed per kind, with `article` 1 once the article itself is gone and `batches` the
    batches it swept; None if it is not marked.

    SweepBusy when another sweeper holds it. An error stops the sweep where it is (every
    batch is whole or, with transactions, undone) and releases the claim for the next run.
    """
    held = await _claim(article_id, None)
    if held is None:
        return None
    removed: Tally[str] = Tally()
    batches = 0
    try:
        while True:
            found = 0
            for name, step in STEPS.items():
                while count := await step(article_id):
                    removed[name] += count
                    found += count
                    batches += 1
                    removed["batches"] = batches
                    if max_batches is not None and batches >= max_batches:
                        await _release(article_id, held)
                        return removed
                    renewed = await _claim(article_id, held)
                    if renewed is None:  # finished by another sweeper after our claim lapsed
                        return removed
                    held = renewed
            if not found:  # a whole pass found nothing: nothing names it any more
                break
        gone = await collection(Article).delete_one({"_id": article_id, "status": DELETED})
        removed["article"] += gone.deleted_count
        await counts().clear()
        return removed
    except BaseException:
        await _release(article_id, held)
        raise


async def marked_articles(limit: int) -> list[PydanticObjectId]:
    """Up to `limit` marked articles, the longest-marked first (the `deleting` index)."""
    found = collection(Article).find({"status": DELETED}, {"_id": 1}).sort("deleting", 1)
    return [article["_id"] for article in await found.limit(limit).to_list(None)]


async def delete_article(article: dict[str, Any], *, if_version: bool = False) -> None:
    """The author's DELETE: mark the article (gone from every read at once), then sweep up to
    INLINE_BATCHES batches; whatever is left, or stopped by an error, the background loop
    finishes (so the answer never waits on a popular article's thousands of favorites)."""
    await mark(article, if_version=if_version)
    try:
        await sweep(article["_id"], INLINE_BATCHES)
    except SweepBusy:
        pass  # the background loop got to it first
    except Exception:
        log.exception("sweeping deleted article %s stopped; the background loop resumes it",
                      article["_id"])
