"""What an account owns, removed in batches of at most BATCH_SIZE. No HTTP.

One step per kind (follows both ways, favorites, comments, reports filed, articles, media), each
keeping exact the counters it touches; accounts.py runs the steps in order (STEPS) and holds
the claim. Without transactions, the articles a batch touches are first listed on the account
(`deletion_pending`) and settled (recounted) after; accounts.py's docstring has the whole order.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from beanie import PydanticObjectId

from models import Article, Comment, Favorite, Follow, Notification, Report, User, Webhook
from models.comments import HIDDEN
from service.articles.counters import move_counter
from service.articles.counts import counts
from service.articles.reads import favorites_key
from service.articles.recount import StillMoving, recount_counter
from service.deletion import articles as article_deletion
from service.engine import atomically, collection
from service.media import purge as media_purge
from service.rollups.queries import move_held

log = logging.getLogger("folio.deletion")

# Documents read (and then removed) per batch, one transaction each; a test lowers it.
BATCH_SIZE = 25


async def _pending(user_id: PydanticObjectId, article_ids: list[PydanticObjectId]) -> None:
    """List the articles a batch is about to touch, before it touches them."""
    await collection(User).update_one(
        {"_id": user_id}, {"$addToSet": {"deletion_pending": {"$each": article_ids}}}
    )


async def _settled(user_id: PydanticObjectId, article_ids: list[PydanticObjectId]) -> None:
    """Strike the articles of a completed batch off the pending list."""
    await collection(User).update_one(
        {"_id": user_id}, {"$pull": {"deletion_pending": {"$in": article_ids}}}
    )


COUNTED = (
    ("favorites_count", Favorite, {}),
    ("comments_count", Comment, {}),
    ("hidden_comments_count", Comment, HIDDEN),
)


async def recount_article(article_id: PydanticObjectId) -> bool:
    """Set an article's counters to the documents that name it, exactly (one small transaction
    each where the server has them; see service/articles/recount.py); False when it is gone."""
    for counter, model, condition in COUNTED:
        try:
            if await recount_counter(
                collection(Article), collection(model), article_id, counter, condition
            ) is None:
                return False
        except StillMoving:
            # Only without transactions; `folio db recount` settles it once writes calm down.
            log.warning("the %s of article %s kept moving while it was recounted", counter, article_id)
    return True


async def settle(user_id: PydanticObjectId, article_ids: list[PydanticObjectId]) -> None:
    """Finish what an interrupted batch left: recount the articles that still exist (one
    already deleted was swept of everything naming it before it went)."""
    for article_id in article_ids:
        await recount_article(article_id)
    await _settled(user_id, article_ids)


# A step removes at most BATCH_SIZE documents of one kind and says how many it removed
# (0: nothing of that kind is left).
Step = Callable[[PydanticObjectId], Awaitable[int]]


async def _ids(model: type, condition: dict[str, Any], fields: dict[str, int]) -> list[dict]:
    """The next batch of matching documents (their `_id` and `fields`)."""
    return await collection(model).find(condition, fields).limit(BATCH_SIZE).to_list(None)


async def _remove_by_id(model: type, condition: dict[str, Any]) -> int:
    """Remove the next batch of matching documents that nothing counts."""
    batch = await _ids(model, condition, {"_id": 1})
    if not batch:
        return 0
    removed = await collection(model).delete_many({"_id": {"$in": [d["_id"] for d in batch]}})
    return removed.deleted_count


async def follows_given(user_id: PydanticObjectId) -> int:
    """The follows the account gave."""
    return await _remove_by_id(Follow, {"follower_id": user_id})


async def follows_received(user_id: PydanticObjectId) -> int:
    """The follows the account received."""
    return await _remove_by_id(Follow, {"followee_id": user_id})


async def favorites(user_id: PydanticObjectId) -> int:
    """The account's favorites, grouped by article: one delete and one exact `$inc` each."""
    batch = await _ids(Favorite, {"user_id": user_id}, {"article_id": 1})
    if not batch:
        return 0
    per_article: dict[PydanticObjectId, list[Any]] = {}
    for edge in batch:
        per_article.setdefault(edge["article_id"], []).append(edge["_id"])
    article_ids = list(per_article)
    await _pending(user_id, article_ids)

    uncounted: dict[PydanticObjectId, tuple[int, int]] = {}

    async def write(session: Any) -> int:
        removed = 0
        uncounted.clear()  # a retried transaction starts over
        for article_id, edge_ids in per_article.items():
            gone = await collection(Favorite).delete_many(
                {"_id": {"$in": edge_ids}, "user_id": user_id}, session=session
            )
            if gone.deleted_count:  # only what this runner removed is uncounted
                await move_counter(article_id, "favorites_count", -gone.deleted_count, session)
                uncounted[article_id] = (-gone.deleted_count, 0)
            removed += gone.deleted_count
        return removed

    removed = await atomically(write)
    await move_held(uncounted)
    await _settled(user_id, article_ids)
    await counts().forget(favorites_key(user_id))
    return removed


