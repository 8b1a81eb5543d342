"""Paging an article's comments (limit, offset, cursor, the cap), commentsCount, and hidden
comments in lists; then the pure builders behind them. Expectations hold on every engine."""

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from mongomock_motor import AsyncMongoMockClient

from models.comments import NEWEST_COMMENTS
from service.comments.queries import (
    COMMENTS_CAP,
    comment_pipeline,
    comments_page_pipeline,
    visible_comments,
)
from service.contract.cursors import after_condition, keyset_cursor
from tests import oplog
from tests.factories import add_comment, create_article, register
from tests.index_coverage import served


def comments_url(slug: str) -> str:
    return f"/api/articles/{slug}/comments"


async def page(client, slug: str, params=None, headers=None) -> dict:
    response = await client.get(comments_url(slug), params=params or {}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def many(client):
    """An article with 125 comments by two users, posted fast enough to share milliseconds."""
    jake, anna = await register(client), await register(client)
    slug = (await create_article(client, jake))["slug"]
    ids = [(await add_comment(client, (jake, anna)[n % 2], slug, f"c{n}"))["id"]
           for n in range(125)]
    return slug, ids[::-1]  # newest first


async def walk_by_cursor(client, slug: str, limit: int, headers=None) -> list[int]:
    seen, params = [], {"limit": limit}
    while True:
        answer = await page(client, slug, params, headers)
        assert answer["commentsCount"] == 125
        assert len(answer["comments"]) <= limit
        seen += [comment["id"] for comment in answer["comments"]]
        if answer["nextCursor"] is None:
            return seen
        assert len(answer["comments"]) == limit
        params = {"limit": limit, "cursor": answer["nextCursor"]}


async def test_following_cursors_gives_every_comment_once_newest_first(client, many):
    slug, newest_first = many
    assert await walk_by_cursor(client, slug, 20) == newest_first
    assert await walk_by_cursor(client, slug, 25) == newest_first  # the last page is full


async def test_offsets_give_every_comment_once_newest_first(client, many):
    slug, newest_first = many
    seen = []
    for offset in range(0, 140, 20):
        answer = await page(client, slug, {"limit": 20, "offset": offset})
        assert answer["commentsCount"] == 125
        assert (answer["nextCursor"] is None) == (offset + 20 >= 125)
        seen += [comment["id"] for comment in answer["comments"]]
    assert seen == newest_first


async def test_a_cursor_is_stable_while_new_comments_arrive(client, many):
    slug, newest_first = many
    first = await page(client, slug, {"limit": 10})
    jake = await register(client)
    await add_comment(client, jake, slug, "late")
    second = await page(client, slug, {"limit": 10, "cursor": first["nextCursor"]})
    assert [c["id"] for c in second["comments"]] == newest_first[10:20]
    assert second["commentsCount"] == 126


async def test_without_parameters_all_comments_come_back_under_the_cap(client, many):
    slug, newest_first = many
    answer = await page(client, slug)
    assert list(answer) == ["comments", "commentsCount", "nextCursor"]
    assert [c["id"] for c in answer["comments"]] == newest_first
    assert answer["commentsCount"] == 125 and answer["nextCursor"] is None


async def test_the_cap_bounds_a_list_without_limit_and_the_cursor_leads_on(app, client):
    jake = await register(client)
    article = await create_article(client, jake)
    stored = await app.state.engine.database.articles.find_one({"slug": article["slug"]})
    author = await app.state.engine.database.users.find_one({"username": jake.username})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    total = COMMENTS_CAP + 7
    await app.state.engine.database.comments.insert_many([
        {"_id": 10_000 + n, "article_id": stored["_id"], "author_id": author["_id"],
         "body": f"c{n}", "version": 1, "schema_version": 1,
         "created_at": start + timedelta(seconds=n), "updated_at": start + timedelta(seconds=n)}
        for n in range(total)
    ])
    # Written past the API: counted as its comment writes would count them (`$inc`).
    await app.state.engine.database.articles.update_one(
        {"_id": stored["_id"]}, {"$inc": {"comments_count": total}})
    first = await page(client, article["slug"])
    assert len(first["comments"]) == COMMENTS_CAP
    assert first["commentsCount"] == total
    assert first["comments"][0]["id"] == 10_000 + total - 1
    rest = await page(client, article["slug"], {"cursor": first["nextCursor"]})
    assert [c["id"] for c in rest["comments"]] == [10_000 + n for n in range(6, -1, -1)]
    assert rest["nextCursor"] is None and rest["commentsCount"] == total


async def test_exactly_the_limit_leaves_no_next_cursor(client):
    jake = await register(client)
    slug = (await create_article(client, jake))["slug"]
    for n in range(3):
        await add_comment(client, jake, slug, f"c{n}")
    assert (await page(client, slug, {"limit": 3}))["nextCursor"] is None
    assert (await page(client, slug, {"limit": 2}))["nextCursor"] is not None
    empty = await page(client, slug, {"limit": 2, "offset": 5})
    assert empty["comments"] == [] and empty["commentsCount"] == 3


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}, {"offset": 10_001},
    {"cursor": "not-a-cursor"}, {"cursor": "e30"},
    {"cursor": keyset_cursor([("published_at", -1), ("_id", -1)], {})},  # an article list's
], ids=["limit-0", "limit-101", "limit-text", "offset-negative", "offset-deep", "cursor-garbage",
        "cursor-empty", "cursor-of-another-order"])
