"""Analytics over live articles: each figure comes from an aggregation built by a pure function.

Drafts and scheduled articles never count. A window of `days` days ends now and starts at
midnight UTC `days - 1` days before today, so `days=7` is today and the six days before it.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from models import Article, Comment, Follow, User
from models.common import utc_now
from service.articles.counts import kept
from service.articles.queries import visible_at
from service.db import collection
from service.errors import NotFound

DAY_FORMAT = "%Y-%m-%d"
WEEK_FORMAT = "%G-W%V"  # ISO 8601 week, e.g. 2026-W03
MONTH_FORMAT = "%Y-%m"
TOP_TAGS = 50
TOP_ARTICLES = 5


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


def _count_of(label: str, counts: str) -> dict[str, Any]:
    """The count recorded for one label in an array of {label, count}, or 0."""
    matching = {"$filter": {"input": counts, "as": "c", "cond": {"$eq": ["$$c.label", label]}}}
    return {"$ifNull": [{"$arrayElemAt": [{"$map": {"input": matching, "as": "m", "in": "$$m.count"}}, 0]}, 0]}


def series_stages(labels: list[str], weight: Any = 1) -> list[dict[str, Any]]:
    """Count documents per `label` (each counting `weight`: 1, or a field holding a count) and
    lay the counts over every label, zeros included."""
    return [
        {"$group": {"_id": "$label", "count": {"$sum": weight}}},
        {"$group": {"_id": None, "counts": {"$push": {"label": "$_id", "count": "$count"}}}},
        {
            "$project": {
                "_id": 0,
                "series": {
                    "$map": {"input": labels, "as": "l", "in": _count_of("$$l", "$counts")}
                },
            }
        },
    ]


# --- pipeline builders (pure) ----------------------------------------------------------------


def daily_stages(since: datetime, days: list[str]) -> list[dict[str, Any]]:
    """Documents created since the window's start, counted per UTC day, every day listed."""
    return [
        {"$match": {"created_at": {"$gte": since}}},
        {"$project": {"label": _date_label(DAY_FORMAT)}},
        *series_stages(days),
    ]


