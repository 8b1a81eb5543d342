"""The analytics rollups: kept by the writes themselves, equal to a rebuild from the data, and
the only thing an analytics request reads (counted on the embedded engine with tests/oplog.py)."""

from typing import Any

import pytest

from models import DailyStat, TagDay
from service.config import Settings
from service.engine.client import collection, current_engine
from service.rollups.queries import rebuild_rollups
from tests import oplog
from tests.conftest import make_settings
from tests.factories import add_comment, create_article, favorite, register

ADMIN = "root"


@pytest.fixture
def settings() -> Settings:
    """FOLIO_ADMINS names `root`, who makes a moderator."""
    return make_settings(admins=[ADMIN])


async def rollups() -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """Both rollup collections as plain counts, leaving out what counts nothing."""
    fields = ("articles", "favorites", "comments_held", "comments", "users")
    days = {
        day["_id"]: {field: day.get(field, 0) for field in fields}
        async for day in collection(DailyStat).find({})
    }
    tags = {
        (row["day"], row["tag"]): (row.get("articles", 0), row.get("favorites", 0))
        async for row in collection(TagDay).find({})
    }
    return (
        {day: counts for day, counts in days.items() if any(counts.values())},
        {key: counts for key, counts in tags.items() if any(counts)},
    )


async def test_rollups_kept_by_every_write_equal_a_rebuild_from_the_data(client):
    admin = await register(client, ADMIN)
    jake, ann, ben, mod = [await register(client) for _ in range(4)]
    promoted = await client.put(f"/api/moderation/users/{mod.username}",
                                json={"user": {"role": "moderator"}}, headers=admin.headers)
    assert promoted.status_code == 200, promoted.text

    kept = await create_article(client, jake, tagList=["python", "web"])
    edited = await create_article(client, jake, tagList=["rust"])
    draft = await create_article(client, jake, tagList=["draft"], status="draft")
    scheduled = await create_article(client, jake, tagList=["later"], publishAt="2099-01-01T00:00:00Z")
    gone = await create_article(client, jake, tagList=["python"])
    hidden = await create_article(client, jake, tagList=["web"])
    for fan in (ann, ben):
        for article in (kept, edited, gone, hidden):
            await favorite(client, fan, article["slug"])
    await favorite(client, jake, draft["slug"])  # its favorite moves in when it is published
    unfavorited = await client.delete(f"/api/articles/{kept['slug']}/favorite", headers=ben.headers)
    assert unfavorited.status_code == 200
    comment = await add_comment(client, ann, kept["slug"])
    await add_comment(client, ben, kept["slug"])
    removed = await client.delete(f"/api/articles/{kept['slug']}/comments/{comment['id']}",
                                  headers=ann.headers)
    assert removed.status_code in (200, 204)
    for slug, changes in ((edited["slug"], {"tagList": ["rust", "go"]}),
                          (draft["slug"], {"status": "published"}),
                          (scheduled["slug"], {"body": "a body-only edit"})):
        updated = await client.put(f"/api/articles/{slug}", json={"article": changes},
                                   headers=jake.headers)
        assert updated.status_code == 200, updated.text
    assert (await client.delete(f"/api/articles/{gone['slug']}", headers=jake.headers)).is_success
    hid = await client.post(f"/api/moderation/articles/{hidden['slug']}/hide",
                            json={"reason": "spam"}, headers=mod.headers)
    assert hid.status_code == 200, hid.text

    maintained = await rollups()
    await rebuild_rollups(current_engine().database)

    assert maintained == await rollups()
    days, tags = maintained
    assert sum(day["articles"] for day in days.values()) == 4  # kept, edited, draft, scheduled
    assert sum(day["users"] for day in days.values()) == 5
    assert sum(day["comments"] for day in days.values()) == 1
    assert {tag for _, tag in tags} == {"python", "web", "rust", "go", "draft", "later"}

    shown = await client.post(f"/api/moderation/articles/{hidden['slug']}/unhide",
                              json={"reason": "fine"}, headers=mod.headers)
    assert shown.status_code == 200, shown.text
    maintained = await rollups()
    await rebuild_rollups(current_engine().database)
    assert maintained == await rollups()


async def test_analytics_requests_read_only_the_rollups(client):
    # Embedded engine (every engine alike): the operations each request issues, on a miss.
    jake, ann = await register(client), await register(client)
    article = await create_article(client, jake, tagList=["python"])
    await favorite(client, ann, article["slug"])
    await add_comment(client, ann, article["slug"])
    for url in ("/api/analytics/tags?days=30", "/api/analytics/overview?days=7"):
        with oplog.recording() as log:
            response = await client.get(url)
        assert response.status_code == 200, response.text
        touched = {(op.collection, op.name) for op in log.details}
        assert ("articles" not in {name for name, _ in touched}), touched
        # Users are counted from collection metadata, never read.
        sources = ("users", "comments", "favorites", "follows")
        metadata = ("estimated_document_count", "count")  # `count` on the wire: the same command
        assert {name for name, op in touched if name in sources and op not in metadata
                } == set(), touched
    tags = (await client.get("/api/analytics/tags?days=30")).json()["tags"]
    assert [(t["tag"], t["articles"], t["favorites"]) for t in tags] == [("python", 1, 1)]
    overview = (await client.get("/api/analytics/overview?days=7")).json()
    assert overview["totals"] == {"users": 2, "articles": 1, "comments": 1, "favorites": 1}
    assert overview["daily"][-1] | {"date": None} == {
        "date": None, "articles": 1, "comments": 1, "users": 2}


@pytest.mark.parametrize(("path", "days", "listed"), [
    ("tags", 14, "1, 7, 30, 90 or 365"), ("tags", 364, "1, 7, 30, 90 or 365"),
    ("overview", 3, "1, 7, 30 or 90"), ("overview", 365, "1, 7, 30 or 90"),
])
async def test_analytics_windows_come_from_a_fixed_set(client, path, days, listed):
    response = await client.get(f"/api/analytics/{path}", params={"days": days})
    assert response.status_code == 422
    assert response.json() == {"errors": {"days": [f"must be one of {listed}"]}}


async def test_a_seed_counts_its_documents_into_the_rollups_as_a_rebuild_would(client):
    from datetime import UTC, datetime

    from scripts.seed import SeedPlan, seed

    await seed(SeedPlan(users=6, articles=20, comments=30, follows=5, favorites=25, random_seed=3),
               "hash", now=datetime(2026, 1, 15, tzinfo=UTC))
    seeded = await rollups()
    assert seeded[0] and seeded[1]
    await rebuild_rollups(current_engine().database)
    assert await rollups() == seeded
