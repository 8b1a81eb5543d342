"""The feed: articles by the authors the viewer follows, newest first."""

from models import User
from service.engine.client import collection
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


async def test_feed_count_is_kept_per_reader_and_follow_version_and_a_follow_counts_afresh(client):
    # Embedded engine: counting the operations of each request (tests/oplog.py).
    from service.articles.counts import counts
    from tests import oplog

    reader, jake, anna = [await register(client) for _ in range(3)]
    await create_article(client, jake)
    await create_article(client, anna)
    await follow(client, reader, jake.username)
    first = (await client.get("/api/articles/feed", headers=reader.headers)).json()
    assert first["articlesCount"] == 1
    with oplog.recording() as log:
        again = (await client.get("/api/articles/feed", headers=reader.headers)).json()
    assert again["articlesCount"] == 1
    assert ("articles", "count_documents") not in log.operations  # kept
    keys = [key for key in counts()._counts if key.startswith("feed of ")]
    assert len(keys) == 1
    jake_id = (await collection(User).find_one({"username": jake.username}))["_id"]
    assert str(jake_id) not in keys[0]  # the key names the reader, not whom they follow

    await follow(client, reader, anna.username)
    with oplog.recording() as log:  # a full page: its total is counted, not read off the page
        after = (await client.get("/api/articles/feed", params={"limit": 1},
                                  headers=reader.headers)).json()
    assert after["articlesCount"] == 2
    assert ("articles", "count_documents") in log.operations
    assert [key for key in counts()._counts if key.startswith("feed of ")] != keys

    unfollowed = await client.delete(f"/api/profiles/{anna.username}/follow",
                                      headers=reader.headers)
    assert unfollowed.status_code == 200
    assert (await client.get("/api/articles/feed", headers=reader.headers)).json()[
        "articlesCount"] == 1


async def test_feed_reads_from_the_most_recently_followed_authors_up_to_the_cap(client, monkeypatch):
    from service.profiles import queries as profiles
    from tests import oplog

    monkeypatch.setattr(profiles, "FEED_AUTHORS_CAP", 2)
    monkeypatch.setattr(profiles.followee_ids, "__defaults__", (2,))
    reader, *authors = [await register(client) for _ in range(4)]
    for author in authors:
        await create_article(client, author)
        await follow(client, reader, author.username)
    with oplog.recording() as log:
        body = (await client.get("/api/articles/feed", headers=reader.headers)).json()
    assert sorted(a["author"]["username"] for a in body["articles"]) == sorted(
        a.username for a in authors[1:])
    [page] = [op for op in log.details if op.name == "aggregate"]
    assert len(page.pipeline[0]["$match"]["author_id"]["$in"]) == 2
