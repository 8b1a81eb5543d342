"""The analytics rollups (`daily_stats`, `tag_days`): moved by `$inc` beside each write that
changes what analytics report, and rebuilt from the data by `folio db recount` and migration 0007.

What a day counts (UTC):
- `articles`, `favorites`, `comments_held`: live articles whose `published_at` falls on the day,
  and the favorites and comments they hold; per tag in `tag_days` (articles and favorites). An
  article moves with every write that changes its day, its tags or its visibility (publish,
  unpublish, reschedule, hide, unhide, delete); a favorite moves its day and its tags (one
  `update_one`, one `update_many`), a comment its day. A scheduled article counts on its day
  from the moment it is scheduled, so it shows from that day's start (UTC), not its instant.
- `comments`, `users`: comments written and accounts created that day, while they exist.

The `$inc`s run after the write they follow has committed, outside its transaction, so that a
hot article's favorites do not widen their write conflicts. A failure there is logged, not
answered: the write stands, and the rollup is off until `folio db recount` rebuilds it (so are
comments and articles removed in bulk by an article or account deletion).
"""

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

from models import Article, DailyStat, TagDay
from models.common import as_utc
from service.engine import collection

log = logging.getLogger("folio.rollups")

DAY_FORMAT = "%Y-%m-%d"
# How many tag documents a rebuild writes at once (concurrent `update_one`s).
REBUILD_BATCH = 500

Moves = tuple[dict[str, dict[str, int]], dict[tuple[str, str], dict[str, int]]]


def day_of(moment: datetime) -> str:
    """The UTC day of an instant, as YYYY-MM-DD."""
    return as_utc(moment).astimezone(UTC).strftime(DAY_FORMAT)


def tag_day_id(day: str, tag: str) -> str:
    """A `tag_days` document's `_id`: its day and tag."""
    return f"{day}/{tag}"


def week_of(day: str) -> str:
    """The ISO week of a day, as YYYY-Www."""
    year, week, _ = datetime.strptime(day, DAY_FORMAT).isocalendar()
    return f"{year}-W{week:02d}"


def _share(article: dict[str, Any] | None) -> tuple[str, list[str], int, int] | None:
    """What an article adds to the rollups: its day, tags, favorites and comments; None if it is
    not live-dated."""
    if article is None or article.get("published_at") is None:
        return None
    tags = list(dict.fromkeys(article.get("tag_list") or []))
    return (day_of(article["published_at"]), tags, int(article.get("favorites_count") or 0),
            int(article.get("comments_count") or 0))


def article_moves(before: dict[str, Any] | None, after: dict[str, Any] | None) -> Moves:
    """The `$inc`s that move an article's share from `before` to `after` (None: absent)."""
    daily: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tags: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for share, sign in ((_share(before), -1), (_share(after), +1)):
        if share is None:
            continue
        day, tag_list, favorites, comments = share
        daily[day]["articles"] += sign
        daily[day]["favorites"] += sign * favorites
        daily[day]["comments_held"] += sign * comments
        for tag in tag_list:
            tags[(day, tag)]["articles"] += sign
            tags[(day, tag)]["favorites"] += sign * favorites
    return _nonzero(daily), _nonzero(tags)


def _nonzero(moves: dict[Any, dict[str, int]]) -> dict[Any, dict[str, int]]:
    kept = {key: {f: n for f, n in inc.items() if n} for key, inc in moves.items()}
    return {key: inc for key, inc in kept.items() if inc}


async def apply_moves(moves: Moves) -> None:
    """Apply the `$inc`s, concurrently, upserting missing days: one `update_one` per day and per
    tag (an article carries a handful of tags)."""
    daily, tags = moves
    writes = [
        *(collection(DailyStat).update_one({"_id": day}, {"$inc": inc}, upsert=True)
          for day, inc in daily.items()),
        *(collection(TagDay).update_one(
            {"_id": tag_day_id(day, tag)},
            {"$inc": inc, "$setOnInsert": {"day": day, "tag": tag, "week": week_of(day)}},
            upsert=True,
        ) for (day, tag), inc in tags.items()),
    ]
    await _logged(writes)


