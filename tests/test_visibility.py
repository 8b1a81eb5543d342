"""Drafts and scheduled articles are visible only to their author, from every angle."""

from datetime import UTC, datetime, timedelta

import pytest

from models import Article
from service.engine.client import collection
from service.tags.counting import SWEEP_BATCH, catch_up
from tests.conftest import WIRE_NULL_DATES
from tests.factories import add_comment, create_article, favorite, follow, register

FUTURE = "2099-01-01T00:00:00.000Z"


async def make_hidden(client, author, kind: str) -> dict:
    """A draft or a scheduled article by `author`, tagged so that tag lists would reveal it."""
    if kind == "draft":
        return await create_article(client, author, status="draft", tagList=["hidden"],
                                    title="Hidden dragons")
    return await create_article(client, author, publishAt=FUTURE, tagList=["hidden"],
                                title="Hidden dragons")


async def arrive_at_publication(slug: str) -> None:
    """Let time pass until a scheduled article's instant: move its instant into the past, and
    run the pass that each process runs every FOLIO_TAG_SWEEP_SECONDS to count its tags."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    past = past.replace(microsecond=past.microsecond // 1000 * 1000)
    await collection(Article).update_one(
        {"slug": slug}, {"$set": {"publish_at": past, "published_at": past}}
    )
    await catch_up(SWEEP_BATCH)


HIDDEN_KINDS = pytest.mark.parametrize("kind", ["draft", "scheduled"])


@HIDDEN_KINDS
async def test_hidden_articles_answer_404_to_everyone_but_their_author(client, kind):
    jake, anna = await register(client), await register(client)
    hidden = await make_hidden(client, jake, kind)
    url = f"/api/articles/{hidden['slug']}"
    assert (await client.get(url)).status_code == 404
    assert (await client.get(url, headers=anna.headers)).status_code == 404
    own = await client.get(url, headers=jake.headers)
    assert own.status_code == 200
    assert own.json()["article"]["status"] == ("draft" if kind == "draft" else "published")


@WIRE_NULL_DATES
@HIDDEN_KINDS
async def test_hidden_articles_stay_out_of_lists_feed_tags_and_search(client, kind):
    jake, anna = await register(client), await register(client)
    await make_hidden(client, jake, kind)
    await follow(client, anna, jake.username)
    empty = {"articles": [], "articlesCount": 0, "nextCursor": None}
    for viewer in (None, anna.headers, jake.headers):
        for params in ({}, {"tag": "hidden"}, {"author": jake.username}):
            assert (await client.get("/api/articles", params=params, headers=viewer)).json() == empty
        search = (await client.get("/api/search", params={"q": "dragons"}, headers=viewer)).json()
        assert search["articlesCount"] == 0 and search["facets"]["tags"] == []
    assert (await client.get("/api/articles/feed", headers=anna.headers)).json() == empty
    assert (await client.get("/api/tags")).json() == {"tags": []}


@HIDDEN_KINDS
async def test_nobody_else_can_comment_favorite_or_read_comments_of_a_hidden_article(client, kind):
    jake, anna = await register(client), await register(client)
    hidden = await make_hidden(client, jake, kind)
    base = f"/api/articles/{hidden['slug']}"
    attempts = [
        client.get(f"{base}/comments"),
        client.get(f"{base}/comments", headers=anna.headers),
        client.post(f"{base}/comments", json={"comment": {"body": "hi"}}, headers=anna.headers),
        client.post(f"{base}/favorite", headers=anna.headers),
        client.delete(f"{base}/favorite", headers=anna.headers),
        client.put(base, json={"article": {"body": "x"}}, headers=anna.headers),
        client.delete(base, headers=anna.headers),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404
        assert response.json() == {"errors": {"article": ["not found"]}}


@HIDDEN_KINDS
async def test_the_author_can_work_on_a_hidden_article(client, kind):
    jake = await register(client)
    hidden = await make_hidden(client, jake, kind)
    base = f"/api/articles/{hidden['slug']}"
    assert (await client.post(f"{base}/comments", json={"comment": {"body": "note"}},
                              headers=jake.headers)).status_code == 201
    updated = await client.put(base, json={"article": {"body": "better"}}, headers=jake.headers)
    assert updated.status_code == 200 and updated.json()["article"]["body"] == "better"


@WIRE_NULL_DATES
async def test_the_author_lists_their_own_drafts_and_scheduled_articles(client):
    jake, anna = await register(client), await register(client)
    draft = await make_hidden(client, jake, "draft")
    scheduled = await make_hidden(client, jake, "scheduled")
    live = await create_article(client, jake)
    mine = lambda status: client.get(  # noqa: E731
        "/api/articles", params={"author": jake.username, "status": status}, headers=jake.headers
    )
    assert [a["slug"] for a in (await mine("draft")).json()["articles"]] == [draft["slug"]]
    assert [a["slug"] for a in (await mine("scheduled")).json()["articles"]] == [scheduled["slug"]]
    assert [a["slug"] for a in (await mine("published")).json()["articles"]] == [live["slug"]]
    without_author = await client.get("/api/articles", params={"status": "draft"}, headers=jake.headers)
    assert [a["slug"] for a in without_author.json()["articles"]] == [draft["slug"]]
    assert (await client.get("/api/articles", params={"status": "draft"},
                             headers=anna.headers)).json()["articlesCount"] == 0


async def test_nobody_else_can_list_someones_drafts(client):
    jake, anna = await register(client), await register(client)
    await make_hidden(client, jake, "draft")
    params = {"author": jake.username, "status": "draft"}
    refused = await client.get("/api/articles", params=params, headers=anna.headers)
    assert refused.status_code == 403
    assert refused.json() == {"errors": {"status": ["only the author can list their draft articles"]}}
    anonymous = await client.get("/api/articles", params=params)
    assert anonymous.status_code == 401
    assert (await client.get("/api/articles", params={"status": "secret"})).status_code == 422


@WIRE_NULL_DATES
async def test_a_scheduled_article_appears_everywhere_at_its_instant(client):
    jake, anna = await register(client), await register(client)
    scheduled = await make_hidden(client, jake, "scheduled")
    await follow(client, anna, jake.username)
    assert (await client.get(f"/api/articles/{scheduled['slug']}")).status_code == 404
    await arrive_at_publication(scheduled["slug"])
    assert (await client.get(f"/api/articles/{scheduled['slug']}")).status_code == 200
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1
    assert (await client.get("/api/articles/feed", headers=anna.headers)).json()["articlesCount"] == 1
    assert (await client.get("/api/tags")).json() == {"tags": ["hidden"]}
    assert (await client.get("/api/search", params={"q": "hidden"})).json()["articlesCount"] == 1


@WIRE_NULL_DATES
async def test_publishing_a_draft_makes_it_visible_and_unpublishing_hides_it_again(client):
    jake, anna = await register(client), await register(client)
    draft = await make_hidden(client, jake, "draft")
    url = f"/api/articles/{draft['slug']}"
    published = await client.put(url, json={"article": {"status": "published"}}, headers=jake.headers)
    body = published.json()["article"]
    assert body["status"] == "published" and body["publishedAt"] is not None
    assert (await client.get(url, headers=anna.headers)).status_code == 200
    await favorite(client, anna, draft["slug"])
    await client.put(url, json={"article": {"status": "draft"}}, headers=jake.headers)
    assert (await client.get(url, headers=anna.headers)).status_code == 404
    # The favorites list leaves it out; its count is of favorites (see favorites_page), so the
    # unpublished one is still counted, and the same list narrowed by author counts exactly.
    favorites = await client.get("/api/articles", params={"favorited": anna.username})
    assert favorites.json() == {"articles": [], "articlesCount": 1, "nextCursor": None}
    narrowed = await client.get(
        "/api/articles", params={"favorited": anna.username, "author": jake.username}
    )
    assert narrowed.json() == {"articles": [], "articlesCount": 0, "nextCursor": None}


async def test_clearing_publish_at_publishes_a_scheduled_article_now(client):
    jake = await register(client)
    scheduled = await make_hidden(client, jake, "scheduled")
    assert scheduled["publishAt"] == FUTURE and scheduled["publishedAt"] == FUTURE
    response = await client.put(f"/api/articles/{scheduled['slug']}",
                                json={"article": {"publishAt": None}}, headers=jake.headers)
    article = response.json()["article"]
    assert article["publishAt"] is None
    assert article["publishedAt"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.999Z")
    assert (await client.get(f"/api/articles/{scheduled['slug']}")).status_code == 200


async def test_editing_a_live_article_keeps_its_publication_instant(client):
    jake = await register(client)
    article = await create_article(client, jake)
    response = await client.put(f"/api/articles/{article['slug']}",
                                json={"article": {"body": "edited"}}, headers=jake.headers)
    assert response.json()["article"]["publishedAt"] == article["publishedAt"]


async def test_a_plain_realworld_article_is_published_immediately(client):
    jake = await register(client)
    article = await create_article(client, jake)
    assert article["status"] == "published"
    assert article["publishAt"] is None
    assert article["publishedAt"] == article["createdAt"]


async def test_a_comment_by_someone_else_on_a_later_hidden_article_disappears_with_it(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    await add_comment(client, anna, article["slug"])
    await client.put(f"/api/articles/{article['slug']}", json={"article": {"status": "draft"}},
                     headers=jake.headers)
    assert (await client.get(f"/api/articles/{article['slug']}/comments")).status_code == 404
    own = await client.get(f"/api/articles/{article['slug']}/comments", headers=jake.headers)
    assert len(own.json()["comments"]) == 1
