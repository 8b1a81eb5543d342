"""Exact article counters (`favorites_count`, `comments_count`, `hidden_comments_count`) set from
the documents that name the article, while the API goes on writing. No HTTP.

A counter is given as (name, collection of the documents it counts[, condition those documents
also meet]). `folio db recount` and migrations 0004 and 0005 use it. The truth is counted *inside* the write that sets
the counter, never compared with a counter read earlier:

- On a replica set each article's recount is one small transaction (`atomically`): read the
  counter, count the documents, set the counter. A transaction reads one snapshot, and the API
  writes a document and its `$inc` in one transaction too; so a favorite or comment committed
  after that snapshot has modified the article, and setting the counter meets a write conflict.
  The server aborts the transaction (TransientTransactionError) and the adapter's
  `atomically` runs it again on a fresh snapshot. No counter is set from an outdated count.
- Without transactions (a standalone server, the embedded engine) the same steps run one by one,
  and the set is guarded by the value read (compare-and-set): a counter that moved meanwhile is
  read and counted again, up to RECOUNT_ATTEMPTS times, and reported as still moving after that,
  never silently skipped. There the API's own writes are not atomic either (a document, then its
  `$inc`), so a write caught between the two can still leave a counter off by one until the next
  recount.

Articles are screened a batch at a time (BATCH_SIZE, in `_id` order, on the `_id` index): their
counters and one grouped count per counter (served by the `article` index of `favorites` and
`article_created_at` of `comments`), read in one read-only transaction, so in one snapshot. Only
the articles whose counter disagrees are recounted one by one.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.articles.reads import counts_per_article_pipeline
from service.engine import atomically

log = logging.getLogger("folio.recount")

BATCH_SIZE = 500
# How many times, without transactions, a counter that moved while recounted is recounted again.
RECOUNT_ATTEMPTS = 10


@dataclass
class Recount:
    """What a recount found: articles checked, counters fixed, and counters still moving."""

    checked: int = 0
    fixed: list[tuple[Any, str, str, int | None, int]] = field(default_factory=list)
    """(article id, slug, counter, stored before (None: missing), true count), in `_id` order."""
    moving: list[tuple[Any, str, str]] = field(default_factory=list)
    """(article id, slug, counter): still moving after RECOUNT_ATTEMPTS (no transactions only)."""


class StillMoving(Exception):
    """Without transactions: the counter moved between its read and the guarded set, on every
    one of RECOUNT_ATTEMPTS attempts."""


def _session(session: Any) -> dict[str, Any]:
    """The `session` option, given only inside a transaction."""
    return {} if session is None else {"session": session}


Counter = tuple[str, Any] | tuple[str, Any, dict[str, Any]]


def _parts(spec: Counter) -> tuple[str, Any, dict[str, Any]]:
    """A counter's name, its documents' collection, and the condition they also meet."""
    name, documents, *condition = spec
    return name, documents, condition[0] if condition else {}


async def recount_counter(
    articles: Any, documents: Any, article_id: Any, counter: str,
    condition: dict[str, Any] | None = None,
) -> tuple[int | None, int] | None:
    """Set one article's counter to the documents that name it (and meet `condition`);
    (stored before, true count). None when the article is gone; StillMoving (see there).
    `articles` and `documents` are collections (`documents`: favorites or comments, counted
    by `article_id`)."""

    async def work(session: Any) -> tuple[int | None, int] | None:
        article = await articles.find_one({"_id": article_id}, {counter: 1}, **_session(session))
        if article is None:
            return None
        true = await documents.count_documents(
            {"article_id": article_id, **(condition or {})}, **_session(session))
        stored = article.get(counter)
        if stored != true:
            # Inside a transaction the guard cannot fail (a change meanwhile is a write
            # conflict, retried by the driver); without one it is what makes the set exact.
            unchanged = {"$exists": False} if stored is None else stored
            moved = await articles.update_one(
                {"_id": article_id, counter: unchanged}, {"$set": {counter: true}},
                **_session(session),
            )
            if moved.matched_count == 0:
                raise StillMoving(f"{counter} of {article_id}")
        return stored, true

    for _ in range(RECOUNT_ATTEMPTS - 1):
        try:
            return await atomically(work)
        except StillMoving:
            continue
    return await atomically(work)


async def _screen(
    articles: Any, counters: Sequence[Counter], after: Any
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """The next batch of articles after `after`, and its (article, counter) pairs that disagree
    with the documents, read in one snapshot where the server has transactions."""

    async def work(session: Any) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
        after_last = {} if after is None else {"_id": {"$gt": after}}
        fields = {"slug": 1, **{_parts(spec)[0]: 1 for spec in counters}}
        batch = await articles.find(after_last, fields, **_session(session)).sort(
            "_id", 1).limit(BATCH_SIZE).to_list(None)
        ids = [article["_id"] for article in batch]
        off: list[tuple[dict[str, Any], str]] = []
        for counter, documents, condition in map(_parts, counters) if batch else ():
            match, *grouping = counts_per_article_pipeline(ids)
            pipeline = [{"$match": {**match["$match"], **condition}}, *grouping]
            truth = {group["_id"]: group["edges"] async for group in
                     documents.aggregate(pipeline, **_session(session))}
            off += [(article, counter) for article in batch
                    if article.get(counter) is None or article[counter] != truth.get(article["_id"], 0)]
        return batch, off

    if not counters:
        raise ValueError("no counters to recount")
    return await atomically(work)


async def recount_articles(
    articles: Any,
    counters: Sequence[Counter],
    report: Callable[[int], None],
    only: Sequence[Any] | None = None,
) -> Recount:
    """Recount every article's `counters`, or only the articles whose ids are in `only`;
    report(n) after each batch of n articles."""
    result = Recount()

    async def fix(article: dict[str, Any], spec: Counter) -> None:
        slug = article.get("slug", "")
        counter, documents, condition = _parts(spec)
        try:
            done = await recount_counter(articles, documents, article["_id"], counter, condition)
        except StillMoving:
            log.warning("%s of %s kept moving while it was recounted", counter, slug)
            result.moving.append((article["_id"], slug, counter))
            return
        if done is not None and done[0] != done[1]:
            result.fixed.append((article["_id"], slug, counter, *done))

    by_name = {_parts(spec)[0]: spec for spec in counters}
    if only is not None:
        for start in range(0, len(only), BATCH_SIZE):
            ids = list(only[start:start + BATCH_SIZE])
            found = await articles.find({"_id": {"$in": ids}}, {"slug": 1}).to_list(None)
            for article in sorted(found, key=lambda article: article["_id"]):
                for spec in counters:
                    await fix(article, spec)
            result.checked += len(found)
            report(len(found))
        return result
    after = None
    while True:
        batch, off = await _screen(articles, counters, after)
        if not batch:
            return result
        for article, counter in off:
            await fix(article, by_name[counter])
        result.checked += len(batch)
        after = batch[-1]["_id"]
        report(len(batch))


# How many more passes, over the counters still moving, before a recount gives up on them.
SETTLE_ROUNDS = 3


async def recount_until_settled(
    articles: Any, counters: Sequence[Counter], report: Callable[[int], None]
) -> Recount:
    """`recount_articles` over every article, then again over those still moving (up to
    SETTLE_ROUNDS more passes); `moving` holds what was still moving after the last one."""
    result = await recount_articles(articles, counters, report)
    for _ in range(SETTLE_ROUNDS):
        if not result.moving:
            break
        ids = sorted({article_id for article_id, _, _ in result.moving})
        again = await recount_articles(articles, counters, lambda done: None, only=ids)
        result.fixed += again.fixed
        result.moving = again.moving
    return result
