"""Tag counts kept by `$inc`, so that no request ever counts articles. No HTTP here.

`tags` holds, per tag, how many articles count it: those with `tags_counted` true. Every article
write sets `tags_counted` to whether the article is live (visible to anonymous readers) at that
moment and moves the counts by the difference (`recounting`): creating a published article,
publishing or unpublishing, moving its instant, hiding and unhiding, changing the tags of a live
one, deleting one. A body-only edit of a live article moves nothing. The moves run in the
write's transaction where the server has them, else right after it (a failure in between leaves
a count off until `folio db recount`). Each such write is guarded by the `tags_counted` it read,
so that two writers never both count, or both uncount, one article.

A scheduled article goes live with no write. The sweep notices: it claims one due, uncounted
article at a time with a findAndModify on the partial `tags_uncounted` index (flipping the flag,
which only one claimant can do, in any process) and counts its tags in the same transaction. Each
API process sweeps at start-up and then every FOLIO_TAG_SWEEP_SECONDS, sooner when it knows of an
instant coming; `GET /api/tags` sweeps first (bounded) only when this process knows one is due.
"""

import asyncio
import logging
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import Article, Tag
from models.articles import UNCOUNTED
from models.common import as_utc, utc_now
from service.engine import Engine, atomically, collection, current_engine, upsert_each

log = logging.getLogger("folio.tags")

# At most this many articles counted per background pass, and per request before it reads.
SWEEP_BATCH = 500
CATCH_UP_BATCH = 10


# --- pure builders ----------------------------------------------------------------------------


def is_live(published_at: datetime | None, now: datetime) -> bool:
    """Whether an article with this instant is visible to anonymous readers at `now`."""
    return published_at is not None and as_utc(published_at) <= now


def tag_moves(before: Iterable[str], after: Iterable[str]) -> dict[str, int]:
    """The `$inc` per tag that takes the counts from tags `before` to tags `after` (no zeros)."""
    moves = Counter(after)
    moves.subtract(Counter(before))
    return {tag: delta for tag, delta in sorted(moves.items()) if delta}


def tag_updates(moves: dict[str, int]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One `$inc` upsert (filter, update) per moved tag, in tag order. The filter is equality
    on `_id`, so the server retries the upsert itself when two first upserts of a tag race."""
    return [({"_id": tag}, {"$inc": {"articles": delta}}) for tag, delta in sorted(moves.items())]


def due_filter(now: datetime) -> dict[str, Any]:
    """Scheduled articles whose instant has come and whose tags are not counted yet; it holds
    the partial filter of `tags_uncounted`, so that index serves it."""
    return {"tags_counted": False, "published_at": {"$type": "date", "$lte": now}}


@dataclass(frozen=True)
class Recounting:
    """What one article write does to the tag counts: a condition for the write's filter (the
    `tags_counted` read), fields for its `$set`, and the moves to apply with it."""

    guard: dict[str, Any]
    fields: dict[str, Any]
    moves: dict[str, int]
    scheduled: datetime | None  # the instant of an article left scheduled (for the sweep)


def recounting(current: dict[str, Any], fields: dict[str, Any], now: datetime) -> Recounting:
    """The tag-count side of writing `fields` ($set, derived fields included) over `current`
    (the article as read, `{}` for a new one) at `now`."""
    counted = current.get("tags_counted")
    tags = fields.get("tag_list", current.get("tag_list") or [])
    published_at = fields["published_at"] if "published_at" in fields else current.get(
        "published_at")
    live = is_live(published_at, now)
    moves = tag_moves(current.get("tag_list") or [] if counted else [], tags if live else [])
    changed = {"tags_counted": live} if live != counted else {}
    guard = {"tags_counted": {"$exists": False} if counted is None else counted}
    scheduled = published_at if published_at is not None and not live else None
    return Recounting(guard, changed, moves, scheduled)


# --- moving the counts ------------------------------------------------------------------------


async def move_tags(moves: dict[str, int], session: Any = None) -> None:
    """Apply the moves to `tags` (one round trip), in the caller's transaction if any."""
    if moves:
        await upsert_each(collection(Tag), tag_updates(moves), session)


