"""Analytics over live articles, read from the daily rollups (service/rollups/queries.py): no request
reads `articles`, `comments` or `users` beyond one author's own range (`/authors/...`) and two
metadata counts.

A window of `days` days ends today and starts at midnight UTC `days - 1` days before today, so
`days=7` is today and the six days before it. Windows come from a fixed set (TAG_WINDOWS,
OVERVIEW_WINDOWS), so that each endpoint has a handful of cached answers, not one per number.
Articles count on the UTC day of their `published_at`: a scheduled article counts from the
start of its day.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models import Article, DailyStat, Follow, TagDay, User
from models.common import utc_now
from service.articles.counts import kept
from service.articles.visibility import visible_at
from service.contract.errors import Invalid, NotFound
from service.engine import collection

DAY_FORMAT = "%Y-%m-%d"
MONTH_FORMAT = "%Y-%m"
TOP_TAGS = 50
TOP_ARTICLES = 5
# The windows each endpoint serves; any other `days` answers 422.
TAG_WINDOWS = (1, 7, 30, 90, 365)
OVERVIEW_WINDOWS = (1, 7, 30, 90)


def check_window(days: int, windows: tuple[int, ...]) -> int:
    """The window if it is one of `windows`; Invalid (422 naming `days`) otherwise."""
    if days not in windows:
        listed = ", ".join(str(n) for n in windows[:-1]) + f" or {windows[-1]}"
        raise Invalid("days", f"must be one of {listed}")
    return days


# --- windows ---------------------------------------------------------------------------------


def window_start(days: int, now: datetime) -> datetime:
    """Midnight UTC of the window's first day."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def day_labels(start: datetime, now: datetime) -> list[str]:
    """Every day from start to now, as YYYY-MM-DD."""
    count = (now.astimezone(UTC).date() - start.date()).days + 1
    return [(start + timedelta(days=n)).strftime(DAY_FORMAT) for n in range(count)]


def week_labels(start: datetime, now: datetime) -> list[str]:
    """Every ISO week from start to now, as YYYY-Www, with no gaps."""
    labels: list[str] = []
    for day in day_labels(start, now):
        year, week, _ = datetime.strptime(day, DAY_FORMAT).isocalendar()
        label = f"{year}-W{week:02d}"
        if not labels or labels[-1] != label:
            labels.append(label)
    return labels


def _date_label(format_: str, field: str = "$created_at") -> dict[str, Any]:
    return {"$dateToString": {"format": format_, "date": field}}


def _count_of(label: str, counts: str, key: str = "label", value: str = "count") -> dict[str, Any]:
    """The count recorded for one label in an array of {label, count}, or 0."""
    matching = {"$filter": {"input": counts, "as": "c", "cond": {"$eq": [f"$$c.{key}", label]}}}
    return {"$ifNull": [
        {"$arrayElemAt": [{"$map": {"input": matching, "as": "m", "in": f"$$m.{value}"}}, 0]}, 0
    ]}


# --- pipeline builders (pure) ----------------------------------------------------------------


def tag_trends_pipeline(first: str, last: str, weeks: list[str]) -> list[dict[str, Any]]:
    """Per tag, from `tag_days` (`day_tag_unique`): live articles published in the window, the
    favorites they hold, and a weekly series. Each tag gathers one entry per ISO week (at most
    53), never one per article."""
    return [
        {"$match": {"day": {"$gte": first, "$lte": last}}},
        {"$group": {"_id": {"tag": "$tag", "week": "$week"},
                    "articles": {"$sum": "$articles"}, "favorites": {"$sum": "$favorites"}}},
        {
            "$group": {
                "_id": "$_id.tag",
                "articles": {"$sum": "$articles"},
                "favorites": {"$sum": "$favorites"},
                "weeks": {"$push": {"week": "$_id.week", "articles": "$articles"}},
            }
        },
        {"$match": {"articles": {"$gt": 0}}},
        {"$sort": {"articles": -1, "favorites": -1, "_id": 1}},
        {"$limit": TOP_TAGS},
        {
            "$project": {
                "_id": 0,
                "tag": "$_id",
                "articles": 1,
                "favorites": 1,
                "weekly": {
                    "$map": {
                        "input": weeks,
                        "as": "w",
                        "in": {"week": "$$w",
                               "articles": _count_of("$$w", "$weeks", "week", "articles")},
                    }
                },
            }
        },
    ]


