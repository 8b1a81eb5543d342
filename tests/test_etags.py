"""Article ETags: If-None-Match answers 304, If-Match makes PUT and DELETE safe (412 if stale).

Expectations hold on every engine.
"""

import asyncio

import pytest

from tests.factories import create_article, favorite, register


async def tagged(client, slug: str, headers=None) -> str:
    """The article's current ETag."""
    response = await client.get(f"/api/articles/{slug}", headers=headers)
    assert response.status_code == 200
    return response.headers["etag"]


async def test_if_none_match_with_the_current_tag_answers_304_without_a_body(client):
    article = await create_article(client, await register(client))
    url = f"/api/articles/{article['slug']}"
    etag = await tagged(client, article["slug"])
    assert etag.startswith('"') and not etag.startswith("W/")
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.json()["article"]["slug"] == article["slug"]


async def test_a_favorite_changes_the_tag_so_a_304_never_hides_it(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    before = await tagged(client, article["slug"])
    await favorite(client, anna, article["slug"])
    after = await client.get(f"/api/articles/{article['slug']}", headers={"If-None-Match": before})
    assert after.status_code == 200 and after.json()["article"]["favoritesCount"] == 1


async def test_put_with_the_current_tag_writes_and_a_stale_tag_gets_412_writing_nothing(client):
    jake = await register(client)
    article = await create_article(client, jake, description="first")
    url = f"/api/articles/{article['slug']}"
    etag = await tagged(client, article["slug"])
    edited = await client.put(url, json={"article": {"description": "second"}},
                              headers={**jake.headers, "If-Match": etag})
    assert edited.status_code == 200 and edited.json()["article"]["description"] == "second"
    assert edited.headers["etag"] != etag
    stale = await client.put(url, json={"article": {"description": "third"}},
                             headers={**jake.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json() == {"errors": {"article": ["was changed by someone else"]}}
    assert (await client.get(url)).json()["article"]["description"] == "second"


async def test_a_favorite_does_not_make_an_editors_if_match_fail(client):
    # The tag's digest moves with favoritesCount, but If-Match compares the version only.
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    etag = await tagged(client, article["slug"], jake.headers)
    await favorite(client, anna, article["slug"])
    edited = await client.put(f"/api/articles/{article['slug']}",
                              json={"article": {"body": "new"}},
                              headers={**jake.headers, "If-Match": etag})
    assert edited.status_code == 200


async def test_two_editors_with_the_same_tag_one_wins_one_gets_412(client):
    jake = await register(client)
    article = await create_article(client, jake)
    url = f"/api/articles/{article['slug']}"
    etag = await tagged(client, article["slug"])
    answers = await asyncio.gather(*(
        client.put(url, json={"article": {"description": text}},
                   headers={**jake.headers, "If-Match": etag})
        for text in ("mine", "theirs")
    ))
    assert sorted(answer.status_code for answer in answers) == [200, 412]
    winner = next(answer for answer in answers if answer.status_code == 200)
    stored = (await client.get(url)).json()["article"]["description"]
    assert stored == winner.json()["article"]["description"]


async def test_delete_honours_if_match(client):
    jake = await register(client)
    article = await create_article(client, jake)
    url = f"/api/articles/{article['slug']}"
    old = await tagged(client, article["slug"])
    await client.put(url, json={"article": {"body": "moved on"}}, headers=jake.headers)
    refused = await client.delete(url, headers={**jake.headers, "If-Match": old})
    assert refused.status_code == 412
    assert (await client.get(url)).status_code == 200
    current = await tagged(client, article["slug"])
    assert (await client.delete(url, headers={**jake.headers, "If-Match": current})).status_code == 204
    assert (await client.get(url)).status_code == 404


@pytest.mark.parametrize("header", ["*", None], ids=["star", "absent"])
async def test_if_match_star_or_none_writes_as_before(client, header):
    jake = await register(client)
    article = await create_article(client, jake)
    headers = {**jake.headers, **({"If-Match": header} if header else {})}
    response = await client.put(f"/api/articles/{article['slug']}",
                                json={"article": {"body": "changed"}}, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("header", ['W/"x"', "garbage", '"other-1-abc"'],
                         ids=["weak", "malformed", "another-article"])
async def test_if_match_with_a_tag_that_is_not_current_answers_412(client, header):
    jake = await register(client)
    article = await create_article(client, jake)
    response = await client.put(f"/api/articles/{article['slug']}",
                                json={"article": {"body": "changed"}},
                                headers={**jake.headers, "If-Match": header})
    assert response.status_code == 412


async def test_auth_and_ownership_come_before_the_precondition(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    url = f"/api/articles/{article['slug']}"
    stale = {"If-Match": '"stale"'}
    assert (await client.put(url, json={"article": {"body": "x"}}, headers=stale)).status_code == 401
    assert (await client.put(url, json={"article": {"body": "x"}},
                             headers={**anna.headers, **stale})).status_code == 403
    assert (await client.put("/api/articles/none", json={"article": {"body": "x"}},
                             headers={**jake.headers, **stale})).status_code == 404


async def test_an_article_from_before_versions_reads_as_version_1_and_stores_2(app, client):
    jake = await register(client)
    article = await create_article(client, jake)
    articles = app.state.engine.database.articles
    await articles.update_one({"slug": article["slug"]}, {"$unset": {"version": ""}})
    etag = await tagged(client, article["slug"])
    assert "-1-" in etag
    edited = await client.put(f"/api/articles/{article['slug']}", json={"article": {"body": "x"}},
                              headers={**jake.headers, "If-Match": etag})
    assert edited.status_code == 200
    assert (await articles.find_one({"slug": article["slug"]}))["version"] == 2
