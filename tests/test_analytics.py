"""Analytics: tag trends, author figures and the overview, checked against plain-Python counts.

Every expectation is computed here, independently, from the records each test inserted and
placed in time; the service's pipeline builders are never used to compute an answer. Records
placed in time by hand bypass the rollups' `$inc`s, so those tests rebuild the rollups first
(as migration 0005 and `folio db recount` do); the rollups' upkeep is tested on its own below.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from models import Article, Comment, User
from service.engine.client import collection, current_engine
from service.rollups.queries import rebuild_rollups
from tests.conftest import WIRE_NULL_DATES
from tests.factories import add_comment, create_article, favorite, follow, register

FUTURE = "2099-01-01T00:00:00Z"


# --- time helpers -----------------------------------------------------------------------------


def now_ms() -> datetime:
    """The current UTC instant, aware, at MongoDB's millisecond precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def window_first_day(days: int, now: datetime) -> datetime:
    """Midnight UTC of `today - (days - 1)`: the first instant a `days` window counts."""
    first = now.date() - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def dates_between(first: date, last: date) -> list[date]:
    """Every calendar day from first to last, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


async def place_article(slug: str, created_at: datetime, *, live: bool = True) -> None:
    """Move an article's creation (and, for a live one, publication) to `created_at`."""
    fields: dict[str, Any] = {"created_at": created_at}
    if live:
        fields["published_at"] = created_at
    result = await collection(Article).update_one({"slug": slug}, {"$set": fields})
    assert result.matched_count == 1


async def place_user(username: str, created_at: datetime) -> None:
    result = await collection(User).update_one(
        {"username": username}, {"$set": {"created_at": created_at}}
    )
    assert result.matched_count == 1


async def place_comment(comment_id: int, created_at: datetime) -> None:
    result = await collection(Comment).update_one(
        {"_id": comment_id}, {"$set": {"created_at": created_at}}
    )
    assert result.matched_count == 1


async def get_expecting(
    client, url: str, expected_for: Callable[[datetime], Any]
) -> dict[str, Any]:
    """GET `url` and compare with the expectation for the server's "now".

    The expectation is computed for an instant taken just before and just after the request,
    so a UTC midnight passing during the request cannot make the test flaky.
    """
    await rebuild_rollups(current_engine().database)
    before = now_ms()
    response = await client.get(url)
    after = now_ms()
    assert response.status_code == 200, response.text
    body = response.json()
    if body != expected_for(before):
        assert body == expected_for(after)
    return body


# --- independent expectations ---------------------------------------------------------------


@dataclass
class Record:
    """An article as the test placed it."""

    tags: list[str]
    created_at: datetime
    favorites: int
    visible: bool


def expected_tags(records: list[Record], now: datetime, days: int) -> dict[str, Any]:
    """Per tag: live articles created in the window, their favorites, and every ISO week."""
    since = window_first_day(days, now)
    weeks: list[str] = []
    for day in dates_between(since.date(), now.date()):
        if iso_week(day) not in weeks:
            weeks.append(iso_week(day))
    articles: Counter[str] = Counter()
    favorites: Counter[str] = Counter()
    per_week: dict[str, Counter[str]] = {}
    for record in records:
        if not record.visible or not since <= record.created_at <= now:
            continue
        for tag in record.tags:
            articles[tag] += 1
            favorites[tag] += record.favorites
            per_week.setdefault(tag, Counter())[iso_week(record.created_at.date())] += 1
    ranked = sorted(articles, key=lambda tag: (-articles[tag], -favorites[tag], tag))[:50]
    return {
        "tags": [
            {
                "tag": tag,
                "articles": articles[tag],
                "favorites": favorites[tag],
                "weekly": [{"week": week, "articles": per_week[tag][week]} for week in weeks],
            }
            for tag in ranked
        ]
    }


# --- /analytics/tags --------------------------------------------------------------------------