async def move_article(before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Move an article's share of the rollups after a write (`before`/`after`: None if absent)."""
    await apply_moves(article_moves(before, after))


def favorite_moves(article: dict[str, Any], delta: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filter and `$inc` that count `delta` favorites on each of an article's tags of its
    day (documents its publication upserted), or ({}, {}) when there is nothing to move."""
    share = _share(article)
    if share is None or not share[1] or not delta:
        return {}, {}
    day, tags, _, _ = share
    return {"_id": {"$in": [tag_day_id(day, tag) for tag in tags]}}, {"$inc": {"favorites": delta}}


async def move_favorites(article: dict[str, Any], delta: int) -> None:
    """Count `delta` favorites on a live-dated article: its day (`update_one`) and its tags (one
    `update_many`), concurrently."""
    share = _share(article)
    if share is None or not delta:
        return
    selector, update = favorite_moves(article, delta)
    writes = [collection(DailyStat).update_one(
        {"_id": share[0]}, {"$inc": {"favorites": delta}}, upsert=True)]
    if selector:
        writes.append(collection(TagDay).update_many(selector, update))
    await _logged(writes)


async def move_comment(published_at: datetime | None, created_at: datetime, delta: int) -> None:
    """Count `delta` comments written on `created_at`'s day, held by an article published at
    `published_at` (None: not live-dated, so held by no day). One `update_one` per day."""
    moves: dict[str, dict[str, int]] = defaultdict(dict)
    moves[day_of(created_at)]["comments"] = delta
    if published_at is not None:
        moves[day_of(published_at)]["comments_held"] = delta
    await apply_moves((dict(moves), {}))


async def move_held(db_changes: dict[Any, tuple[int, int]]) -> None:
    """Take favorites and comments (`{article_id: (favorites, comments)}`, deltas) off their
    articles' days and tags, after a bulk removal (account deletion): one `$in` read of the
    articles, then one write per day and tag."""
    if not db_changes:
        return
    found = collection(Article).find(
        {"_id": {"$in": list(db_changes)}}, {"published_at": 1, "tag_list": 1}
    )
    daily: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tags: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    async for article in found:
        share = _share(article)
        if share is None:
            continue
        day, tag_list, _, _ = share
        favorites, comments = db_changes[article["_id"]]
        daily[day]["favorites"] += favorites
        daily[day]["comments_held"] += comments
        for tag in tag_list:
            tags[(day, tag)]["favorites"] += favorites
    await apply_moves((_nonzero(daily), _nonzero(tags)))


async def _logged(writes: list[Any]) -> None:
    """Await rollup writes together; a database failure is logged (recount repairs it)."""
    for result in await asyncio.gather(*writes, return_exceptions=True):
        if isinstance(result, PyMongoError):
            log.warning("analytics rollups not moved (folio db recount repairs them): %s", result)
        elif isinstance(result, BaseException):
            raise result


def rollups_of(
    articles: list[dict[str, Any]], comments: list[dict[str, Any]], users: list[dict[str, Any]]
) -> Moves:
    """The `$inc`s that count these documents in (a bulk load: the seed), summed in memory."""
    daily: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tags: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for article in articles:
        days, tag_moves = article_moves(None, article)
        for day, inc in days.items():
            for field, n in inc.items():
                daily[day][field] += n
        for key, inc in tag_moves.items():
            for field, n in inc.items():
                tags[key][field] += n
    for field, documents in (("comments", comments), ("users", users)):
        for document in documents:
            daily[day_of(document["created_at"])][field] += 1
    return _nonzero(daily), _nonzero(tags)


async def count_day(field: str, moment: datetime, delta: int) -> None:
    """Count a comment or an account (`field`) on the day of `moment`."""
    await apply_moves(({day_of(moment): {field: delta}}, {}))


# --- rebuilding from the data (folio db recount, migration 0007) ------------------------------


def _day_range(day: str) -> dict[str, datetime]:
    """The day's instants: up to its last millisecond, BSON dates' precision (`$lte`, not
    `$lt`, which the embedded engine lets match null)."""
    start = datetime.strptime(day, DAY_FORMAT).replace(tzinfo=UTC)
    return {"$gte": start, "$lte": start + timedelta(days=1, milliseconds=-1)}


def day_articles_pipeline(day: str) -> list[dict[str, Any]]:
    """Live-dated articles of one day (the `published_at` index range): how many, and the
    favorites and comments they hold."""
    return [
        {"$match": {"published_at": _day_range(day)}},
        {"$group": {"_id": None, "articles": {"$sum": 1},
                    "favorites": {"$sum": "$favorites_count"},
                    "comments_held": {"$sum": "$comments_count"}}},
    ]


def day_tags_pipeline(day: str) -> list[dict[str, Any]]:
    """Per tag, the live-dated articles of one day and their favorites."""
    return [
        {"$match": {"published_at": _day_range(day)}},
        {"$project": {"_id": 0, "tag_list": 1, "favorites_count": 1}},
        {"$unwind": "$tag_list"},
        {"$group": {"_id": "$tag_list", "articles": {"$sum": 1},
                    "favorites": {"$sum": "$favorites_count"}}},
    ]


async def rebuild_day(db: Any, day: str) -> None:
    """Set one day's rollups from the data: each step reads only that day's index range."""
    window = _day_range(day)
    found = await db.articles.aggregate(day_articles_pipeline(day)).to_list(length=1)
    totals = found[0] if found else {"articles": 0, "favorites": 0, "comments_held": 0}
    comments = await db.comments.count_documents({"created_at": window})
    users = await db.users.count_documents({"created_at": window})
    await db.daily_stats.update_one(
        {"_id": day},
        {"$set": {"articles": totals["articles"], "favorites": totals["favorites"],
                  "comments_held": totals["comments_held"], "comments": comments,
                  "users": users, "schema_version": 1}},
        upsert=True,
    )
    stamp, batch = secrets.token_hex(6), []

    def write(tag: dict[str, Any]) -> Any:
        return db.tag_days.update_one(
            {"_id": tag_day_id(day, tag["_id"])},
            {"$set": {"day": day, "tag": tag["_id"], "articles": tag["articles"],
                      "favorites": tag["favorites"], "week": week_of(day), "rebuilt": stamp,
                      "schema_version": 1}},
            upsert=True,
        )

    async for tag in db.articles.aggregate(day_tags_pipeline(day)):
        batch.append(tag)
        if len(batch) >= REBUILD_BATCH:
            await asyncio.gather(*map(write, batch))
            batch = []
    await asyncio.gather(*map(write, batch))
    await db.tag_days.delete_many({"day": day, "rebuilt": {"$ne": stamp}})


async def _next_day(db: Any, day: str) -> str | None:
    """The first day from `day` on that any source or rollup holds (five indexed reads), so a
    rebuild skips empty stretches (up to a scheduled article years ahead) without a step each."""
    start = datetime.strptime(day, DAY_FORMAT).replace(tzinfo=UTC)
    found = []
    for name, field, bound in (
        ("articles", "published_at", start), ("comments", "created_at", start),
        ("users", "created_at", start), ("daily_stats", "_id", day), ("tag_days", "day", day),
    ):
        first = await db[name].find_one({field: {"$gte": bound}}, {field: 1}, sort=[(field, 1)])
        if first is not None and first.get(field) is not None:
            value = first[field]
            found.append(value if isinstance(value, str) else day_of(value))
    return min(found, default=None)


async def rebuild_rollups(db: Any, report: Callable[[int], None] = lambda n: None) -> int:
    """Rebuild the rollups of every day that holds data or a rollup, one day at a time, in
    day order (idempotent: an interrupted run is completed by running it again); `report(1)`
    after each day. Returns how many days it rebuilt."""
    days = 0
    day = await _next_day(db, "1970-01-01")
    while day is not None:
        await rebuild_day(db, day)
        report(1)
        days += 1
        following = datetime.strptime(day, DAY_FORMAT) + timedelta(days=1)
        day = await _next_day(db, following.strftime(DAY_FORMAT))
    return days