async def uncount(article_id: Any, session: Any = None) -> bool:
    """Take one article's tags out of the counts, once (the flag flips in a findAndModify);
    False if they were not counted. For a write that takes the article out of visibility
    without going through `recounting` (marking it for deletion): run it in that write's
    transaction, and null its `published_at` as hiding does, or the sweep counts it again."""
    article = await collection(Article).find_one_and_update(
        {"_id": article_id, "tags_counted": True}, {"$set": {"tags_counted": False}},
        projection={"tag_list": 1}, session=session,
    )
    if article is None:
        return False
    await move_tags(tag_moves(article.get("tag_list") or [], []), session)
    return True


# --- the sweep: scheduled articles going live ------------------------------------------------


@dataclass(eq=False)
class Schedule:
    """What this process knows of the next instant at which an uncounted article goes live."""

    next_due: datetime | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def note(self, instant: datetime | None) -> None:
        """Remember an instant this process just scheduled an article for."""
        if instant is not None and (self.next_due is None or as_utc(instant) < self.next_due):
            self.next_due = as_utc(instant)

    def due(self, now: datetime) -> bool:
        """Whether an article this process knows of has gone live uncounted."""
        return self.next_due is not None and self.next_due <= now


_schedules: "weakref.WeakKeyDictionary[Engine, Schedule]" = weakref.WeakKeyDictionary()


def schedule(engine: Engine | None = None) -> Schedule:
    """The open engine's schedule in this process."""
    return _schedules.setdefault(engine or current_engine(), Schedule())


async def count_one_due(now: datetime) -> bool:
    """Claim the earliest due uncounted article and count its tags; False when none is due.

    The claim flips `tags_counted` in a findAndModify, so of two sweeps (in any processes)
    exactly one counts each article; the counts move in the same transaction where there is one.
    """

    async def claim(session: Any) -> bool:
        article = await collection(Article).find_one_and_update(
            due_filter(now), {"$set": {"tags_counted": True}},
            sort=[("published_at", ASCENDING)], projection={"tag_list": 1},
            return_document=ReturnDocument.AFTER, session=session,
        )
        if article is None:
            return False
        await move_tags(tag_moves([], article.get("tag_list") or []), session)
        return True

    return await atomically(claim)


async def earliest_uncounted() -> datetime | None:
    """The instant of the next scheduled article to count (one read on `tags_uncounted`)."""
    found = await collection(Article).find(UNCOUNTED, {"published_at": 1}).sort(
        "published_at", ASCENDING).limit(1).to_list(1)
    return as_utc(found[0]["published_at"]) if found else None


async def catch_up(limit: int, *, only_if_due: bool = False, engine: Engine | None = None) -> int:
    """Count up to `limit` due scheduled articles, then learn the next instant; how many it
    counted. One sweep at a time per process; with `only_if_due`, nothing (no read at all)
    unless this process knows of a due one."""
    state = schedule(engine)
    if only_if_due and not state.due(utc_now()):
        return 0
    async with state.lock:
        now = utc_now()
        if only_if_due and not state.due(now):  # another request caught up meanwhile
            return 0
        counted = 0
        while counted < limit and await count_one_due(now):
            counted += 1
        state.next_due = await earliest_uncounted()
    return counted


def pause(state: Schedule, interval: float) -> float:
    """Seconds until the next pass: `interval`, or until the next instant this process knows."""
    if state.next_due is None:
        return interval
    return min(interval, max(0.0, (state.next_due - utc_now()).total_seconds()))


async def sweep_forever(engine: Engine, interval: float) -> None:
    """The background pass of one API process (a task of the lifespan), until cancelled.

    Each pass is bounded (SWEEP_BATCH articles); a failure is logged and retried a pass later.
    """
    state = schedule(engine)
    while True:
        await asyncio.sleep(pause(state, interval))
        try:
            counted = await catch_up(SWEEP_BATCH, engine=engine)
        except Exception:
            log.exception("counting the tags of scheduled articles failed; retried in %g s",
                          interval)
            await asyncio.sleep(interval)
        else:
            if counted:
                log.info("counted the tags of %d scheduled articles now live", counted)