async def comments(user_id: PydanticObjectId) -> int:
    """The account's comments, uncounted per article, with the reports about them."""
    batch = await _ids(Comment, {"author_id": user_id}, {"article_id": 1, "moderation": 1})
    if not batch:
        return 0
    # Per article, the shown and the hidden comments apart: each delete names the state read,
    # so the hidden count moves by exactly what was hidden (one that changed state meanwhile
    # stays for the next batch).
    per_article: dict[PydanticObjectId, tuple[list[int], list[int]]] = {}
    for comment in batch:
        shown, hidden = per_article.setdefault(comment["article_id"], ([], []))
        (hidden if comment.get("moderation") is not None else shown).append(comment["_id"])
    article_ids = list(per_article)
    await _pending(user_id, article_ids)

    uncounted: dict[PydanticObjectId, tuple[int, int]] = {}

    async def write(session: Any) -> int:
        removed = 0
        uncounted.clear()  # a retried transaction starts over
        for article_id, (shown, hidden) in per_article.items():
            # Reports first: while its comments remain, a re-run still finds them.
            await collection(Report).delete_many(
                {"article_id": article_id, "comment_id": {"$in": shown + hidden}},
                session=session,
            )
            deltas: dict[str, int] = {}
            for ids, were_hidden in ((shown, False), (hidden, True)):
                if not ids:
                    continue
                gone = await collection(Comment).delete_many(
                    {"_id": {"$in": ids}, "author_id": user_id,
                     "moderation": {"$exists": were_hidden}}, session=session,
                )
                if gone.deleted_count:  # only what this runner removed is uncounted
                    deltas["comments_count"] = deltas.get("comments_count", 0) - gone.deleted_count
                    if were_hidden:
                        deltas["hidden_comments_count"] = -gone.deleted_count
                removed += gone.deleted_count
            for counter, delta in deltas.items():
                await move_counter(article_id, counter, delta, session)
            if deltas:
                uncounted[article_id] = (0, deltas["comments_count"])
        return removed

    removed = await atomically(write)
    await move_held(uncounted)
    await _settled(user_id, article_ids)
    return removed


async def reports_filed(user_id: PydanticObjectId) -> int:
    """The reports the account filed, open or resolved."""
    return await _remove_by_id(Report, {"reporter_id": user_id})


async def webhooks_created(user_id: PydanticObjectId) -> int:
    """Forget the account as the creator of webhooks: the webhooks belong to the site and stay
    (the moderation log keeps who made them only as text in other entries)."""
    forgotten = await collection(Webhook).update_many(
        {"created_by": user_id}, {"$set": {"created_by": None}}
    )
    return forgotten.modified_count


class ArticleBusy(Exception):
    """An article of the account is being swept by another runner: finish the account later."""


async def articles(user_id: PydanticObjectId) -> int:
    """The account's articles: each marked (gone from every read at once), then swept of
    everything naming it and deleted (service/deletion/articles.py)."""
    batch = await _ids(Article, {"author_id": user_id},
                       {"slug": 1, "status": 1, "version": 1, "author_id": 1})
    if not batch:
        return 0
    removed = 0
    for article in batch:
        if article.get("status") != article_deletion.DELETED:
            await article_deletion.mark(article)
        try:
            swept = await article_deletion.sweep(article["_id"])
        except article_deletion.SweepBusy:
            raise ArticleBusy(str(article["_id"])) from None
        removed += 1 if swept is None else swept["article"]
    return removed or len(batch)


async def notifications_received(user_id: PydanticObjectId) -> int:
    """The account's notifications (`recipient_newest`)."""
    return await _remove_by_id(Notification, {"recipient_id": user_id})


async def notifications_caused(user_id: PydanticObjectId) -> int:
    """Others' notifications about what the account did (`actor`)."""
    return await _remove_by_id(Notification, {"actor_id": user_id})
async def media(user_id: PydanticObjectId) -> int:
    """The account's uploads: each marked, its GridFS files deleted, then its document
    (service/media/purge.py). After the articles, whose covers used them."""
    return await media_purge.remove_owned(user_id, BATCH_SIZE)


# In order: edges and the account's own writes first, its articles last, then the account.
STEPS: dict[str, Step] = {
    "follows given": follows_given,
    "follows received": follows_received,
    "favorites": favorites,
    "comments": comments,
    "reports": reports_filed,
    "webhook creator notes": webhooks_created,
    "notifications received": notifications_received,
    "notifications caused": notifications_caused,
    "articles": articles,
    "media": media,
}
