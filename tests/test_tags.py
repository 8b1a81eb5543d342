"""Tags: the list of tags in use, and how an article's tagList is normalised."""

from tests.factories import article_fields, create_article, register


async def get_tags(client) -> dict:
    response = await client.get("/api/tags")
    assert response.status_code == 200, response.text
    return response.json()


async def test_empty_database_has_no_tags(client):
    assert await get_tags(client) == {"tags": []}


async def test_articles_without_tags_contribute_no_tags(client):
    jake = await register(client)
    await create_article(client, jake, tagList=[])

    assert await get_tags(client) == {"tags": []}


async def test_tags_from_several_articles_are_listed_once_each_in_alphabetical_order(client):
    jake = await register(client)
    jane = await register(client)
    await create_article(client, jake, tagList=["zebra", "dragons"])
    await create_article(client, jane, tagList=["angular", "dragons"])
    await create_article(client, jake, tagList=["mongodb", "zebra", "angular"])

    assert await get_tags(client) == {"tags": ["angular", "dragons", "mongodb", "zebra"]}


async def test_tags_list_is_readable_without_authentication_and_ignores_the_token(client):
    jake = await register(client)
    await create_article(client, jake, tagList=["python"])

    anonymous = await client.get("/api/tags")
    authenticated = await client.get("/api/tags", headers=jake.headers)

    assert anonymous.status_code == 200
    assert authenticated.status_code == 200
    assert anonymous.json() == authenticated.json() == {"tags": ["python"]}


async def test_tag_disappears_after_its_only_article_is_deleted(client):
    jake = await register(client)
    doomed = await create_article(client, jake, tagList=["shared", "unique"])
    await create_article(client, jake, tagList=["shared"])
    assert await get_tags(client) == {"tags": ["shared", "unique"]}

    response = await client.delete(f"/api/articles/{doomed['slug']}", headers=jake.headers)

    assert response.status_code == 204
    assert await get_tags(client) == {"tags": ["shared"]}


async def test_tags_within_one_article_are_deduplicated_and_sorted_on_create(client):
    jake = await register(client)

    article = await create_article(client, jake, tagList=["b", "a", "b"])

    assert article["tagList"] == ["a", "b"]
    fetched = await client.get(f"/api/articles/{article['slug']}")
    assert fetched.status_code == 200
    assert fetched.json()["article"]["tagList"] == ["a", "b"]
    assert await get_tags(client) == {"tags": ["a", "b"]}


async def test_blank_tags_are_dropped_on_create(client):
    jake = await register(client)

    article = await create_article(client, jake, tagList=["", "  ", "real"])

    assert article["tagList"] == ["real"]
    assert await get_tags(client) == {"tags": ["real"]}


async def test_tags_are_trimmed_and_then_deduplicated_on_create(client):
    jake = await register(client)

    article = await create_article(client, jake, tagList=[" dragons ", "dragons"])

    assert article["tagList"] == ["dragons"]
    assert await get_tags(client) == {"tags": ["dragons"]}


async def test_null_tag_list_is_refused_on_create_and_update(client):
    # RealWorld 2.0's suite: `tagList: null` answers 422 ([] is how to say "no tags").
    jake = await register(client)
    fields = article_fields(tagList=None)
    response = await client.post("/api/articles", json={"article": fields}, headers=jake.headers)
    assert response.status_code == 422
    assert response.json() == {"errors": {"tagList": ["must be a list; send [] for no tags"]}}
    article = await create_article(client, jake, tagList=["kept"])
    response = await client.put(f"/api/articles/{article['slug']}",
                                json={"article": {"tagList": None}}, headers=jake.headers)
    assert response.status_code == 422
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["tagList"] == [
        "kept"
    ]


async def test_missing_tag_list_means_no_tags(client):
    jake = await register(client)
    fields = article_fields()
    del fields["tagList"]

    response = await client.post("/api/articles", json={"article": fields}, headers=jake.headers)

    assert response.status_code == 201
    assert response.json()["article"]["tagList"] == []
    assert await get_tags(client) == {"tags": []}


async def test_a_new_tag_shows_at_once_and_every_answer_is_one_read_of_tags(client):
    # RealWorld's suite creates an article and reads /api/tags straight after: the counts move
    # with the write, so the answer is exact at once. Nothing is kept or cleared: each answer is
    # one covered read of `tags` (see test_tag_counts.py), and never of `articles`.
    from tests import oplog

    jake = await register(client)
    await create_article(client, jake, tagList=["first"])
    assert await get_tags(client) == {"tags": ["first"]}
    with oplog.recording() as log:
        assert await get_tags(client) == {"tags": ["first"]}
    assert log.operations == [("tags", "aggregate")]
    await create_article(client, jake, tagList=["second"])
    assert await get_tags(client) == {"tags": ["first", "second"]}