@WIRE_NULL_DATES
async def test_tag_trends_count_live_articles_of_the_window_with_favorites_and_every_week(client):
    alice, bob, carol, dave = [await register(client) for _ in range(4)]
    now = now_ms()
    since = window_first_day(30, now)
    records: list[Record] = []

    async def live(tags: list[str], created_at: datetime, fans: list) -> None:
        article = await create_article(client, alice, tagList=tags)
        count = 0
        for fan in fans:
            count = (await favorite(client, fan, article["slug"]))["favoritesCount"]
        assert count == len(fans)
        await place_article(article["slug"], created_at)
        records.append(Record(tags, created_at, len(fans), True))

    await live(["python", "web"], now - timedelta(seconds=1), [bob, carol])
    await live(["python"], now - timedelta(days=8), [bob])
    await live(["rust", "web"], now - timedelta(days=15), [bob, carol, dave])
    await live(["rust"], now - timedelta(days=3), [])
    await live(["go"], since, [])  # the window's first instant counts
    await live(["go", "python"], since - timedelta(milliseconds=1), [dave])  # just before: not
    await live(["python", "rust"], now - timedelta(days=40), [dave])  # long before: not

    draft = await create_article(client, alice, tagList=["drafted", "python"], status="draft")
    await favorite(client, alice, draft["slug"])
    await place_article(draft["slug"], now - timedelta(days=1), live=False)
    records.append(Record(["drafted", "python"], now - timedelta(days=1), 1, False))
    scheduled = await create_article(client, alice, tagList=["future", "web"], publishAt=FUTURE)
    await favorite(client, alice, scheduled["slug"])
    await place_article(scheduled["slug"], now - timedelta(days=2), live=False)
    records.append(Record(["future", "web"], now - timedelta(days=2), 1, False))

    body = await get_expecting(
        client, "/api/analytics/tags?days=30", lambda at: expected_tags(records, at, 30)
    )
    # The hand-made data exercises every sort key: web 2/5, python 2/3, rust 2/3, go 1/0.
    assert [(t["tag"], t["articles"], t["favorites"]) for t in body["tags"]] == [
        ("web", 2, 5), ("python", 2, 3), ("rust", 2, 3), ("go", 1, 0),
    ]  # fmt: skip
    web_weeks = [week["articles"] for week in body["tags"][0]["weekly"]]
    assert sorted(web_weeks)[-2:] == [1, 1] and sum(web_weeks) == 2 and 0 in web_weeks


@WIRE_NULL_DATES
async def test_tag_trends_are_empty_when_no_live_article_was_created_in_the_window(client):
    jake = await register(client)
    await create_article(client, jake, tagList=["hidden"], status="draft")
    await create_article(client, jake, tagList=["later"], publishAt=FUTURE)
    old = await create_article(client, jake, tagList=["old"])
    await place_article(old["slug"], now_ms() - timedelta(days=400))

    await rebuild_rollups(current_engine().database)
    response = await client.get("/api/analytics/tags", params={"days": 365})

    assert response.status_code == 200
    assert response.json() == {"tags": []}


async def test_tag_trends_window_defaults_to_30_days(client):
    jake = await register(client)
    now = now_ms()
    records: list[Record] = []
    for tags, back in ((["recent"], 2), (["month"], 20), (["month", "old"], 45)):
        article = await create_article(client, jake, tagList=tags)
        await place_article(article["slug"], now - timedelta(days=back))
        records.append(Record(tags, now - timedelta(days=back), 0, True))

    body = await get_expecting(
        client, "/api/analytics/tags", lambda at: expected_tags(records, at, 30)
    )

    assert [t["tag"] for t in body["tags"]] == ["month", "recent"]
    assert body != expected_tags(records, now, 7)