async def test_bad_paging_parameters_answer_422(client, params):
    jake = await register(client)
    slug = (await create_article(client, jake))["slug"]
    response = await client.get(comments_url(slug), params=params)
    assert response.status_code == 422
    assert set(response.json()["errors"]) <= {"limit", "offset", "cursor"}


async def test_cursor_and_offset_together_answer_422(client, many):
    slug, _ = many
    cursor = (await page(client, slug, {"limit": 5}))["nextCursor"]
    response = await client.get(comments_url(slug), params={"cursor": cursor, "offset": 5})
    assert response.status_code == 422
    assert response.json() == {"errors": {"cursor": ["use either offset or cursor"]}}


async def test_later_pages_cost_page_authors_and_following_beside_the_article(client, many):
    slug, _ = many
    reader = await register(client)
    cursor = (await page(client, slug, {"limit": 5}))["nextCursor"]
    for params in ({"limit": 5, "cursor": cursor}, {"limit": 50, "offset": 5}, {"limit": 5}):
        with oplog.recording() as log:
            await page(client, slug, params, reader.headers)
        # article, page, authors ($in), the reader's own hidden comments, following ($in)
        assert len(log) == 5, (params, log.operations)


# --- hidden comments in the list --------------------------------------------------------------


async def hide(app, comment_id: int, reason: str = "spam") -> None:
    """Hide a comment as moderation does: its `moderation`, and the article's hidden count."""
    database = app.state.engine.database
    comment = await database.comments.find_one_and_update(
        {"_id": comment_id},
        {"$set": {"moderation": {"hidden": True, "reason": reason, "by": ObjectId(),
                                 "at": datetime.now(UTC)}}},
    )
    await database.articles.update_one({"_id": comment["article_id"]},
                                       {"$inc": {"hidden_comments_count": 1}})


async def test_hidden_comments_are_listed_and_counted_only_for_their_author(app, client):
    jake, anna, reader = await register(client), await register(client), await register(client)
    slug = (await create_article(client, jake))["slug"]
    visible = await add_comment(client, jake, slug, "fine")
    hidden = await add_comment(client, anna, slug, "spam")
    await hide(app, hidden["id"], "advertising")

    for headers in (None, reader.headers, jake.headers):  # anonymous, a reader, the article's author
        answer = await page(client, slug, headers=headers)
        assert [c["id"] for c in answer["comments"]] == [visible["id"]]
        assert answer["commentsCount"] == 1
        assert "moderation" not in answer["comments"][0]

    own = await page(client, slug, headers=anna.headers)
    assert [c["id"] for c in own["comments"]] == [hidden["id"], visible["id"]]
    assert own["commentsCount"] == 2
    assert own["comments"][0]["moderation"] == {"hidden": True, "reason": "advertising"}
    assert "moderation" not in own["comments"][1]


async def test_hidden_comments_never_take_a_place_in_someone_elses_pages(app, client, many):
    slug, newest_first = many
    for comment_id in newest_first[::3]:
        await hide(app, comment_id)
    shown = [c for n, c in enumerate(newest_first) if n % 3]
    seen, params = [], {"limit": 7}
    while True:
        answer = await page(client, slug, params)
        assert answer["commentsCount"] == len(shown)
        seen += [c["id"] for c in answer["comments"]]
        if answer["nextCursor"] is None:
            break
        params = {"limit": 7, "cursor": answer["nextCursor"]}
    assert seen == shown


