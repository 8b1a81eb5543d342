"""`GET /feeds/articles.atom`: valid Atom 1.0 of the newest live articles, read by feedparser.

Expectations hold on every engine unless a test says otherwise.
"""

import feedparser
import pytest

from service.feeds import queries
from tests.conftest import WIRE_NULL_DATES
from tests.factories import create_article, register

FEED = "/feeds/articles.atom"


async def parsed(client, **params) -> tuple[feedparser.FeedParserDict, str]:
    """The feed as a feed reader sees it, and its ETag."""
    response = await client.get(FEED, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed, response.headers["etag"]


async def test_the_feed_is_atom_with_the_newest_articles_first_and_full_html_bodies(client):
    jake = await register(client)
    older = await create_article(client, jake, title="Older", tagList=["a", "b"])
    newer = await create_article(client, jake, title="Newer", body="**bold** <script>x</script>")
    feed, _ = await parsed(client)
    assert [entry.title for entry in feed.entries] == ["Newer", "Older"]
    first = feed.entries[0]
    assert first.content[0].type == "text/html"
    assert "<strong>bold</strong>" in first.content[0].value
    assert "<script>" not in first.content[0].value  # the stored, sanitised bodyHtml
    assert first.author == jake.username
    assert first.link == f"http://folio.test/api/articles/{newer['slug']}"
    assert first.id.startswith("tag:folio.test,2026:article:")
    assert first.published_parsed and first.updated_parsed
    assert {tag.term for tag in feed.entries[1].tags} == {"a", "b"}
    assert feed.entries[1].summary == older["description"]


@WIRE_NULL_DATES
async def test_an_entry_keeps_its_id_when_a_new_title_moves_its_slug(client):
    jake = await register(client)
    article = await create_article(client, jake, title="First title")
    before, _ = await parsed(client)
    moved = await client.put(f"/api/articles/{article['slug']}",
                             json={"article": {"title": "Second title"}}, headers=jake.headers)
    after, _ = await parsed(client)
    assert after.entries[0].id == before.entries[0].id
    assert after.entries[0].link.endswith(moved.json()["article"]["slug"])
    assert after.entries[0].link != before.entries[0].link


@WIRE_NULL_DATES
async def test_drafts_and_scheduled_articles_stay_out(client):
    jake = await register(client)
    await create_article(client, jake, title="Live")
    await create_article(client, jake, title="Draft", status="draft")
    await create_article(client, jake, title="Later", publishAt="2099-01-01T00:00:00.000Z")
    feed, _ = await parsed(client)
    assert [entry.title for entry in feed.entries] == ["Live"]


async def test_tag_and_author_narrow_the_feed(client):
    jake, anna = await register(client), await register(client)
    await create_article(client, jake, title="Jake on x", tagList=["x"])
    await create_article(client, anna, title="Anna on x", tagList=["x"])
    await create_article(client, anna, title="Anna on y", tagList=["y"])
    by_tag, _ = await parsed(client, tag="x")
    assert [entry.title for entry in by_tag.entries] == ["Anna on x", "Jake on x"]
    assert "tag x" in by_tag.feed.title
    by_author, _ = await parsed(client, author=anna.username)
    assert [entry.title for entry in by_author.entries] == ["Anna on y", "Anna on x"]
    both, _ = await parsed(client, tag="y", author=anna.username)
    assert [entry.title for entry in both.entries] == ["Anna on y"]


async def test_at_most_the_newest_fifty(client, monkeypatch):
    monkeypatch.setattr(queries, "FEED_SIZE", 3)
    jake = await register(client)
    for n in range(5):
        await create_article(client, jake, title=f"N{n}")
    feed, _ = await parsed(client)
    assert [entry.title for entry in feed.entries] == ["N4", "N3", "N2"]


@pytest.mark.parametrize(
    "params", [{"author": "nobody"}, {"tag": "unused"}, {"tag": ""}, {"tag": "t" * 65},
               {"author": " "}],
    ids=["unknown-author", "unused-tag", "blank-tag", "long-tag", "blank-author"],
)
async def test_unknown_or_invalid_filters_answer_404(client, params):
    await create_article(client, await register(client), tagList=["used"])
    response = await client.get(FEED, params=params)
    assert response.status_code == 404
    assert list(response.json()["errors"]) == ["feed"]


async def test_an_author_with_no_live_articles_gets_an_empty_valid_feed(client):
    jake = await register(client)
    feed, _ = await parsed(client, author=jake.username)
    assert feed.entries == []


async def test_if_none_match_answers_304_until_the_feed_changes(client):
    jake = await register(client)
    article = await create_article(client, jake)
    _, etag = await parsed(client)
    again = await client.get(FEED, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    listed = await client.get(FEED, headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304
    await client.put(f"/api/articles/{article['slug']}", json={"article": {"body": "changed"}},
                     headers=jake.headers)
    changed = await client.get(FEED, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_with_a_site_url_entries_link_to_the_reading_site(app, client):
    app.state.settings = app.state.settings.model_copy(
        update={"site_url": "https://blog.example.com/"}
    )
    article = await create_article(client, await register(client))
    feed, _ = await parsed(client)
    assert feed.entries[0].link == f"https://blog.example.com/article/{article['slug']}"
    assert feed.entries[0].id.startswith("tag:blog.example.com,2026:article:")