async def test_tag_trends_return_only_the_top_50_tags_in_rank_order(client):
    jake, fan = await register(client), await register(client)
    now = now_ms()
    names = [f"tag{n:02d}" for n in range(55)]
    records: list[Record] = []
    # tag00-09: 1 article; tag10-49: 2 articles (tag20-39 also hold a favorite); tag50-54: 1.
    tag_lists = [names[0:20], names[10:30], names[20:40], names[30:50], names[40:55]]
    for index, tags in enumerate(tag_lists):
        article = await create_article(client, jake, tagList=tags)
        favorites = 0
        if index == 2:
            favorites = (await favorite(client, fan, article["slug"]))["favoritesCount"]
        created = now - timedelta(hours=index)
        await place_article(article["slug"], created)
        records.append(Record(tags, created, favorites, True))

    body = await get_expecting(
        client, "/api/analytics/tags?days=7", lambda at: expected_tags(records, at, 7)
    )

    ranked = [t["tag"] for t in body["tags"]]
    assert len(ranked) == 50
    assert ranked == names[20:40] + names[10:20] + names[40:50] + names[0:10]
    assert not set(names[50:55]) & set(ranked)


@pytest.mark.parametrize("days", ["0", "366", "x", "-1", "1.5"])
async def test_tag_trends_refuse_a_window_out_of_range_with_422_naming_days(client, days):
    response = await client.get("/api/analytics/tags", params={"days": days})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["days"]


@pytest.mark.parametrize("days", [1, 365])
async def test_tag_trends_accept_the_window_limits(client, days):
    jake = await register(client)
    article = await create_article(client, jake, tagList=["today"])
    created = now_ms() - timedelta(milliseconds=1)
    await place_article(article["slug"], created)
    records = [Record(["today"], created, 0, True)]

    body = await get_expecting(
        client, f"/api/analytics/tags?days={days}", lambda at: expected_tags(records, at, days)
    )

    weekly = body["tags"][0]["weekly"]
    assert weekly[-1]["articles"] == 1
    assert len(weekly) == 1 if days == 1 else len(weekly) >= 53


# --- /analytics/authors/{username} ------------------------------------------------------------


def expected_author(
    username: str,
    articles: list[dict[str, Any]],
    comments_on: list[str],
    followers: int,
) -> dict[str, Any]:
    """An author's figures from their articles ({slug, title, favorites, created_at, visible})."""
    live = [a for a in articles if a["visible"]]
    live_slugs = {a["slug"] for a in live}
    top = sorted(live, key=lambda a: (-a["favorites"], a["slug"]))[:5]
    months = Counter(a["created_at"].strftime("%Y-%m") for a in live)
    return {
        "author": {
            "username": username,
            "articles": len(live),
            "favoritesReceived": sum(a["favorites"] for a in live),
            "commentsReceived": sum(1 for slug in comments_on if slug in live_slugs),
            "followers": followers,
            "topArticles": [
                {"slug": a["slug"], "title": a["title"], "favoritesCount": a["favorites"]}
                for a in top
            ],
            "monthly": [{"month": m, "articles": months[m]} for m in sorted(months)],
        }
    }