# --- the builders, pure -------------------------------------------------------------------------


ARTICLE, VIEWER = ObjectId(), ObjectId()


def test_visible_comments_leaves_hidden_ones_out_except_the_viewers_own():
    assert visible_comments(ARTICLE, None) == {
        "article_id": ARTICLE, "moderation": {"$exists": False},
    }
    assert visible_comments(ARTICLE, VIEWER) == {
        "article_id": ARTICLE,
        "$or": [{"moderation": {"$exists": False}}, {"author_id": VIEWER}],
    }


def test_the_visibility_filter_and_a_cursor_are_served_by_article_created_at():
    after = after_condition(keyset_cursor(NEWEST_COMMENTS, {"created_at": datetime.now(UTC),
                                                            "_id": 7}), NEWEST_COMMENTS)
    for viewer in (None, VIEWER):
        match = visible_comments(ARTICLE, viewer)
        assert served("comments", match, NEWEST_COMMENTS)
        assert served("comments", {"$and": [match, after]}, NEWEST_COMMENTS)
        assert served("comments", comment_pipeline(match, 7)[0]["$match"], [])


def test_page_pipeline_sorts_newest_first_then_pages_and_joins_no_authors():
    match = visible_comments(ARTICLE, VIEWER)
    pipeline = comments_page_pipeline(match, offset=40, limit=21)
    assert pipeline[:4] == [
        {"$match": match},
        {"$sort": {"created_at": -1, "_id": -1}},
        {"$skip": 40},
        {"$limit": 21},
    ]
    assert "$lookup" not in repr(pipeline)  # authors come from one `$in` after the page
    after = {"created_at": {"$lte": 1}}
    with_cursor = comments_page_pipeline(match, offset=0, limit=21, after=after)
    assert with_cursor[0] == {"$match": {"$and": [match, after]}}
    assert {"$skip": 40} not in with_cursor


async def test_the_builders_on_the_embedded_engine():
    db = AsyncMongoMockClient()["comment_pipelines"]
    other = ObjectId()
    await db.users.insert_many([
        {"_id": VIEWER, "username": "anna", "bio": None, "image": None, "password_hash": "x"},
        {"_id": other, "username": "jake", "bio": None, "image": None, "password_hash": "x"},
    ])
    at = datetime(2026, 1, 1, tzinfo=UTC)
    hidden = {"moderation": {"hidden": True, "reason": "spam"}}
    await db.comments.insert_many([
        {"_id": 1, "article_id": ARTICLE, "author_id": other, "body": "a", "created_at": at},
        {"_id": 2, "article_id": ARTICLE, "author_id": VIEWER, "body": "b", "created_at": at,
         **hidden},
        {"_id": 3, "article_id": ARTICLE, "author_id": other, "body": "c", "created_at": at,
         **hidden},
        {"_id": 4, "article_id": ObjectId(), "author_id": other, "body": "d", "created_at": at},
    ])

    async def ids(pipeline) -> list[int]:
        return [row["_id"] for row in await db.comments.aggregate(pipeline).to_list(None)]

    anonymous, anna = visible_comments(ARTICLE, None), visible_comments(ARTICLE, VIEWER)
    assert await ids(comments_page_pipeline(anonymous, offset=0, limit=10)) == [1]
    assert await ids(comments_page_pipeline(anna, offset=0, limit=10)) == [2, 1]
    assert await ids(comments_page_pipeline(anna, offset=1, limit=10)) == [1]
    after = after_condition(keyset_cursor(NEWEST_COMMENTS, {"created_at": at, "_id": 2}),
                            NEWEST_COMMENTS)
    assert await ids(comments_page_pipeline(anna, offset=0, limit=10, after=after)) == [1]
    assert await ids(comment_pipeline(anna, 2)) == [2]
    assert await ids(comment_pipeline(anonymous, 2)) == []
    assert await ids(comment_pipeline(anna, 3)) == []
    [row] = await db.comments.aggregate(comment_pipeline(anna, 1)).to_list(None)
    assert row["author"] == {"_id": other, "username": "jake", "bio": None, "image": None}
    assert "password_hash" not in row["author"]