def author_stats_pipeline(author_id: PydanticObjectId, now: datetime) -> list[dict[str, Any]]:
    """An author's live articles: totals, comments received, top articles and a monthly series."""
    return [
        {"$match": {"author_id": author_id, **visible_at(now)}},
        {
            "$project": {
                "slug": 1,
                "title": 1,
                "favorites_count": 1,
                "comments_count": 1,
                "month": _date_label(MONTH_FORMAT),
            }
        },
        {
            "$facet": {
                "totals": [
                    {
                        "$group": {
                            "_id": None,
                            "articles": {"$sum": 1},
                            "favorites": {"$sum": "$favorites_count"},
                            # Each article's own counter: no comment is read, and no list
                            # of article ids is gathered (16 MB at about 800,000 articles).
                            "comments": {"$sum": "$comments_count"},
                        }
                    }
                ],
                "top": [
                    {"$sort": {"favorites_count": -1, "slug": 1}},
                    {"$limit": TOP_ARTICLES},
                    {"$project": {"_id": 0, "slug": 1, "title": 1, "favorites_count": 1}},
                ],
                "monthly": [
                    {"$group": {"_id": "$month", "articles": {"$sum": 1}}},
                    {"$sort": {"_id": 1}},
                    {"$project": {"_id": 0, "month": "$_id", "articles": 1}},
                ],
            }
        },
    ]


def overview_pipeline(first: str, last: str) -> list[dict[str, Any]]:
    """From `daily_stats` (by `_id`, the day): all-time live articles and the favorites and
    comments they hold, and the window's days. One document per day, so this reads a few thousand small documents at
    most (ten years), whatever the data."""
    return [
        {"$match": {"_id": {"$lte": last}}},
        {
            "$facet": {
                "total": [{"$group": {"_id": None, "articles": {"$sum": "$articles"},
                                      "favorites": {"$sum": "$favorites"},
                                      "comments": {"$sum": "$comments_held"}}}],
                "daily": [
                    {"$match": {"_id": {"$gte": first}}},
                    {"$project": {"articles": 1, "comments": 1, "users": 1}},
                ],
            }
        },
    ]


# --- reads -----------------------------------------------------------------------------------


async def _one(model: type, pipeline: list[dict[str, Any]]) -> dict[str, Any]:
    """Run a pipeline that yields one document (a `$facet`), or an empty one."""
    found = await collection(model).aggregate(pipeline).to_list(length=1)
    return found[0] if found else {}


# Each answer is kept 10 s per process (`kept`) under one key per window: a handful of keys.


async def tag_trends(days: int) -> list[dict[str, Any]]:
    """The top tags of the window with their weekly series, kept 10 s."""
    check_window(days, TAG_WINDOWS)
    return await kept(f"analytics:tags:{days}", lambda: _tag_trends(days))


async def author_stats(username: str) -> dict[str, Any]:
    """An author's figures, kept 10 s; NotFound for an unknown username."""
    return await kept(f"analytics:author:{username}", lambda: _author_stats(username))


async def overview(days: int) -> dict[str, Any]:
    """Totals and a per-day series for the window, kept 10 s."""
    check_window(days, OVERVIEW_WINDOWS)
    return await kept(f"analytics:overview:{days}", lambda: _overview(days))


async def _tag_trends(days: int) -> list[dict[str, Any]]:
    now = utc_now()
    since = window_start(days, now)
    pipeline = tag_trends_pipeline(
        since.strftime(DAY_FORMAT), now.strftime(DAY_FORMAT), week_labels(since, now)
    )
    return await collection(TagDay).aggregate(pipeline).to_list(None)


async def _author_stats(username: str) -> dict[str, Any]:
    author = await collection(User).find_one({"username": username}, {"username": 1})
    if author is None:
        raise NotFound("profile", "not found")
    # A count served by the `followee` index, rather than a $lookup that would gather every
    # follower into one document (and hit the 16 MB limit for a very popular author).
    author["followers"] = await collection(Follow).count_documents({"followee_id": author["_id"]})
    facets = await _one(Article, author_stats_pipeline(author["_id"], utc_now()))
    totals = (facets.get("totals") or [{"articles": 0, "favorites": 0, "comments": 0}])[0]
    return {
        "username": author["username"],
        "articles": totals["articles"],
        "favorites_received": totals["favorites"],
        "comments_received": totals["comments"],
        "followers": author["followers"],
        "top_articles": facets.get("top", []),
        "monthly": facets.get("monthly", []),
    }


async def _overview(days: int) -> dict[str, Any]:
    """The rollups' days, and the number of accounts (collection metadata), together."""
    now = utc_now()
    labels = day_labels(window_start(days, now), now)
    rollup, users = await asyncio.gather(
        _one(DailyStat, overview_pipeline(labels[0], labels[-1])),
        collection(User).estimated_document_count(),
    )
    totals = (rollup.get("total") or [{"articles": 0, "favorites": 0, "comments": 0}])[0]
    per_day = {day["_id"]: day for day in rollup.get("daily", [])}
    empty: dict[str, int] = {}
    return {
        "totals": {
            "users": users,
            "articles": totals["articles"],
            "comments": totals["comments"],
            "favorites": totals["favorites"],
        },
        "daily": [
            {
                "date": date,
                "articles": per_day.get(date, empty).get("articles", 0),
                "comments": per_day.get(date, empty).get("comments", 0),
                "users": per_day.get(date, empty).get("users", 0),
            }
            for date in labels
        ],
    }
