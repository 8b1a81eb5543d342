"""Keyset pagination: `cursor` / `nextCursor` on lists, the feed and search."""

import base64
from datetime import UTC, datetime, timedelta

import pytest

from models import Article
from service.articles.reads import article_page_pipeline
from service.contract.cursors import after_condition, keyset_cursor
from service.engine.client import collection
from tests import oplog
from tests.factories import create_article, follow, register


async def walk(client, url: str, params: dict, headers=None) -> list[str]:
    """Follow nextCursor from the first page to the last; the slugs in order."""
    slugs, cursor = [], None
    for _ in range(50):
        page = (await client.get(url, params={**params, **({"cursor": cursor} if cursor else {})},
                                 headers=headers)).json()
        slugs += [article["slug"] for article in page["articles"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return slugs
    raise AssertionError("the cursor never ended")


async def test_following_cursors_visits_every_article_once_newest_first(client):
    jake = await register(client)
    created = [(await create_article(client, jake))["slug"] for _ in range(7)]
    assert await walk(client, "/api/articles", {"limit": 3}) == created[::-1]
    first = (await client.get("/api/articles", params={"limit": 3})).json()
    assert first["articlesCount"] == 7 and first["nextCursor"]


async def test_a_cursor_is_stable_when_articles_are_published_meanwhile(client):
    jake = await register(client)
    created = [(await create_article(client, jake))["slug"] for _ in range(6)]
    first = (await client.get("/api/articles", params={"limit": 3})).json()
    for _ in range(2):
        await create_article(client, jake)  # newer articles arrive between the two pages
    second = (await client.get("/api/articles",
                               params={"limit": 3, "cursor": first["nextCursor"]})).json()
    assert [a["slug"] for a in second["articles"]] == created[2::-1]
    assert second["articlesCount"] == 8


async def test_ties_in_publication_time_are_broken_by_id(client):
    jake = await register(client)
    created = [(await create_article(client, jake))["slug"] for _ in range(5)]
    same = datetime(2026, 1, 1, tzinfo=UTC)
    await collection(Article).update_many({}, {"$set": {"published_at": same}})
    walked = await walk(client, "/api/articles", {"limit": 2})
    assert sorted(walked) == sorted(created) and len(walked) == 5


async def test_the_feed_and_filters_page_by_cursor_too(client):
    reader, jake = await register(client), await register(client)
    tagged = [(await create_article(client, jake, tagList=["x"]))["slug"] for _ in range(4)]
    await create_article(client, jake)
    await follow(client, reader, jake.username)
    assert await walk(client, "/api/articles", {"tag": "x", "limit": 3}) == tagged[::-1]
    assert len(await walk(client, "/api/articles/feed", {"limit": 2}, reader.headers)) == 5


@pytest.mark.not_on_wire("mongoeco has no $text")
async def test_search_pages_by_cursor(client):
    jake = await register(client)
    created = [(await create_article(client, jake, title=f"Dragon {n}"))["slug"] for n in range(5)]
    assert await walk(client, "/api/search", {"q": "dragon", "limit": 2}) == created[::-1]


@pytest.mark.parametrize("params", [
    {"cursor": "not-a-cursor"}, {"cursor": "e30"}, {"cursor": "W10"},
    {"cursor": keyset_cursor([("created_at", -1), ("_id", -1)], {})},
])
async def test_bad_cursors_answer_422(client, params):
    response = await client.get("/api/articles", params=params)
    assert response.status_code == 422
    assert "cursor" in response.json()["errors"]


async def test_cursor_and_offset_together_answer_422(client):
    jake = await register(client)
    await create_article(client, jake)
    cursor = (await client.get("/api/articles", params={"limit": 1})).json()["nextCursor"]
    response = await client.get("/api/articles", params={"cursor": cursor, "offset": 1})
    assert response.status_code == 422
    assert response.json() == {"errors": {"cursor": ["use either offset or cursor"]}}


async def test_cursor_pages_cost_the_same_round_trips(client):
    jake = await register(client)
    for _ in range(5):
        await create_article(client, jake)
    cursor = (await client.get("/api/articles", params={"limit": 2})).json()["nextCursor"]
    with oplog.recording() as log:
        await client.get("/api/articles", params={"limit": 2, "cursor": cursor})
    assert len(log) == 1


def test_after_condition_continues_strictly_after_the_last_item():
    sort = [("published_at", -1), ("_id", -1)]
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    last = {"published_at": moment, "_id": __import__("bson").ObjectId("65a000000000000000000001")}
    condition = after_condition(keyset_cursor(sort, last), sort)
    # The leading range gives the index tight bounds; the $or is exact about ties.
    assert condition == {"published_at": {"$lte": moment}, "$or": [
        {"published_at": {"$lt": moment}},
        {"published_at": moment, "_id": {"$lt": last["_id"]}},
    ]}
    pipeline = article_page_pipeline({"a": 1}, offset=0, limit=5, sort=sort, after=condition)
    assert pipeline[:3] == [
        {"$match": {"$and": [{"a": 1}, condition]}},
        {"$sort": dict(sort)},
        {"$limit": 5},
    ]



def forged(json_text: str) -> str:
    """A cursor as a client could make one: base64url of any JSON text."""
    return base64.urlsafe_b64encode(json_text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "literal",
    [str(2**63), str(-(2**63) - 1), "1" + "0" * 30, "Infinity", "NaN", "true"],
    ids=["int64-max+1", "int64-min-1", "huge", "infinity", "nan", "bool"],
)
async def test_a_cursor_with_a_number_mongodb_cannot_hold_answers_422(client, literal):
    # On MongoDB an int beyond 64 bits made PyMongo raise OverflowError while encoding: a 500.
    cursor = forged('{"s": ["published_at", "_id"], "v": [{"t": 0}, ' + literal + "]}")
    response = await client.get("/api/articles", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == ["cursor"]


@pytest.mark.not_on_wire("mongoeco has no $text")
async def test_a_search_cursor_past_the_deepest_offset_answers_422(client):
    response = await client.get("/api/search", params={"q": "x", "cursor": forged('{"o": 1e20}')})
    assert response.status_code == 422
    deep = await client.get("/api/search", params={"q": "x", "cursor": forged('{"o": 10001}')})
    assert deep.json() == {"errors": {"cursor": ["goes past the deepest page (offset 10000)"]}}
    ok = await client.get("/api/search", params={"q": "x", "cursor": forged('{"o": 10000}')})
    assert ok.status_code == 200


def test_keyset_cursors_carry_every_millisecond_instant_exactly():
    # `timestamp() * 1000` as a float came out 1 ms low for some instants (e.g. in 2035):
    # the next page then skipped an article published in that millisecond.
    import random

    sort = [("published_at", -1), ("_id", -1)]
    moments = random.Random(7)
    for _ in range(2_000):
        ms = moments.randrange(0, 4_102_444_800_000)  # 1970 to 2100
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        condition = after_condition(keyset_cursor(sort, {"published_at": moment, "_id": 1}), sort)
        assert condition["published_at"] == {"$lte": moment}, moment