def tag_trends_pipeline(since: datetime, now: datetime, weeks: list[str]) -> list[dict[str, Any]]:
    """Per tag: live articles created in the window, the favorites they hold, and a weekly series."""
    return [
        {"$match": {"created_at": {"$gte": since, "$lte": now}, **visible_at(now)}},
        {"$project": {"tag_list": 1, "favorites_count": 1, "week": _date_label(WEEK_FORMAT)}},
        {"$unwind": "$tag_list"},
        {
            "$group": {
                "_id": "$tag_list",
                "articles": {"$sum": 1},
                "favorites": {"$sum": "$favorites_count"},
                "weeks": {"$push": "$week"},
            }
        },
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
                        "in": {
                            "week": "$$w",
                            "articles": {
                                "$size": {
                                    "$filter": {
                                        "input": "$weeks",
                                        "as": "x",
                                        "cond": {"$eq": ["$$x", "$$w"]},
                                    }
                                }
                            },
                        },
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


def users_overview_pipeline(since: datetime, now: datetime, days: list[str]) -> list[dict[str, Any]]:
    """All users, and sign-ups per day of the window."""
    return [
        {"$match": {"created_at": {"$lte": now}}},
        {
            "$facet": {
                "total": [{"$count": "n"}],
                "daily": daily_stages(since, days),
            }
        },
    ]


def articles_overview_pipeline(
    since: datetime, now: datetime, days: list[str]
) -> list[dict[str, Any]]:
    """All live articles and the favorites they hold, and live articles created per day."""
    return [
        {"$match": visible_at(now)},
        {
            "$facet": {
                "total": [
                    {
                        "$group": {
                            "_id": None,
                            "n": {"$sum": 1},
                            "favorites": {"$sum": "$favorites_count"},
                        }
                    }
                ],
                "daily": daily_stages(since, days),
            }
        },
    ]


def comments_overview_pipeline(
    since: datetime, now: datetime, days: list[str]
) -> list[dict[str, Any]]:
    """All comments on live articles, and those written per day of the window.

    Comments are first counted per article and day, so the join to `articles` (to leave out
    drafts) runs once per group, not once per comment.
    """
    return [
        {"$match": {"created_at": {"$lte": now}}},
        {"$project": {"article_id": 1, "label": _date_label(DAY_FORMAT)}},
        {"$group": {"_id": {"article_id": "$article_id", "label": "$label"}, "n": {"$sum": 1}}},
        {
            "$lookup": {
                "from": "articles",
                "localField": "_id.article_id",
                "foreignField": "_id",
                "as": "article",
            }
        },
        {"$unwind": "$article"},
        {"$match": {"article.published_at": {"$lte": now}}},
        {"$project": {"_id": 0, "label": "$_id.label", "n": 1}},
        {
            "$facet": {
                "total": [{"$group": {"_id": None, "n": {"$sum": "$n"}}}],
                # Day labels sort as text, so the window is a string range.
                "daily": [{"$match": {"label": {"$gte": days[0]}}}, *series_stages(days, "$n")],
            }
        },
    ]


# --- reads -----------------------------------------------------------------------------------


async def _one(model: type, pipeline: list[dict[str, Any]]) -> dict[str, Any]:
    """Run a pipeline that yields one document (a `$facet`), or an empty one."""
    found = await collection(model).aggregate(pipeline).to_list(length=1)
    return found[0] if found else {}


def _series(facet: dict[str, Any], size: int) -> list[int]:
    """The counts of a `series_stages` result; all zeros when the window is empty."""
    daily = facet.get("daily") or [{"series": [0] * size}]
    return list(daily[0]["series"])


# Each answer scans its whole window, so it is kept 10 s per process (`kept`): this process's
# article writes clear it at once; comments, follows and sign-ups show within the 10 s.


async def tag_trends(days: int) -> list[dict[str, Any]]:
    """The top tags of the window with their weekly series, kept 10 s."""
    return await kept(f"analytics:tags:{days}", lambda: _tag_trends(days))


async def author_stats(username: str) -> dict[str, Any]:
    """An author's figures, kept 10 s; NotFound for an unknown username."""
    return await kept(f"analytics:author:{username}", lambda: _author_stats(username))


async def overview(days: int) -> dict[str, Any]:
    """Totals and a per-day series for the window, kept 10 s."""
    return await kept(f"analytics:overview:{days}", lambda: _overview(days))


async def _tag_trends(days: int) -> list[dict[str, Any]]:
    now = utc_now()
    since = window_start(days, now)
    pipeline = tag_trends_pipeline(since, now, week_labels(since, now))
    return await collection(Article).aggregate(pipeline).to_list(None)


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
    """One pipeline per collection, run together."""
    now = utc_now()
    since = window_start(days, now)
    labels = day_labels(since, now)
    users, articles, comments = await asyncio.gather(
        _one(User, users_overview_pipeline(since, now, labels)),
        _one(Article, articles_overview_pipeline(since, now, labels)),
        _one(Comment, comments_overview_pipeline(since, now, labels)),
    )
    article_totals = (articles.get("total") or [{"n": 0, "favorites": 0}])[0]
    per_day = zip(
        labels,
        _series(articles, len(labels)),
        _series(comments, len(labels)),
        _series(users, len(labels)),
        strict=True,
    )
    return {
        "totals": {
            "users": (users.get("total") or [{"n": 0}])[0]["n"],
            "articles": article_totals["n"],
            "comments": (comments.get("total") or [{"n": 0}])[0]["n"],
            "favorites": article_totals["favorites"],
        },
        "daily": [
            {"date": date, "articles": a, "comments": c, "users": u}
            for date, a, c, u in per_day
        ],
    }
