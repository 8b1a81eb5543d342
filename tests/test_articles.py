"""Articles: create, read, update, delete, lists with filters and pagination, favorites."""

import asyncio
import re
from datetime import UTC, datetime

import pytest

from models.common import utc_now_after
from tests.factories import create_article, favorite, follow, register

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LIST_KEYS = {
    "slug", "title", "description", "tagList", "createdAt", "updatedAt",
    "favorited", "favoritesCount", "author",
    # Folio's additive extensions:
    "status", "publishAt", "publishedAt", "readingTimeMinutes", "meta", "coverImage", "canonicalUrl",
}  # fmt: skip


# --- create ---------------------------------------------------------------------------------


async def test_user_can_create_an_article_and_gets_it_back_with_201(client):
    jake = await register(client)
    response = await client.post(
        "/api/articles",
        json={"article": {"title": "How to train your dragon", "description": "Ever wonder how?",
                          "body": "Very carefully.", "tagList": ["training", "dragons"]}},
        headers=jake.headers,
    )
    assert response.status_code == 201
    article = response.json()["article"]
    assert set(article) == LIST_KEYS | {"body", "bodyHtml"}
    assert article["slug"] == "how-to-train-your-dragon"
    assert article["body"] == "Very carefully."
    assert article["tagList"] == ["dragons", "training"]
    assert article["favorited"] is False and article["favoritesCount"] == 0
    assert article["author"] == {"username": jake.username, "bio": None, "image": None, "following": False}
    assert TIMESTAMP.match(article["createdAt"]) and article["createdAt"] == article["updatedAt"]


async def test_article_without_tag_list_has_an_empty_one(client):
    jake = await register(client)
    response = await client.post(
        "/api/articles",
        json={"article": {"title": "T", "description": "D", "body": "B"}},
        headers=jake.headers,
    )
    assert response.status_code == 201
    assert response.json()["article"]["tagList"] == []


async def test_anonymous_user_can_not_create_an_article(client):
    response = await client.post("/api/articles", json={"article": {"title": "T", "description": "D", "body": "B"}})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}
    assert (await client.get("/api/articles")).json()["articlesCount"] == 0


@pytest.mark.parametrize(
    ("article", "field"),
    [
        ({"description": "D", "body": "B"}, "title"),
        ({"title": "   ", "description": "D", "body": "B"}, "title"),
        ({"title": "T", "body": "B"}, "description"),
        ({"title": "T", "description": "D", "body": ""}, "body"),
        ({"title": "T", "description": "D", "body": "B", "tagList": "dragons"}, "tagList"),
        ({"title": {"$gt": ""}, "description": "D", "body": "B"}, "title"),
        ({"title": "x" * 201, "description": "D", "body": "B"}, "title"),
        ({"title": "T", "description": "D", "body": "B", "tagList": [f"t{i}" for i in range(21)]}, "tagList"),
    ],
)
async def test_invalid_article_is_refused_with_422_naming_the_field(client, article, field):
    jake = await register(client)
    response = await client.post("/api/articles", json={"article": article}, headers=jake.headers)
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert (await client.get("/api/articles")).json()["articlesCount"] == 0


async def test_missing_article_envelope_is_refused(client):
    jake = await register(client)
    response = await client.post("/api/articles", json={"title": "T"}, headers=jake.headers)
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "article": ["can't be blank"], "title": ["is not a known field"]
    }


async def test_same_title_gives_distinct_slugs(client):
    jake = await register(client)
    first = await create_article(client, jake, title="Same title")
    second = await create_article(client, jake, title="Same title")
    third = await create_article(client, jake, title="Same Title!")
    assert first["slug"] == "same-title"
    assert re.fullmatch(r"same-title-[0-9a-f]{6}", second["slug"])
    assert len({first["slug"], second["slug"], third["slug"]}) == 3


async def test_concurrent_articles_with_one_title_all_get_distinct_slugs(client):
    jake = await register(client)
    responses = await asyncio.gather(*(
        client.post("/api/articles", json={"article": {"title": "Race", "description": "D", "body": "B"}},
                    headers=jake.headers)
        for _ in range(20)
    ))
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["article"]["slug"] for r in responses}) == 20


async def test_title_without_slug_characters_still_gets_a_slug(client):
    jake = await register(client)
    article = await create_article(client, jake, title="!!!")
    assert article["slug"] == "article"


async def test_unicode_title_is_transliterated_into_the_slug(client):
    jake = await register(client)
    article = await create_article(client, jake, title="Crème brûlée für alle")
    assert article["slug"] == "creme-brulee-fur-alle"


# --- read -----------------------------------------------------------------------------------


async def test_anyone_can_read_an_article_by_slug(client):
    jake = await register(client)
    created = await create_article(client, jake)
    response = await client.get(f"/api/articles/{created['slug']}")
    assert response.status_code == 200
    assert response.json()["article"] == created


