"""Articles' covers from the media library, media embedded in bodies, and which articles use an
upload (service/media/covers.py, usage.py). Expectations hold on every engine."""

from datetime import timedelta

import pytest
from bson import ObjectId

from models import Article, Media
from service.articles.content import render_markdown
from service.main import create_app
from service.media.covers import absolute, media_base
from service.media.usage import articles_using, used_among
from tests.conftest import client_for, make_settings, serving
from tests.factories import create_article, register
from tests.media_docs import insert_media, user_id

BASE = "http://folio.test"


async def stored_article(slug: str) -> dict:
    return await Article.get_motor_collection().find_one({"slug": slug})


async def test_a_cover_by_media_id_answers_absolute_urls_and_its_variants(client):
    jake = await register(client)
    media = await insert_media(await user_id(jake.username))
    mid = str(media["_id"])
    article = await create_article(client, jake, coverImage={"mediaId": mid, "alt": "A cat"})
    expected = {
        "url": f"{BASE}/api/media/{mid}/original", "alt": "A cat", "mediaId": mid,
        "width": 640, "height": 480, "contentType": "image/jpeg",
        "variants": {"w320": {"url": f"{BASE}/api/media/{mid}/w320", "width": 320,
                              "height": 240, "contentType": "image/webp"}},
    }
    assert article["coverImage"] == expected
    fetched = (await client.get(f"/api/articles/{article['slug']}")).json()["article"]
    assert fetched["coverImage"] == expected
    listed = (await client.get("/api/articles")).json()["articles"][0]
    assert listed["coverImage"] == expected
    # Stored as the media's id and paths, never as absolute URLs.
    stored = await stored_article(article["slug"])
    assert stored["cover_image"]["media_id"] == media["_id"]
    assert stored["cover_image"]["url"] == f"/api/media/{mid}/original"
    assert stored["cover_image"]["variants"]["w320"]["url"] == f"/api/media/{mid}/w320"
    assert stored["media_ids"] == [media["_id"]]
    # The request's binding ends with it (the test client runs the app in this task).
    assert media_base() is None


def test_outside_a_request_media_paths_stay_relative():
    """The CLI and the worker render covers with no request bound: paths, not URLs."""
    assert media_base() is None
    assert absolute("/api/media/abc/original") == "/api/media/abc/original"


async def test_a_url_cover_is_answered_as_before(client):
    jake = await register(client)
    cover = {"url": "https://img.example/c.png", "alt": "Alt"}
    article = await create_article(client, jake, coverImage=cover)
    assert article["coverImage"] == cover
    assert (await stored_article(article["slug"]))["media_ids"] is None


async def test_media_urls_use_the_public_url_when_set():
    settings = make_settings(public_url="https://api.example.com/")
    async with serving(create_app(settings)) as app, client_for(app) as client:
        jake = await register(client)
        media = await insert_media(await user_id(jake.username))
        article = await create_article(
            client, jake, coverImage={"mediaId": str(media["_id"]), "alt": "A cat"})
    assert article["coverImage"]["url"] == f"https://api.example.com/api/media/{media['_id']}/original"


@pytest.mark.parametrize("case,field,message", [
    ("someone-else", "coverImage.mediaId", "is not yours: use media you uploaded"),
    ("unknown", "coverImage.mediaId", "was not found"),
    ("malformed", "coverImage.mediaId", "is not a media id"),
    ("hidden", "coverImage.mediaId", "was hidden by a moderator"),
    ("deleting", "coverImage.mediaId", "was not found"),
])
async def test_a_cover_must_be_the_authors_own_visible_media(client, case, field, message):
    jake, jane = await register(client), await register(client)
    owner = await user_id(jane.username if case == "someone-else" else jake.username)
    media = await insert_media(owner, hidden=case == "hidden")
    if case == "deleting":
        await Media.get_motor_collection().update_one(
            {"_id": media["_id"]}, {"$set": {"deleting": media["created_at"]}})
    media_id = {"unknown": str(ObjectId()), "malformed": "not-an-id"}.get(case, str(media["_id"]))
    response = await client.post("/api/articles", headers=jake.headers, json={"article": {
        "title": "T", "description": "D", "body": "B",
        "coverImage": {"mediaId": media_id, "alt": "A cat"}}})
    assert response.status_code == 422, response.text
    assert response.json() == {"errors": {field: [message]}}
    assert await Article.get_motor_collection().count_documents({}) == 0