# --- building and repairing (migration 0005, seed, import, `folio db recount`) ----------------


async def flag_unflagged(batch: list[dict[str, Any]], now: datetime) -> int:
    """Set `tags_counted` on the articles of `batch` that have none (written before tag counts
    existed), counting the live ones' tags; how many it counted. Each is claimed by its missing
    flag, so a re-run, or an API write that flagged it meanwhile, never counts it twice."""
    ids = [article["_id"] for article in batch]
    unflagged = {"_id": {"$in": ids}, "tags_counted": {"$exists": False}}
    await collection(Article).update_many(
        {**unflagged, "published_at": {"$not": {"$lte": now}}}, {"$set": {"tags_counted": False}}
    )
    counted = 0
    for article_id in ids:

        async def claim(session: Any, article_id: Any = article_id) -> bool:
            article = await collection(Article).find_one_and_update(
                {"_id": article_id, "tags_counted": {"$exists": False},
                 "published_at": {"$lte": now}},
                {"$set": {"tags_counted": True}}, projection={"tag_list": 1},
                return_document=ReturnDocument.AFTER, session=session,
            )
            if article is None:
                return False
            await move_tags(tag_moves([], article.get("tag_list") or []), session)
            return True

        counted += await atomically(claim)
    return counted


async def settle_flag(article: dict[str, Any], now: datetime) -> bool | None:
    """Set one article's `tags_counted` to whether it is live now, moving the counts; True if it
    changed, False if already right, None if the article changed meanwhile (its writer moved
    the counts)."""
    counted, live = article.get("tags_counted"), is_live(article.get("published_at"), now)
    if counted is live:
        return False
    tags = article.get("tag_list") or []
    selector = {"_id": article["_id"], "tag_list": tags,
                "published_at": article.get("published_at"),
                "tags_counted": {"$exists": False} if counted is None else counted}

    async def write(session: Any) -> bool:
        moved = await collection(Article).update_one(
            selector, {"$set": {"tags_counted": live}}, session=session)
        if not moved.modified_count:
            return False
        await move_tags(tag_moves(tags if counted else [], tags if live else []), session)
        return True

    return True if await atomically(write) else None


@dataclass(frozen=True)
class CountFix:
    """One tag's count as stored and as it should be; `settled` False when it moved meanwhile."""

    tag: str
    stored: int
    true: int
    settled: bool = True


async def settle_count(tag: str) -> CountFix | None:
    """Set one tag's count to the articles counting it (`count_documents`, then the write, in
    one transaction where there is one: a concurrent `$inc` conflicts and the transaction runs
    again). A tag no article counts is removed. None when it was right."""

    async def write(session: Any) -> CountFix | None:
        true = await collection(Article).count_documents(
            {"tag_list": tag, "tags_counted": True}, session=session)
        found = await collection(Tag).find_one({"_id": tag}, session=session)
        stored = None if found is None else found.get("articles", 0)
        if stored == true or (stored is None and true == 0):
            return None
        fix = CountFix(tag, stored or 0, true)
        try:
            if true == 0:
                moved = await collection(Tag).delete_one({"_id": tag, "articles": stored},
                                                         session=session)
                done = moved.deleted_count == 1
            elif stored is None:
                await collection(Tag).insert_one({"_id": tag, "articles": true}, session=session)
                done = True
            else:
                moved = await collection(Tag).update_one(
                    {"_id": tag, "articles": stored}, {"$inc": {"articles": true - stored}},
                    session=session)
                done = moved.modified_count == 1
        except DuplicateKeyError:  # counted by a write since it was read (no transaction)
            done = False
        if stored == 0 and true == 0:
            return None  # a zero left behind, removed: nothing was wrong
        return fix if done else CountFix(tag, fix.stored, true, settled=False)

    return await atomically(write)