async def test_unknown_slug_answers_404(client):
    response = await client.get("/api/articles/no-such-article")
    assert response.status_code == 404
    assert response.json() == {"errors": {"article": ["not found"]}}


async def test_single_article_shows_viewer_flags(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    await follow(client, anna, jake.username)
    await favorite(client, anna, article["slug"])
    seen_by_anna = (await client.get(f"/api/articles/{article['slug']}", headers=anna.headers)).json()
    seen_by_jake = (await client.get(f"/api/articles/{article['slug']}", headers=jake.headers)).json()
    anonymous = (await client.get(f"/api/articles/{article['slug']}")).json()
    assert (seen_by_anna["article"]["favorited"], seen_by_anna["article"]["author"]["following"]) == (True, True)
    assert (seen_by_jake["article"]["favorited"], seen_by_jake["article"]["author"]["following"]) == (False, False)
    assert (anonymous["article"]["favorited"], anonymous["article"]["author"]["following"]) == (False, False)
    assert anonymous["article"]["favoritesCount"] == 1


async def test_optional_auth_endpoint_refuses_an_invalid_token(client):
    response = await client.get("/api/articles", headers={"Authorization": "Token not-a-jwt"})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is invalid"]}}


async def test_bearer_scheme_is_accepted_too(client):
    jake = await register(client)
    article = await create_article(client, jake)
    await favorite(client, jake, article["slug"])
    response = await client.get("/api/articles", headers={"Authorization": f"Bearer {jake.token}"})
    assert response.status_code == 200
    assert response.json()["articles"][0]["favorited"] is True


# --- lists ----------------------------------------------------------------------------------


async def test_list_is_newest_first_without_bodies_and_counts_all_matches(client):
    jake = await register(client)
    slugs = [(await create_article(client, jake))["slug"] for _ in range(5)]
    response = await client.get("/api/articles", params={"limit": 2, "offset": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["articlesCount"] == 5
    assert [a["slug"] for a in body["articles"]] == [slugs[3], slugs[2]]
    assert all(set(a) == LIST_KEYS for a in body["articles"])


async def test_list_pages_cover_every_article_exactly_once(client):
    jake = await register(client)
    slugs = {(await create_article(client, jake))["slug"] for _ in range(7)}
    seen = []
    for offset in range(0, 9, 3):
        page = (await client.get("/api/articles", params={"limit": 3, "offset": offset})).json()
        seen += [a["slug"] for a in page["articles"]]
    assert sorted(seen) == sorted(slugs)


async def test_offset_past_the_end_gives_an_empty_page_with_the_total(client):
    jake = await register(client)
    await create_article(client, jake)
    body = (await client.get("/api/articles", params={"offset": 50})).json()
    assert body == {"articles": [], "articlesCount": 1, "nextCursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"),
     ({"offset": -1}, "offset"), ({"offset": 10_001}, "offset")],
)
async def test_bad_pagination_answers_422(client, params, field):
    response = await client.get("/api/articles", params=params)
    assert response.status_code == 422
    assert field in response.json()["errors"]


async def test_list_filters_by_tag(client):
    jake = await register(client)
    dragons = await create_article(client, jake, tagList=["dragons", "training"])
    await create_article(client, jake, tagList=["cats"])
    body = (await client.get("/api/articles", params={"tag": "dragons"})).json()
    assert body["articlesCount"] == 1
    assert body["articles"][0]["slug"] == dragons["slug"]
    assert body["articles"][0]["tagList"] == ["dragons", "training"]


async def test_list_filters_by_author(client):
    jake, anna = await register(client), await register(client)
    mine = await create_article(client, jake)
    await create_article(client, anna)
    body = (await client.get("/api/articles", params={"author": jake.username})).json()
    assert [a["slug"] for a in body["articles"]] == [mine["slug"]]
    assert body["articlesCount"] == 1


async def test_list_filters_by_who_favorited(client):
    jake, anna = await register(client), await register(client)
    liked = await create_article(client, jake)
    await create_article(client, jake)
    await favorite(client, anna, liked["slug"])
    body = (await client.get("/api/articles", params={"favorited": anna.username})).json()
    assert body["articlesCount"] == 1
    assert body["articles"][0]["slug"] == liked["slug"]
    assert body["articles"][0]["favoritesCount"] == 1


async def test_list_combines_filters(client):
    jake, anna = await register(client), await register(client)
    wanted = await create_article(client, jake, tagList=["x"])
    await create_article(client, jake, tagList=["y"])
    other = await create_article(client, anna, tagList=["x"])
    for slug in (wanted["slug"], other["slug"]):
        await favorite(client, anna, slug)
    body = (await client.get(
        "/api/articles", params={"tag": "x", "author": jake.username, "favorited": anna.username}
    )).json()
    assert [a["slug"] for a in body["articles"]] == [wanted["slug"]]
    assert body["articlesCount"] == 1


@pytest.mark.parametrize("param", ["author", "favorited", "tag"])
async def test_filter_matching_nothing_gives_an_empty_list_not_404(client, param):
    jake = await register(client)
    await create_article(client, jake, tagList=["x"])
    response = await client.get("/api/articles", params={param: "johnjacob"})
    assert response.status_code == 200
    assert response.json() == {"articles": [], "articlesCount": 0, "nextCursor": None}


async def test_filters_are_literal_text_not_operators(client):
    jake = await register(client)
    await create_article(client, jake, tagList=["x"])
    for value in ('{"$ne": null}', ".*", "$where"):
        body = (await client.get("/api/articles", params={"tag": value, "author": value})).json()
        assert body == {"articles": [], "articlesCount": 0, "nextCursor": None}


async def test_list_flags_differ_per_viewer(client):
    jake, anna, bob = await register(client), await register(client), await register(client)
    article = await create_article(client, jake)
    await favorite(client, anna, article["slug"])
    await follow(client, anna, jake.username)
    as_anna = (await client.get("/api/articles", headers=anna.headers)).json()["articles"][0]
    as_bob = (await client.get("/api/articles", headers=bob.headers)).json()["articles"][0]
    assert (as_anna["favorited"], as_anna["author"]["following"]) == (True, True)
    assert (as_bob["favorited"], as_bob["author"]["following"]) == (False, False)
    assert as_anna["favoritesCount"] == as_bob["favoritesCount"] == 1


# --- update ---------------------------------------------------------------------------------


async def test_author_can_update_the_body_and_keeps_the_slug(client):
    jake = await register(client)
    article = await create_article(client, jake)
    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {"body": "With two hands"}},
        headers=jake.headers,
    )
    assert response.status_code == 200
    updated = response.json()["article"]
    assert updated["body"] == "With two hands"
    assert updated["slug"] == article["slug"]
    assert updated["title"] == article["title"]
    assert updated["createdAt"] == article["createdAt"]
    assert updated["updatedAt"] >= article["updatedAt"]