@WIRE_NULL_DATES
async def test_author_stats_count_only_live_articles_their_favorites_comments_and_followers(client):
    jake, ann, ben, cat, other = [await register(client) for _ in range(5)]
    fans = [ann, ben, cat]
    now = now_ms()
    articles: list[dict[str, Any]] = []
    comments_on: list[str] = []

    async def write(title: str, favorites: int, comments: int, back_days: int, **overrides) -> str:
        article = await create_article(client, jake, title=title, **overrides)
        visible = not overrides  # only the author may see a draft or scheduled article
        for fan in fans[:favorites] if visible else [jake][:favorites]:
            await favorite(client, fan, article["slug"])
        for n in range(comments):
            await add_comment(client, fans[n % 3] if visible else jake, article["slug"])
            comments_on.append(article["slug"])
        await place_article(article["slug"], now - timedelta(days=back_days), live=visible)
        articles.append({"slug": article["slug"], "title": title, "favorites": favorites,
                         "created_at": now - timedelta(days=back_days), "visible": visible})
        return article["slug"]

    # Six live articles over three or more months; two tie on favorites to test the slug order.
    await write("Zebra crossing", 2, 1, 0)
    await write("Apple pie", 2, 0, 1)
    await write("Mango season", 3, 2, 35)
    await write("Kiwi facts", 1, 0, 70)
    await write("Banana bread", 0, 3, 70)
    await write("Cherry tart", 0, 0, 100)
    # A draft and a scheduled article, favorited and commented on by their author: none counts.
    await write("Secret draft", 1, 2, 2, status="draft")
    await write("Future plans", 1, 1, 3, publishAt=FUTURE)
    # Someone else's article, favorited and commented: not jake's.
    elsewhere = await create_article(client, other)
    await favorite(client, ann, elsewhere["slug"])
    await add_comment(client, ann, elsewhere["slug"])
    for follower in (ann, other):
        await follow(client, follower, jake.username)
    await follow(client, jake, other.username)

    body = await get_expecting(
        client,
        f"/api/analytics/authors/{jake.username}",
        lambda _: expected_author(jake.username, articles, comments_on, followers=2),
    )

    stats = body["author"]
    assert (stats["articles"], stats["favoritesReceived"], stats["commentsReceived"]) == (6, 8, 6)
    assert [a["title"] for a in stats["topArticles"]] == [
        "Mango season", "Apple pie", "Zebra crossing", "Kiwi facts", "Banana bread",
    ]  # fmt: skip
    assert sum(month["articles"] for month in stats["monthly"]) == 6


@WIRE_NULL_DATES
async def test_author_stats_for_a_user_without_articles_are_zeros_with_followers(client):
    jake, ann = await register(client), await register(client)
    await create_article(client, jake, status="draft")
    await create_article(client, jake, publishAt=FUTURE)
    await follow(client, ann, jake.username)

    response = await client.get(f"/api/analytics/authors/{jake.username}")

    assert response.status_code == 200
    assert response.json() == {
        "author": {
            "username": jake.username, "articles": 0, "favoritesReceived": 0,
            "commentsReceived": 0, "followers": 1, "topArticles": [], "monthly": [],
        }
    }  # fmt: skip


async def test_author_stats_of_an_unknown_user_are_404(client):
    await register(client, "jake")
    response = await client.get("/api/analytics/authors/nobody")
    assert response.status_code == 404
    assert response.json() == {"errors": {"profile": ["not found"]}}


async def test_author_stats_match_the_username_exactly(client):
    await register(client, "jake")
    for name in ("Jake", "jak", "^jake$"):
        response = await client.get(f"/api/analytics/authors/{name}")
        assert response.status_code == 404, name


# --- /analytics/overview ----------------------------------------------------------------------


def expected_overview(
    users: list[datetime],
    articles: list[tuple[datetime, int, bool]],
    comments: list[tuple[datetime, bool]],
    now: datetime,
    days: int,
) -> dict[str, Any]:
    """Totals and per-day counts from users, (created, favorites, live) and (created, on live).

    The daily series counts comments wherever they were written (a draft's too); the total,
    the comments live articles hold.
    """
    since = window_first_day(days, now)
    live = [(created, favorites) for created, favorites, visible in articles if visible]
    counted = [created for created, on_live in comments if on_live]
    written = [created for created, _ in comments]

    def per_day(moments: list[datetime]) -> Counter[date]:
        return Counter(m.date() for m in moments if since <= m <= now)

    articles_by_day = per_day([created for created, _ in live])
    comments_by_day = per_day(written)
    users_by_day = per_day(users)
    return {
        "totals": {
            "users": len(users),
            "articles": len(live),
            "comments": len(counted),
            "favorites": sum(favorites for _, favorites in live),
        },
        "daily": [
            {
                "date": day.isoformat(),
                "articles": articles_by_day[day],
                "comments": comments_by_day[day],
                "users": users_by_day[day],
            }
            for day in dates_between(since.date(), now.date())
        ],
    }


