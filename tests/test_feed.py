"""The feed: articles by the authors the viewer follows, newest first."""

from tests.factories import create_article, favorite, follow, register


async def test_feed_lists_followed_authors_newest_first(client):
    reader, jake, anna, stranger = [await register(client) for _ in range(4)]
    first = await create_article(client, jake)
    await create_article(client, stranger)
    second = await create_article(client, anna)
    third = await create_article(client, jake)
    await follow(client, reader, jake.username)
    await follow(client, reader, anna.username)
    body = (await client.get("/api/articles/feed", headers=reader.headers)).json()
    assert [a["slug"] for a in body["articles"]] == [third["slug"], second["slug"], first["slug"]]
    assert body["articlesCount"] == 3
    assert all(a["author"]["following"] for a in body["articles"])
    assert all("body" not in a for a in body["articles"])


async def test_feed_is_empty_when_following_nobody(client):
    reader, jake = await register(client), await register(client)
    await create_article(client, jake)
    response = await client.get("/api/articles/feed", headers=reader.headers)
    assert response.status_code == 200
    assert response.json() == {"articles": [], "articlesCount": 0, "nextCursor": None}


async def test_feed_paginates_and_counts_all(client):
    reader, jake = await register(client), await register(client)
    slugs = [(await create_article(client, jake))["slug"] for _ in range(5)]
    await follow(client, reader, jake.username)
    body = (await client.get("/api/articles/feed", params={"limit": 2, "offset": 2},
                             headers=reader.headers)).json()
    assert [a["slug"] for a in body["articles"]] == [slugs[2], slugs[1]]
    assert body["articlesCount"] == 5


async def test_feed_shows_the_viewers_favorites(client):
    reader, jake = await register(client), await register(client)
    liked = await create_article(client, jake)
    await create_article(client, jake)
    await follow(client, reader, jake.username)
    await favorite(client, reader, liked["slug"])
    articles = (await client.get("/api/articles/feed", headers=reader.headers)).json()["articles"]
    assert {a["slug"]: a["favorited"] for a in articles}[liked["slug"]] is True
    assert sum(a["favorited"] for a in articles) == 1


async def test_unfollowing_removes_an_author_from_the_feed(client):
    reader, jake = await register(client), await register(client)
    await create_article(client, jake)
    await follow(client, reader, jake.username)
    await client.delete(f"/api/profiles/{jake.username}/follow", headers=reader.headers)
    body = (await client.get("/api/articles/feed", headers=reader.headers)).json()
    assert body == {"articles": [], "articlesCount": 0, "nextCursor": None}


async def test_feed_needs_a_token(client):
    response = await client.get("/api/articles/feed")
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


async def test_feed_rejects_bad_pagination(client):
    reader = await register(client)
    response = await client.get("/api/articles/feed", params={"limit": 1000}, headers=reader.headers)
    assert response.status_code == 422
    assert "limit" in response.json()["errors"]