async def test_new_title_moves_the_slug(client):
    jake = await register(client)
    article = await create_article(client, jake, title="Old title")
    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {"title": "New title"}},
        headers=jake.headers,
    )
    assert response.json()["article"]["slug"] == "new-title"
    assert (await client.get("/api/articles/old-title")).status_code == 404
    assert (await client.get("/api/articles/new-title")).status_code == 200


async def test_new_title_colliding_with_another_slug_gets_a_suffix(client):
    jake = await register(client)
    await create_article(client, jake, title="Taken")
    article = await create_article(client, jake, title="Free")
    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {"title": "Taken"}}, headers=jake.headers
    )
    assert response.status_code == 200
    assert re.fullmatch(r"taken-[0-9a-f]{6}", response.json()["article"]["slug"])


async def test_update_can_replace_tags(client):
    jake = await register(client)
    article = await create_article(client, jake, tagList=["a"])
    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {"tagList": ["z", "b"]}}, headers=jake.headers
    )
    assert response.json()["article"]["tagList"] == ["b", "z"]


async def test_only_the_author_can_update_an_article(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {"body": "mine now"}}, headers=anna.headers
    )
    assert response.status_code == 403
    assert response.json() == {"errors": {"article": ["forbidden"]}}
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["body"] == article["body"]


async def test_update_needs_a_token_then_an_existing_article(client):
    jake = await register(client)
    assert (await client.put("/api/articles/nope", json={"article": {"body": "x"}})).status_code == 401
    response = await client.put("/api/articles/nope", json={"article": {"body": "x"}}, headers=jake.headers)
    assert response.status_code == 404


async def test_update_with_nothing_to_change_answers_422(client):
    jake = await register(client)
    article = await create_article(client, jake)
    response = await client.put(f"/api/articles/{article['slug']}", json={"article": {}}, headers=jake.headers)
    assert response.status_code == 422
    assert response.json() == {"errors": {"article": ["at least one field is required"]}}


async def test_update_with_a_blank_title_answers_422_and_changes_nothing(client):
    jake = await register(client)
    article = await create_article(client, jake)
    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {"title": " ", "body": "new"}},
        headers=jake.headers,
    )
    assert response.status_code == 422
    assert "title" in response.json()["errors"]
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["body"] == article["body"]


# --- delete ---------------------------------------------------------------------------------