@WIRE_NULL_DATES
async def test_overview_has_totals_and_one_entry_per_day_of_the_window(client):
    now = now_ms()
    since = window_first_day(7, now)
    accounts = [await register(client) for _ in range(5)]
    jake, ann, ben, cat, dan = accounts
    user_times = [now - timedelta(minutes=1), since, since - timedelta(milliseconds=1),
                  now - timedelta(days=2), now - timedelta(days=30)]  # fmt: skip
    for account, moment in zip(accounts, user_times, strict=True):
        await place_user(account.username, moment)

    articles: list[tuple[datetime, int, bool]] = []
    comments: list[tuple[datetime, bool]] = []

    async def write(back: timedelta, fans: list, comment_backs: list[timedelta], **overrides):
        article = await create_article(client, jake, **overrides)
        for fan in fans:
            await favorite(client, fan, article["slug"])
        visible = not overrides
        created = now - back
        await place_article(article["slug"], created, live=visible)
        articles.append((created, len(fans), visible))
        for comment_back in comment_backs:
            comment = await add_comment(client, jake, article["slug"])
            await place_comment(comment["id"], now - comment_back)
            comments.append((now - comment_back, visible))

    await write(timedelta(seconds=5), [ann, ben], [timedelta(seconds=1), timedelta(days=1)])
    await write(timedelta(days=3), [cat], [timedelta(days=3)])
    await write(timedelta(days=6), [], [])
    await write(timedelta(days=10), [ann, ben, cat], [timedelta(days=9), timedelta(hours=1)])
    await write(timedelta(days=1), [jake], [timedelta(hours=2)], status="draft")
    await write(timedelta(days=2), [jake], [timedelta(hours=3)], publishAt=FUTURE)

    body = await get_expecting(
        client,
        "/api/analytics/overview?days=7",
        lambda at: expected_overview(user_times, articles, comments, at, 7),
    )

    assert body["totals"] == {"users": 5, "articles": 4, "comments": 5, "favorites": 6}
    assert len(body["daily"]) == 7
    assert [day["date"] for day in body["daily"]] == sorted(day["date"] for day in body["daily"])
    assert body["daily"][-1]["date"] in {now.date().isoformat(), now_ms().date().isoformat()}


async def test_overview_defaults_to_7_days_and_is_all_zeros_when_empty(client):
    before = now_ms()
    response = await client.get("/api/analytics/overview")
    assert response.status_code == 200
    body = response.json()
    if body != expected_overview([], [], [], before, 7):
        assert body == expected_overview([], [], [], now_ms(), 7)


@pytest.mark.parametrize("days", [1, 90])
async def test_overview_daily_series_spans_exactly_the_window(client, days):
    jake = await register(client)
    now = now_ms()
    await place_user(jake.username, now - timedelta(days=days - 1))

    body = await get_expecting(
        client,
        f"/api/analytics/overview?days={days}",
        lambda at: expected_overview([now - timedelta(days=days - 1)], [], [], at, days),
    )

    assert len(body["daily"]) == days
    assert sum(day["users"] for day in body["daily"]) == 1


@pytest.mark.parametrize("days", ["0", "91", "x"])
async def test_overview_refuses_a_window_out_of_range_with_422_naming_days(client, days):
    response = await client.get("/api/analytics/overview", params={"days": days})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["days"]


async def test_analytics_answers_are_kept_ten_seconds_and_cleared_by_article_writes(client):
    from tests import oplog

    jake = await register(client)
    await create_article(client, jake, tagList=["kept"])
    first = (await client.get("/api/analytics/overview", params={"days": 7})).json()
    with oplog.recording() as log:
        again = (await client.get("/api/analytics/overview", params={"days": 7})).json()
    assert again == first and len(log) == 0
    await create_article(client, jake)
    later = (await client.get("/api/analytics/overview", params={"days": 7})).json()
    assert later["totals"]["articles"] == first["totals"]["articles"] + 1
