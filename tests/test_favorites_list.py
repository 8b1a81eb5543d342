"""`GET /api/articles?favorited=<user>`: driven from the user's favorite edges, newest first.

Expectations hold on every engine unless a test says otherwise.
"""

import pytest

from service.articles import reads as article_reads
from service.favorites import queries as favorite_queries
from tests.factories import create_article, favorite, register


async def favorites_of(client, username: str, **params) -> dict:
    """One page of the user's favorites list, as JSON."""
    response = await client.get("/api/articles", params={"favorited": username, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_favorites_are_listed_most_recently_favorited_first(client):
    jake, anna = await register(client), await register(client)
    older, newer = await create_article(client, jake), await create_article(client, jake)
    await favorite(client, anna, newer["slug"])
    await favorite(client, anna, older["slug"])
    body = await favorites_of(client, anna.username)
    assert [a["slug"] for a in body["articles"]] == [older["slug"], newer["slug"]]
    assert body["articlesCount"] == 2


async def test_favoriting_and_unfavoriting_show_in_the_list_and_its_count_at_once(client):
    # The count is cached per user; the user's own favorite writes must forget it.
    jake, anna = await register(client), await register(client)
    first, second = await create_article(client, jake), await create_article(client, jake)
    await favorite(client, anna, first["slug"])
    assert (await favorites_of(client, anna.username))["articlesCount"] == 1
    await favorite(client, anna, second["slug"])
    assert (await favorites_of(client, anna.username))["articlesCount"] == 2
    await client.delete(f"/api/articles/{second['slug']}/favorite", headers=anna.headers)
    body = await favorites_of(client, anna.username)
    assert body["articlesCount"] == 1 and [a["slug"] for a in body["articles"]] == [first["slug"]]


async def test_cursor_and_offset_pages_walk_the_favorites_without_gaps_or_repeats(client):
    jake, anna = await register(client), await register(client)
    slugs = [(await create_article(client, jake))["slug"] for _ in range(7)]
    for slug in slugs:
        await favorite(client, anna, slug)
    newest_first = list(reversed(slugs))
    walked, cursor = [], None
    while True:
        body = await favorites_of(client, anna.username, limit=3, **({"cursor": cursor} if cursor else {}))
        walked += [a["slug"] for a in body["articles"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert walked == newest_first
    by_offset = [
        a["slug"]
        for offset in (0, 3, 6)
        for a in (await favorites_of(client, anna.username, limit=3, offset=offset))["articles"]
    ]
    assert by_offset == newest_first


async def test_an_unpublished_favorite_leaves_a_short_page_whose_cursor_still_moves_on(client):
    jake, anna = await register(client), await register(client)
    slugs = [(await create_article(client, jake))["slug"] for _ in range(4)]
    for slug in slugs:
        await favorite(client, anna, slug)
    await client.put(f"/api/articles/{slugs[2]}", json={"article": {"status": "draft"}},
                     headers=jake.headers)
    first = await favorites_of(client, anna.username, limit=2)
    assert [a["slug"] for a in first["articles"]] == [slugs[3]]  # slugs[2] is a draft now
    assert first["articlesCount"] == 4  # favorites, unpublished ones included (documented)
    rest = await favorites_of(client, anna.username, limit=2, cursor=first["nextCursor"])
    assert [a["slug"] for a in rest["articles"]] == [slugs[1], slugs[0]]


async def test_favorites_with_other_filters_are_exact_and_ordered_the_same(client):
    jake, anna, bob = [await register(client) for _ in range(3)]
    tagged_old = await create_article(client, jake, tagList=["x"])
    untagged = await create_article(client, jake, tagList=["y"])
    tagged_new = await create_article(client, jake, tagList=["x"])
    by_bob = await create_article(client, bob, tagList=["x"])
    for article in (tagged_new, untagged, by_bob, tagged_old):
        await favorite(client, anna, article["slug"])
    body = await favorites_of(client, anna.username, tag="x", author=jake.username)
    assert [a["slug"] for a in body["articles"]] == [tagged_old["slug"], tagged_new["slug"]]
    assert body["articlesCount"] == 2
    second = await favorites_of(client, anna.username, tag="x", limit=2, offset=2)
    assert [a["slug"] for a in second["articles"]] == [tagged_new["slug"]]
    assert second["articlesCount"] == 3


async def test_other_filters_on_more_favorites_than_the_cap_answer_422(client, monkeypatch):
    monkeypatch.setattr(article_reads, "FAVORITES_FILTER_CAP", 2)
    jake, anna = await register(client), await register(client)
    for _ in range(3):
        await favorite(client, anna, (await create_article(client, jake, tagList=["x"]))["slug"])
    response = await client.get("/api/articles", params={"favorited": anna.username, "tag": "x"})
    assert response.status_code == 422
    assert "more than 2 favorites" in response.json()["errors"]["favorited"][0]
    alone = await favorites_of(client, anna.username)  # alone, any number is fine
    assert alone["articlesCount"] == 3 and len(alone["articles"]) == 3


@pytest.mark.parametrize("params", [{}, {"tag": "x"}])
async def test_the_viewer_flags_are_the_viewers_not_the_listed_users(client, params):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake, tagList=["x"])
    await favorite(client, anna, article["slug"])
    response = await client.get(
        "/api/articles", params={"favorited": anna.username, **params}, headers=jake.headers
    )
    [listed] = response.json()["articles"]
    assert listed["favorited"] is False and listed["favoritesCount"] == 1
    mine = await client.get(
        "/api/articles", params={"favorited": anna.username, **params}, headers=anna.headers
    )
    assert mine.json()["articles"][0]["favorited"] is True


async def test_a_tampered_favorites_cursor_answers_422(client):
    anna = await register(client)
    response = await client.get(
        "/api/articles", params={"favorited": anna.username, "cursor": "not-a-cursor"}
    )
    assert response.status_code == 422


async def test_a_count_computed_across_a_favorite_is_not_kept(app, client, monkeypatch):
    # A count read before a write and stored after that write's cache clearing would hide
    # the write for 10 s; the cache refuses an answer computed across a clearing.
    from models.common import utc_now

    jake, anna = await register(client), await register(client)
    first, second = await create_article(client, jake), await create_article(client, jake)
    await favorite(client, anna, first["slug"])
    database = app.state.engine.database
    anna_id = (await database.users.find_one({"username": anna.username}))["_id"]
    second_id = (await database.articles.find_one({"slug": second["slug"]}))["_id"]
    favorites = favorite_queries.collection(favorite_queries.Favorite)
    counting = favorites.count_documents

    fired = []

    async def count_then_favorite(*args, **kwargs):
        total = await counting(*args, **kwargs)  # 1: read before the write below
        if fired:  # once: later counts are plain
            return total
        fired.append(True)
        # A favorite by another request lands now, and clears the cache as it does.
        await database.favorites.insert_one(
            {"user_id": anna_id, "article_id": second_id, "created_at": utc_now()})
        await article_reads.counts().forget(article_reads.favorites_key(anna_id))
        return total

    # One wrapped collection object, undone afterwards (on a server it is the driver's own).
    monkeypatch.setattr(favorites, "count_documents", count_then_favorite)
    original = favorite_queries.collection

    def racing(model):
        return favorites if model is favorite_queries.Favorite else original(model)

    monkeypatch.setattr(favorite_queries, "collection", racing)
    assert (await favorites_of(client, anna.username))["articlesCount"] == 1
    monkeypatch.setattr(favorite_queries, "collection", original)
    assert (await favorites_of(client, anna.username))["articlesCount"] == 2