async def test_author_can_delete_an_article(client):
    jake = await register(client)
    article = await create_article(client, jake)
    response = await client.delete(f"/api/articles/{article['slug']}", headers=jake.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 404


async def test_only_the_author_can_delete_an_article(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    response = await client.delete(f"/api/articles/{article['slug']}", headers=anna.headers)
    assert response.status_code == 403
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200


async def test_delete_needs_a_token_and_an_existing_article(client):
    jake = await register(client)
    article = await create_article(client, jake)
    assert (await client.delete(f"/api/articles/{article['slug']}")).status_code == 401
    assert (await client.delete("/api/articles/nope", headers=jake.headers)).status_code == 404


async def test_deleting_an_article_removes_its_favorites(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    await favorite(client, anna, article["slug"])
    await client.delete(f"/api/articles/{article['slug']}", headers=jake.headers)
    body = (await client.get("/api/articles", params={"favorited": anna.username})).json()
    assert body == {"articles": [], "articlesCount": 0, "nextCursor": None}


# --- favorites ------------------------------------------------------------------------------


async def test_favorite_and_unfavorite_move_the_count(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    favored = await favorite(client, anna, article["slug"])
    assert (favored["favorited"], favored["favoritesCount"]) == (True, 1)
    response = await client.delete(f"/api/articles/{article['slug']}/favorite", headers=anna.headers)
    assert response.status_code == 200
    unfavored = response.json()["article"]
    assert (unfavored["favorited"], unfavored["favoritesCount"]) == (False, 0)


async def test_favoriting_twice_counts_once_and_unfavoriting_twice_never_goes_negative(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    await favorite(client, anna, article["slug"])
    again = await favorite(client, anna, article["slug"])
    assert again["favoritesCount"] == 1
    for _ in range(2):
        response = await client.delete(f"/api/articles/{article['slug']}/favorite", headers=anna.headers)
        assert response.json()["article"]["favoritesCount"] == 0


async def test_concurrent_favorites_are_counted_exactly(client):
    jake = await register(client)
    article = await create_article(client, jake)
    fans = [await register(client) for _ in range(12)]
    await asyncio.gather(*(favorite(client, fan, article["slug"]) for fan in fans))
    await asyncio.gather(*(favorite(client, fan, article["slug"]) for fan in fans[:6]))
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["favoritesCount"] == 12
    await asyncio.gather(*(
        client.delete(f"/api/articles/{article['slug']}/favorite", headers=fan.headers)
        for fan in fans[:5] * 2
    ))
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["favoritesCount"] == 7
    listed = (await client.get("/api/articles", params={"favorited": fans[-1].username})).json()
    assert listed["articlesCount"] == 1


async def test_favorite_shows_whether_the_viewer_follows_the_author(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    await follow(client, anna, jake.username)
    assert (await favorite(client, anna, article["slug"]))["author"]["following"] is True


async def test_favorite_needs_a_token_and_an_existing_article(client):
    jake = await register(client)
    article = await create_article(client, jake)
    assert (await client.post(f"/api/articles/{article['slug']}/favorite")).status_code == 401
    assert (await client.delete(f"/api/articles/{article['slug']}/favorite")).status_code == 401
    assert (await client.post("/api/articles/nope/favorite", headers=jake.headers)).status_code == 404
    assert (await client.delete("/api/articles/nope/favorite", headers=jake.headers)).status_code == 404
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["favoritesCount"] == 0


async def test_an_update_in_the_same_millisecond_still_moves_updated_at(client, monkeypatch):
    # RealWorld 2.0's suite updates an article milliseconds after creating it and expects
    # createdAt unchanged and updatedAt different; a frozen clock makes that instant the same.
    frozen = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    monkeypatch.setattr("models.common.utc_now", lambda: frozen)
    monkeypatch.setattr("service.articles.writes.utc_now", lambda: frozen)
    jake = await register(client)
    created = await create_article(client, jake)
    url = f"/api/articles/{created['slug']}"
    stamps = [created["updatedAt"]]
    for body in ("one", "two"):
        response = await client.put(url, json={"article": {"body": body}}, headers=jake.headers)
        assert response.json()["article"]["createdAt"] == created["createdAt"]
        stamps.append(response.json()["article"]["updatedAt"])
    assert stamps == [
        "2026-05-01T12:00:00.123Z", "2026-05-01T12:00:00.124Z", "2026-05-01T12:00:00.125Z"
    ]


def test_utc_now_after_reads_naive_driver_dates_as_utc():
    later = utc_now_after(datetime(2999, 1, 1, 0, 0, 0))
    assert later == datetime(2999, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    assert utc_now_after(None).tzinfo is UTC


async def test_an_article_titled_like_another_route_gets_a_slug_it_can_be_read_by(client):
    # `GET /api/articles/feed` is the feed: an article with the slug "feed" could never be read.
    jake = await register(client)
    article = await create_article(client, jake, title="Feed")
    assert article["slug"].startswith("feed-") and article["slug"] != "feed"
    found = await client.get(f"/api/articles/{article['slug']}")
    assert found.status_code == 200 and found.json()["article"]["title"] == "Feed"