@pytest.mark.parametrize("cover,errors", [
    ({"mediaId": "0" * 24}, {"coverImage.alt": ["can't be blank"]}),
    ({"mediaId": "0" * 24, "alt": "   "}, {"coverImage.alt": ["can't be blank"]}),
    ({"mediaId": "0" * 24, "url": "https://img.example/c.png", "alt": "a"},
     {"coverImage": ["takes either url or mediaId, not both"]}),
    ({"alt": "a"}, {"coverImage.url": ["can't be blank"]}),
])
async def test_a_cover_needs_alt_and_exactly_one_source(client, cover, errors):
    jake = await register(client)
    response = await client.post("/api/articles", headers=jake.headers, json={"article": {
        "title": "T", "description": "D", "body": "B", "coverImage": cover}})
    assert response.status_code == 422
    assert response.json() == {"errors": errors}


async def test_an_update_sets_and_clears_a_media_cover(client):
    jake = await register(client)
    media = await insert_media(await user_id(jake.username))
    article = await create_article(client, jake)
    slug = article["slug"]
    response = await client.put(f"/api/articles/{slug}", headers=jake.headers, json={
        "article": {"coverImage": {"mediaId": str(media["_id"]), "alt": "A cat"}}})
    assert response.status_code == 200, response.text
    assert response.json()["article"]["coverImage"]["mediaId"] == str(media["_id"])
    assert await articles_using(media["_id"]) == [slug]
    response = await client.put(f"/api/articles/{slug}", headers=jake.headers,
                                json={"article": {"coverImage": None}})
    assert response.json()["article"]["coverImage"] is None
    assert (await stored_article(slug))["media_ids"] is None
    assert await articles_using(media["_id"]) == []


async def test_a_body_embedding_media_uses_it_and_keeps_the_image(client):
    jake, jane = await register(client), await register(client)
    mine = await insert_media(await user_id(jake.username))
    theirs = await insert_media(await user_id(jane.username))
    body = (f"![a cat](/api/media/{mine['_id']}/w320)\n\n"
            f"![another]({BASE}/api/media/{theirs['_id']}/original)")
    article = await create_article(client, jake, body=body)
    fetched = (await client.get(f"/api/articles/{article['slug']}")).json()["article"]
    assert f'<img src="/api/media/{mine["_id"]}/w320" alt="a cat">' in fetched["bodyHtml"]
    assert f'<img src="{BASE}/api/media/{theirs["_id"]}/original" alt="another">' in fetched["bodyHtml"]
    stored = await stored_article(article["slug"])
    assert stored["media_ids"] == [mine["_id"], theirs["_id"]]
    # Its owner's deletion is blocked only by the owner's own articles; gc sees both used.
    assert await articles_using(mine["_id"]) == [article["slug"]]
    assert await articles_using(theirs["_id"]) == []
    assert await used_among([mine["_id"], theirs["_id"], ObjectId()]) == {mine["_id"], theirs["_id"]}
    await client.put(f"/api/articles/{article['slug']}", headers=jake.headers,
                     json={"article": {"body": "No images now."}})
    assert await used_among([mine["_id"], theirs["_id"]]) == set()


def test_the_sanitizer_keeps_media_images_and_still_drops_unsafe_ones():
    html = render_markdown("![a](/api/media/65a1b2c3d4e5f60718293a4b/w320) "
                           "![b](https://folio.example/api/media/65a1b2c3d4e5f60718293a4b/original) "
                           "![c](javascript:alert(1)) ![d](data:image/png;base64,AAAA)")
    assert '<img src="/api/media/65a1b2c3d4e5f60718293a4b/w320" alt="a">' in html
    assert '<img src="https://folio.example/api/media/65a1b2c3d4e5f60718293a4b/original" alt="b">' in html
    assert "src=\"javascript" not in html and "data:" not in html


async def test_articles_using_names_live_articles_only(client):
    jake = await register(client)
    media = await insert_media(await user_id(jake.username), age=timedelta(days=1))
    cover = {"mediaId": str(media["_id"]), "alt": "A cat"}
    first = await create_article(client, jake, coverImage=cover)
    second = await create_article(client, jake, coverImage=cover, status="draft")
    assert await articles_using(media["_id"]) == sorted([first["slug"], second["slug"]])
    await client.delete(f"/api/articles/{first['slug']}", headers=jake.headers)
    assert await articles_using(media["_id"]) == [second["slug"]]
    assert await articles_using(ObjectId()) == []


def test_the_articles_validator_accepts_both_kinds_of_cover():
    from scripts.dbtools import validator_for

    cover = validator_for(Article)["$jsonSchema"]["properties"]["cover_image"]
    media, plain, null = cover["anyOf"]
    assert media["required"] == ["media_id", "url", "alt", "width", "height", "content_type"]
    assert media["properties"]["media_id"] == {"bsonType": "objectId"}
    assert plain["required"] == ["url", "alt"] and null == {"bsonType": "null"}
