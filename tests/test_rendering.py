"""The hot reads' answers, built once from the rows (service/articles/rendering.py), are the
bytes the response models give, and valid against the OpenAPI document (issue 21): the shape is
checked here, not on every request. Engine-independent (rows built in the test), except the
API checks, which hold on every engine."""

from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest
from bson import ObjectId

from service.articles import rendering
from service.articles.schemas import MultipleArticlesResponse, SingleArticleResponse
from service.contract.schemas import format_timestamp
from tests.factories import create_article, favorite, follow, register

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891_234)  # naive, as Motor returns it: UTC


def row(**overrides):
    """A list row as the page pipeline returns it, with its viewer flags set."""
    base = {
        "_id": ObjectId(), "slug": "a-title", "title": "A title", "description": "About it",
        "tag_list": ["b", "é"], "author_id": ObjectId(), "favorites_count": 3,
        "created_at": WHEN, "updated_at": WHEN.replace(tzinfo=UTC), "status": "published",
        "publish_at": None, "published_at": WHEN, "reading_time_minutes": 2,
        "meta": {"series": "ü", "n": 1.5, "deep": {"list": [1, True, None, "x"]}},
        "cover_image": None, "canonical_url": None, "version": 4, "favorited": True,
        "author": {"_id": ObjectId(), "username": "jake", "bio": "", "image": None,
                   "following": False},
    }
    return {**base, **overrides}


ROWS = [
    row(),
    row(favorited=False, author={"_id": ObjectId(), "username": "anna", "bio": "Hi ☃",
                                 "image": "https://img.example/a.png", "following": True}),
    row(cover_image={"url": "https://img.example/c.png", "alt": "a cat"},
        canonical_url="https://blog.example/post", publish_at=WHEN, meta={}),
    # A media library cover, stored as paths: both renderings make them absolute the same way.
    row(cover_image={"media_id": ObjectId("6650a1b2c3d4e5f601234567"), "alt": "a dog",
                     "url": "/api/media/6650a1b2c3d4e5f601234567/original", "width": 1200,
                     "height": 1600, "content_type": "image/jpeg",
                     "variants": {"w320": {"url": "/api/media/6650a1b2c3d4e5f601234567/w320",
                                           "width": 320, "height": 427,
                                           "content_type": "image/webp"}}}),
    # A legacy document: no reading time, no meta, no status (its defaults apply).
    {key: value for key, value in row(reading_time_minutes=None).items()
     if key not in ("meta", "status", "cover_image", "canonical_url", "publish_at")},
    # A hidden draft, as its author sees it in their drafts: moderation shown, extra keys not.
    row(status="draft", published_at=None,
        moderation={"hidden": True, "reason": "spam", "by": ObjectId(), "at": WHEN,
                    "published_at": WHEN}),
]


@pytest.mark.parametrize("cursor", [None, "eyJhIjoxfQ"])
def test_a_page_is_the_bytes_the_response_model_gives(cursor):
    expected = MultipleArticlesResponse.model_validate(
        {"articles": ROWS, "articles_count": 61, "next_cursor": cursor}
    ).model_dump_json(by_alias=True).encode()
    assert rendering.page_body(ROWS, 61, cursor) == expected


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_one_article_is_the_bytes_the_response_model_gives(index):
    # The ETag digests these bytes: GET and PUT must agree with what the model would give.
    article = {**ROWS[index], "body": "  *Hi*\n", "body_html": "<p><em>Hi</em></p>"}
    expected = SingleArticleResponse.of(article).model_dump_json(by_alias=True).encode()
    assert rendering.single_body(article) == expected


def test_an_article_read_before_its_html_was_stored_gets_an_empty_one_as_the_model_gives():
    article = {**ROWS[0], "body": "x", "body_html": ""}
    expected = SingleArticleResponse.of(article).model_dump_json(by_alias=True).encode()
    assert rendering.single_body(article) == expected


@pytest.mark.parametrize("instant", [
    datetime(2026, 1, 2, 3, 4, 5), datetime(1970, 1, 1), datetime(999, 12, 31, 23, 59, 59, 999_999),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(2026, 6, 1, 0, 0, 0, 1_000),
    datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
])
def test_timestamps_are_written_as_format_timestamp_writes_them(instant):
    assert rendering.timestamp(instant) == format_timestamp(instant)


def _validator(app, schema_name):
    document = app.openapi()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


async def test_the_hot_reads_answer_what_the_openapi_document_says(app, client):
    reader, author = await register(client), await register(client)
    plain = await create_article(client, author)
    await create_article(client, author, coverImage={"url": "https://img.example/c.png",
                                                     "alt": "a cover"},
                         meta={"series": "ü", "part": 2}, canonicalUrl="https://blog.example/p")
    await favorite(client, reader, plain["slug"])
    await follow(client, reader, author.username)
    pages = _validator(app, "MultipleArticlesResponse")
    single = _validator(app, "SingleArticleResponse")
    for headers in (None, reader.headers):
        for url in ("/api/articles", f"/api/articles?author={author.username}",
                    "/api/articles/feed"):
            if headers is None and url.endswith("feed"):
                continue
            answer = await client.get(url, headers=headers)
            assert answer.status_code == 200 and answer.headers["content-type"] == (
                "application/json")
            pages.validate(answer.json())
            # ... and exactly what the model makes of it (no key added, dropped or reordered).
            assert answer.content == MultipleArticlesResponse.model_validate(
                answer.json()).model_dump_json(by_alias=True).encode()
        answer = await client.get(f"/api/articles/{plain['slug']}", headers=headers)
        single.validate(answer.json())
        assert answer.json()["article"]["favorited"] is (headers is not None)
        assert answer.json()["article"]["author"]["following"] is (headers is not None)
