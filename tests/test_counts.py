"""articlesCount from a short-lived count per filter: reused, cleared by writes, stale by TTL."""

from datetime import UTC, datetime

from models import Article
from service.articles import counts as counts_module
from service.articles.counts import count_key
from service.db import collection
from tests import oplog
from tests.factories import create_article, register


def counted(log) -> bool:
    return any(op.name == "count_documents" for op in log.details)


async def test_a_fresh_count_is_reused_and_only_the_page_is_read(client):
    jake = await register(client)
    for _ in range(3):
        await create_article(client, jake)
    with oplog.recording() as first:
        one = (await client.get("/api/articles", params={"limit": 1})).json()
    with oplog.recording() as second:
        two = (await client.get("/api/articles", params={"limit": 1, "offset": 1})).json()
    assert counted(first) and not counted(second)
    assert one["articlesCount"] == two["articlesCount"] == 3
    assert one["articles"][0]["slug"] != two["articles"][0]["slug"]


async def test_writes_in_this_process_clear_the_counts(client):
    jake = await register(client)
    await create_article(client, jake)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1
    second = await create_article(client, jake)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 2
    await client.delete(f"/api/articles/{second['slug']}", headers=jake.headers)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1


async def test_changes_from_elsewhere_show_within_the_ttl(client, monkeypatch):
    jake = await register(client)
    article = await create_article(client, jake)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1
    copy = await collection(Article).find_one({"slug": article["slug"]})
    copy.pop("_id")
    await collection(Article).insert_one({**copy, "slug": "written-by-another-process"})
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1  # still fresh
    later = counts_module.time.monotonic() + counts_module.COUNT_TTL_SECONDS + 1
    monkeypatch.setattr(counts_module.time, "monotonic", lambda: later)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 2


def test_the_count_key_ignores_the_moving_instant_of_visibility():
    early = {"tag_list": "x", "published_at": {"$lte": datetime(2026, 1, 1, tzinfo=UTC)}}
    late = {"published_at": {"$lte": datetime(2026, 1, 2, tzinfo=UTC)}, "tag_list": "x"}
    assert count_key(early) == count_key(late)
    assert count_key(early) != count_key({**early, "tag_list": "y"})


def test_the_page_reads_only_the_page_and_the_count_is_its_own_operation():
    from service.articles.queries import article_page_pipeline

    pipeline = article_page_pipeline({"tag_list": "x"}, offset=20, limit=10)
    assert "$facet" not in repr(pipeline) and "$count" not in repr(pipeline)
    assert pipeline[0] == {"$match": {"tag_list": "x"}}
    assert pipeline[2:4] == [{"$skip": 20}, {"$limit": 10}]
