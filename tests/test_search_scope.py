"""FOLIO_SEARCH_SCOPE=author: the articles' one text index is prefixed by `author_id`, and every
search names an author (MongoDB allows one text index per collection, and `$text` on a compound
text index needs an equality on its prefix)."""

import pytest
from pymongo.errors import OperationFailure

from models import Article
from models.articles import TEXT_INDEXES
from service.config import Settings
from service.engine.client import collection, create_indexes
from service.engine.indexes import declared_indexes
from tests.conftest import make_settings
from tests.factories import create_article, register


@pytest.fixture
def settings() -> Settings:
    """Searches within one author."""
    return make_settings(search_scope="author")


async def test_the_author_scope_declares_the_author_prefixed_text_index_instead(client):
    declared = declared_indexes(Article)
    assert "text_search" not in declared
    keys = list(declared["author_text_search"]["key"].items())
    assert keys == [("author_id", 1), ("title", "text"), ("description", "text"), ("body", "text")]
    assert declared["author_text_search"]["weights"] == TEXT_INDEXES["site"].document["weights"]


@pytest.mark.not_on_wire("mongoeco has no $text")
async def test_a_search_must_name_an_author_and_then_finds_that_authors_matches(client):
    jake, anna = await register(client), await register(client)
    mine = await create_article(client, jake, title="Dragons of the north")
    await create_article(client, anna, title="Dragons of the south")

    refused = await client.get("/api/search", params={"q": "dragons"})
    assert refused.status_code == 422
    assert list(refused.json()["errors"]) == ["author"]

    found = await client.get("/api/search", params={"q": "dragons", "author": jake.username})
    assert found.status_code == 200, found.text
    assert [a["slug"] for a in found.json()["articles"]] == [mine["slug"]]


@pytest.mark.realmongo
async def test_on_mongodb_text_needs_the_author_equality_and_reads_only_that_author(client):
    await create_indexes(Article)
    jake, anna = await register(client), await register(client)
    mine = await create_article(client, jake, title="Dragons of the north")
    await create_article(client, anna, title="Dragons of the south")
    found = await client.get("/api/search", params={"q": "dragons", "author": jake.username})
    assert [a["slug"] for a in found.json()["articles"]] == [mine["slug"]]
    with pytest.raises(OperationFailure):  # no equality on the prefix: MongoDB refuses $text
        await collection(Article).find({"$text": {"$search": "dragons"}}).to_list(None)
