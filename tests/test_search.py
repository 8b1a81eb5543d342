"""Search: matching, order, paging, facets, filters, visibility, literal text and validation.

Engines: the embedded engine matches `q` case-insensitively as a literal substring of title,
description or body, newest published first; MongoDB uses its weighted `$text` index (whole
words, stemming, stop words, relevance first). Tests marked `embedded_only` describe the
substring fallback; the others use whole words that both match the same way. The wire server
has no `$text` at all, so none of these run there.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import Article
from service.engine.client import collection
from tests.factories import Account, create_article, favorite, follow, register

pytestmark = pytest.mark.not_on_wire("mongoeco has no $text")
SUBSTRING = pytest.mark.embedded_only("substring matching; $text matches whole words by score")

FUTURE = "2099-01-01T00:00:00Z"
LIST_KEYS = {
    "slug", "title", "description", "tagList", "createdAt", "updatedAt",
    "favorited", "favoritesCount", "author",
    "status", "publishAt", "publishedAt", "readingTimeMinutes", "meta", "coverImage", "canonicalUrl",
}  # fmt: skip
NO_FACETS = {"tags": [], "authors": []}


def hours_ago(hours: float) -> datetime:
    """An aware UTC instant `hours` ago, at millisecond precision."""
    moment = datetime.now(UTC) - timedelta(hours=hours)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def published(client, author: Account, hours: float, **fields: Any) -> dict:
    """Create a live article and move its publication `hours` into the past."""
    article = await create_article(client, author, **fields)
    result = await collection(Article).update_one(
        {"slug": article["slug"]}, {"$set": {"published_at": hours_ago(hours)}}
    )
    assert result.matched_count == 1
    return article


async def search(client, viewer: Account | None = None, **params: Any) -> dict:
    """GET /api/search and return the body of a 200."""
    headers = viewer.headers if viewer else None
    response = await client.get("/api/search", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def slugs(body: dict) -> list[str]:
    return [article["slug"] for article in body["articles"]]


# --- matching and order -----------------------------------------------------------------------


@SUBSTRING
async def test_search_matches_title_description_or_body_case_insensitively(client):
    jake = await register(client)
    in_title = await published(client, jake, 3, title="Dragon riders")
    in_description = await published(client, jake, 1, description="All about DRAGONS")
    in_body = await published(client, jake, 2, body="Here be dragon eggs.")
    await published(client, jake, 0.5, title="Wyverns", tagList=["dragon"])  # a tag is not text
    await published(client, jake, 0.1, title="Griffins", description="Eagles", body="Lions")

    body = await search(client, q="dRaGoN")

    assert body["articlesCount"] == 3
    assert slugs(body) == [in_description["slug"], in_body["slug"], in_title["slug"]]
    assert all(set(article) == LIST_KEYS for article in body["articles"])


async def test_search_orders_by_publication_not_creation_and_pages_with_limit_and_offset(client):
    jake = await register(client)
    hours = [5, 1, 4, 2, 3]  # created in this order, published at these times ago
    created = [
        await published(client, jake, h, title=f"Kestrel notes {n}") for n, h in enumerate(hours)
    ]
    newest_first = [created[n]["slug"] for n in sorted(range(5), key=lambda n: hours[n])]

    everything = await search(client, q="kestrel")
    page = await search(client, q="kestrel", limit=2, offset=1)
    last = await search(client, q="kestrel", limit=2, offset=4)
    beyond = await search(client, q="kestrel", offset=10)

    assert (slugs(everything), everything["articlesCount"]) == (newest_first, 5)
    assert (slugs(page), page["articlesCount"]) == (newest_first[1:3], 5)
    assert (slugs(last), last["articlesCount"]) == (newest_first[4:], 5)
    assert (slugs(beyond), beyond["articlesCount"]) == ([], 5)


async def test_search_ignores_white_space_around_the_query(client):
    jake = await register(client)
    article = await published(client, jake, 1, title="Osprey sightings")
    body = await search(client, q="  osprey  ")
    assert (slugs(body), body["articlesCount"]) == ([article["slug"]], 1)


async def test_search_without_matches_is_empty_with_empty_facets(client):
    jake = await register(client)
    await published(client, jake, 1, title="Heron", tagList=["birds"])
    body = await search(client, q="albatross")
    assert body == {"articles": [], "articlesCount": 0, "nextCursor": None, "facets": NO_FACETS}


async def test_search_on_an_empty_database_is_empty(client):
    body = await search(client, q="anything")
    assert body == {"articles": [], "articlesCount": 0, "nextCursor": None, "facets": NO_FACETS}


# --- facets and filters -----------------------------------------------------------------------


async def make_authors(client) -> tuple[Account, Account, Account]:
    """Three authors whose names do not sort in registration order."""
    return await register(client, "zoe"), await register(client, "amy"), await register(client, "bob")


async def test_search_facets_count_every_match_not_just_the_page(client):
    zoe, amy, bob = await make_authors(client)
    await published(client, zoe, 1, title="Falcon one", tagList=["birds", "speed"])
    await published(client, zoe, 2, title="Falcon two", tagList=["birds"])
    await published(client, amy, 3, title="Falcon three", tagList=["speed", "birds"])
    await published(client, amy, 4, title="Falcon four", tagList=["art"])
    await published(client, bob, 5, title="Falcon five", tagList=["zoo"])
    await published(client, bob, 6, title="Owl", tagList=["birds", "art", "night"])  # no match

    body = await search(client, q="falcon", limit=1)

    assert body["articlesCount"] == 5 and len(body["articles"]) == 1
    assert body["facets"] == {
        "tags": [
            {"tag": "birds", "count": 3},
            {"tag": "speed", "count": 2},
            {"tag": "art", "count": 1},
            {"tag": "zoo", "count": 1},
        ],
        "authors": [
            {"username": "amy", "count": 2},
            {"username": "zoe", "count": 2},
            {"username": "bob", "count": 1},
        ],
    }


async def test_search_tag_filter_narrows_results_and_facets(client):
    zoe, amy, bob = await make_authors(client)
    one = await published(client, zoe, 1, title="Falcon one", tagList=["birds", "speed"])
    await published(client, zoe, 2, title="Falcon two", tagList=["art"])
    three = await published(client, amy, 3, title="Falcon three", tagList=["speed"])
    await published(client, bob, 4, title="Sparrow", tagList=["speed"])  # tag but no match

    body = await search(client, q="falcon", tag="speed")

    assert (slugs(body), body["articlesCount"]) == ([one["slug"], three["slug"]], 2)
    assert body["facets"] == {
        "tags": [{"tag": "speed", "count": 2}, {"tag": "birds", "count": 1}],
        "authors": [{"username": "amy", "count": 1}, {"username": "zoe", "count": 1}],
    }


async def test_search_author_filter_narrows_results_and_facets(client):
    zoe, amy, _ = await make_authors(client)
    await published(client, zoe, 1, title="Falcon one", tagList=["birds"])
    two = await published(client, amy, 2, title="Falcon two", tagList=["art", "birds"])
    three = await published(client, amy, 3, title="Falcon three", tagList=["art"])
    await published(client, amy, 4, title="Crow", tagList=["art"])  # amy's, but no match

    body = await search(client, q="falcon", author="amy")

    assert (slugs(body), body["articlesCount"]) == ([two["slug"], three["slug"]], 2)
    assert body["facets"] == {
        "tags": [{"tag": "art", "count": 2}, {"tag": "birds", "count": 1}],
        "authors": [{"username": "amy", "count": 2}],
    }


async def test_search_tag_and_author_filters_combine(client):
    zoe, amy, _ = await make_authors(client)
    await published(client, zoe, 1, title="Falcon one", tagList=["art"])
    await published(client, amy, 2, title="Falcon two", tagList=["birds"])
    three = await published(client, amy, 3, title="Falcon three", tagList=["art"])

    body = await search(client, q="falcon", author="amy", tag="art")

    assert (slugs(body), body["articlesCount"]) == ([three["slug"]], 1)
    assert body["facets"] == {
        "tags": [{"tag": "art", "count": 1}], "authors": [{"username": "amy", "count": 1}]
    }


@pytest.mark.parametrize("params", [{"author": "nobody"}, {"tag": "nothing"}])
async def test_search_with_an_unknown_author_or_tag_is_empty_with_empty_facets(client, params):
    zoe = await register(client, "zoe")
    await published(client, zoe, 1, title="Falcon", tagList=["birds"])
    body = await search(client, q="falcon", **params)
    assert body == {"articles": [], "articlesCount": 0, "nextCursor": None, "facets": NO_FACETS}


async def test_search_shows_the_viewers_favorites_and_follows(client):
    zoe, amy, _ = await make_authors(client)
    viewer = await register(client)
    followed = await published(client, zoe, 1, title="Falcon by zoe")
    liked = await published(client, amy, 2, title="Falcon by amy")
    await follow(client, viewer, "zoe")
    await favorite(client, viewer, liked["slug"])

    def flags(body: dict) -> list[tuple[str, bool, bool, int]]:
        return [
            (a["slug"], a["favorited"], a["author"]["following"], a["favoritesCount"])
            for a in body["articles"]
        ]

    assert flags(await search(client, viewer, q="falcon")) == [
        (followed["slug"], False, True, 0), (liked["slug"], True, False, 1),
    ]  # fmt: skip
    assert flags(await search(client, q="falcon")) == [
        (followed["slug"], False, False, 0), (liked["slug"], False, False, 1),
    ]  # fmt: skip
    assert flags(await search(client, zoe, q="falcon")) == [
        (followed["slug"], False, False, 0), (liked["slug"], False, False, 1),
    ]  # fmt: skip


# --- visibility -------------------------------------------------------------------------------


async def test_drafts_and_scheduled_articles_never_appear_even_to_their_author(client):
    jake = await register(client, "jake")
    live = await published(client, jake, 1, title="Falcon live", tagList=["shown"])
    await create_article(client, jake, title="Falcon draft", tagList=["hidden"], status="draft")
    await create_article(client, jake, title="Falcon later", tagList=["hidden"], publishAt=FUTURE)
    expected = {
        "articlesCount": 1,
        "facets": {"tags": [{"tag": "shown", "count": 1}], "authors": [{"username": "jake", "count": 1}]},
    }  # fmt: skip

    for viewer in (None, jake):
        for params in ({}, {"author": "jake"}):
            body = await search(client, viewer, q="falcon", **params)
            assert slugs(body) == [live["slug"]]
            assert {k: body[k] for k in expected} == expected
        hidden = await search(client, viewer, q="falcon", tag="hidden")
        assert hidden == {"articles": [], "articlesCount": 0, "nextCursor": None, "facets": NO_FACETS}


async def test_a_scheduled_article_appears_once_its_time_has_come(client):
    jake = await register(client)
    article = await create_article(client, jake, title="Falcon soon", publishAt=FUTURE)
    assert (await search(client, q="falcon"))["articlesCount"] == 0

    await collection(Article).update_one(
        {"slug": article["slug"]}, {"$set": {"published_at": hours_ago(0.01)}}
    )

    assert slugs(await search(client, q="falcon")) == [article["slug"]]


# --- literal text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "matching"),
    [
        (".*", ["Glob .* patterns"]),
        ("(", ["Smile (please)"]),
        ("a+b", ["Sum a+b here"]),
        ("[x]", ["Box [x] ticked"]),
        ("\\d", ["Escape \\d digits"]),
        ("^Sum", []),
        ("here$", []),
        ("|", []),
    ],
)
@SUBSTRING
async def test_regex_characters_in_the_query_are_matched_literally(client, q, matching):
    jake = await register(client)
    titles = ["Glob .* patterns", "Smile (please)", "Sum a+b here", "Summing aab here",
              "Box [x] ticked", "Escape \\d digits", "Digits 42"]  # fmt: skip
    for n, title in enumerate(titles):
        await published(client, jake, n + 1, title=title, description="Plain", body="Plain text")

    body = await search(client, q=q)

    assert [article["title"] for article in body["articles"]] == matching
    assert body["articlesCount"] == len(matching)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}],
    ids=["missing", "empty", "white-space", "too-long"],
)
async def test_search_refuses_a_missing_blank_or_long_query_with_422_naming_q(client, params):
    response = await client.get("/api/search", params=params)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["q"]


@SUBSTRING
async def test_search_accepts_a_query_of_200_characters(client):
    jake = await register(client)
    article = await published(client, jake, 1, body="y" + "x" * 200 + "y")
    body = await search(client, q="x" * 200)
    assert slugs(body) == [article["slug"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"),
     ({"offset": -1}, "offset"), ({"offset": 10_001}, "offset"),
     ({"tag": "t" * 65}, "tag"), ({"author": "a" * 65}, "author")],
)  # fmt: skip
async def test_search_refuses_bad_paging_or_filters_with_422_naming_the_field(
    client, params, field
):
    response = await client.get("/api/search", params={"q": "falcon", **params})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


@pytest.mark.parametrize("limit", [1, 100])
async def test_search_accepts_the_limit_bounds(client, limit):
    jake = await register(client)
    await published(client, jake, 1, title="Falcon a")
    await published(client, jake, 2, title="Falcon b")
    body = await search(client, q="falcon", limit=limit)
    assert (len(body["articles"]), body["articlesCount"]) == (min(limit, 2), 2)


async def test_search_considers_at_most_the_best_candidates(client, monkeypatch):
    # MongoDB sorts by relevance keeping only the top SEARCH_CANDIDATES (a bounded top-k sort);
    # count, pages and facets all come from them.
    monkeypatch.setattr("service.search.queries.SEARCH_CANDIDATES", 3)
    jake = await register(client)
    for n in range(5):
        await published(client, jake, n + 1, title=f"Falcon {n}", tagList=["birds"])
    body = await search(client, q="falcon")
    assert body["articlesCount"] == 3 and len(body["articles"]) == 3
    assert body["facets"]["tags"] == [{"tag": "birds", "count": 3}]
    assert body["nextCursor"] is None
