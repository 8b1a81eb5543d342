"""The article's counters, moved only by atomic `$inc`, and the writes that move them: a counted
insert (comments), favorite and unfavorite (whose edges service/favorites/ writes).
"""

from collections.abc import Awaitable, Callable
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from models import Article
from service.articles.announcing import article_refs, article_summary
from service.articles.counts import counts
from service.articles.reads import favorites_key
from service.articles.visibility import is_live
from service.contract.errors import (
    NotFound,
)
from service.engine import atomically, collection
from service.events import record
from service.favorites import queries as favorites
from service.rollups.queries import move_favorites


async def move_counter(
    article_id: PydanticObjectId, counter: str, delta: int, session: Any = None
) -> int | None:
    """Atomically add delta to one of the article's counters; its new value, None if gone.

    Nothing is ever added to an article marked deleted (None, as if gone): a favorite or
    comment that raced the mark takes itself back, so its sweep cannot miss it.
    """
    live = {"status": {"$ne": "deleted"}} if delta > 0 else {}
    updated = await collection(Article).find_one_and_update(
        {"_id": article_id, **live},
        {"$inc": {counter: delta}},
        projection={counter: 1},
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    return None if updated is None else updated[counter]


async def counted_insert(
    article_id: PydanticObjectId,
    counter: str,
    insert: Callable[[Any], Awaitable[Any]],
    undo: Callable[[], Awaitable[Any]],
    session: Any,
) -> int:
    """Insert a document that an article counts (`insert(session)`) and `$inc` the counter.

    Inside a transaction the `$inc` comes first (see `hot_first`) and both apply or neither.
    Without one the document comes first, and a failed `$inc`, or an article deleted
    meanwhile (NotFound), makes `undo()` take it back. Returns the new count.
    """
    if session is not None:
        count = await hot_first(article_id, counter, +1, session)
        await insert(session)
        return count
    await insert(None)
    try:
        count = await move_counter(article_id, counter, +1)
    except BaseException:
        await undo()  # no transaction to abort: take the document back
        raise
    if count is None:  # the article was deleted meanwhile
        await undo()
        raise NotFound("article", "not found")
    return count


async def hot_first(article_id: PydanticObjectId, counter: str, delta: int, session: Any) -> int:
    """A transaction's first statement: the `$inc` on the article (NotFound if it is gone).

    The article is the one document that every favorite and comment of it writes; on a viral
    article, concurrent transactions conflict there (WriteConflict, a TransientTransactionError).
    Writing it first means a conflict aborts the transaction before any other work, so a retry
    wastes one statement, and the transaction's snapshot starts at that write (a commit on the
    article just before it no longer conflicts). The reasoning: docs/scaling.md, "Hot articles".
    """
    count = await move_counter(article_id, counter, delta, session)
    if count is None:
        raise NotFound("article", "not found")
    return count


async def favorite(
    article: dict[str, Any], user_id: PydanticObjectId, username: str | None = None
) -> int:
    """Record the favorite edge and bump the counter once; returns the new favorites count.

    On a replica set both writes, and the `article.favorited` event of a live article (by
    `username`), are one transaction. Elsewhere a failed counter update takes the edge back;
    after a failover on a standalone server the outcome of that update is unknown, so the
    count can drift by one: `folio db recount` repairs it.
    """
    edge = {"user_id": user_id, "article_id": article["_id"]}

    async def insert(session: Any) -> None:
        await favorites.insert_edge(edge, session)

    async def write(session: Any) -> int:
        count = await counted_insert(
            article["_id"], "favorites_count", insert, lambda: favorites.delete_edge(edge), session
        )
        if username is not None and is_live(article):
            await record("article.favorited", actor={"id": user_id, "username": username},
                         data={"article": article_summary(article, article["author"]),
                               "favoritesCount": count},
                         refs=article_refs(article), session=session)
        return count

    try:
        count = await atomically(write)
    except favorites.AlreadyDone:
        return article["favorites_count"]  # already favorited: nothing moves
    finally:
        await counts().forget(favorites_key(user_id))
    await move_favorites(article, +1)
    return count


async def unfavorite(article: dict[str, Any], user_id: PydanticObjectId) -> int:
    """Remove the favorite edge and drop the counter once; returns the new favorites count.

    One transaction on a replica set; elsewhere a failed counter update restores the edge.
    """
    edge = {"user_id": user_id, "article_id": article["_id"]}

    async def write(session: Any) -> int:
        if session is not None:  # the hot write first; no edge aborts it, undoing the `$inc`
            count = await hot_first(article["_id"], "favorites_count", -1, session)
            if not await favorites.delete_edge(edge, session):
                raise favorites.AlreadyDone
            return count
        if not await favorites.delete_edge(edge):
            raise favorites.AlreadyDone
        try:
            found = await move_counter(article["_id"], "favorites_count", -1)
        except BaseException:
            await favorites.restore_edge(edge)
            raise
        if found is None:
            raise NotFound("article", "not found")
        return found

    try:
        count = await atomically(write)
    except favorites.AlreadyDone:
        return article["favorites_count"]
    finally:
        await counts().forget(favorites_key(user_id))
    await move_favorites(article, -1)
    return count
