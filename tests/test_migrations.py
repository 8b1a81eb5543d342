"""Migrations: ordered, recorded, idempotent, and `up` then `down` restores the data exactly."""

import asyncio
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from models import AppliedMigration, Article
from scripts import migrate
from scripts.migrations import m0001_article_computed_fields as m0001
from scripts.migrations import m0003_null_profile_fields as m0003
from service.engine.client import collection
from tests.factories import register

CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def ignore(done: int) -> None:
    """A migration's progress, unwatched."""


async def insert_legacy_articles(client, count: int = 5) -> list[dict]:
    """Articles in the version-1 shape: no body_html, reading_time_minutes or schema_version."""
    jake = await register(client)
    author = await collection(Article).database.users.find_one({"username": jake.username})
    documents = [
        {"_id": ObjectId(), "slug": f"legacy-{n}", "title": f"Legacy {n}", "description": "d",
         "body": "word " * (n % 5 * 200 + 1), "tag_list": ["old"], "author_id": author["_id"],
         "favorites_count": n, "status": "published", "publish_at": None, "published_at": CREATED,
         "meta": {}, "cover_image": None, "canonical_url": None,
         "created_at": CREATED, "updated_at": CREATED}
        for n in range(count)
    ]
    await collection(Article).insert_many(documents)
    return documents


async def all_articles() -> list[dict]:
    return await collection(Article).find({}).sort("_id", 1).to_list(None)


async def test_up_backfills_and_down_restores_the_data_exactly(app, client):
    await insert_legacy_articles(client)
    before = await all_articles()
    assert await migrate.up(app.state.engine, m0001.ID) == [(m0001.ID, 5)]
    migrated = await all_articles()
    assert all(a["schema_version"] == 2 and a["body_html"].startswith("<p>") for a in migrated)
    assert [a["reading_time_minutes"] for a in migrated] == [1, 1, 2, 3, 4]
    assert await migrate.down(app.state.engine) == [(m0001.ID, 5)]
    assert await all_articles() == before
    await migrate.up(app.state.engine, m0001.ID)
    assert await all_articles() == migrated


async def test_migrations_are_recorded_and_not_applied_twice(app, client):
    await insert_legacy_articles(client)
    engine = app.state.engine
    states = await migrate.status(engine)
    assert [s.migration.id for s in states] == [m.id for m in migrate.discover()]
    assert all(state.applied_at is None for state in states)
    await migrate.up(engine, m0001.ID)
    first, second, *_ = await migrate.status(engine)
    assert first.applied_at is not None and second.applied_at is None
    ledger = await collection(AppliedMigration).find_one({"_id": m0001.ID})
    assert ledger["description"] == m0001.DESCRIPTION
    applied = await migrate.up(engine)
    assert [migration_id for migration_id, _ in applied] == [m.id for m in migrate.discover()][1:]
    assert await migrate.up(engine) == []
    reverted = await migrate.down(engine, migrate.BASE)
    assert reverted[-1] == (m0001.ID, 5)
    assert await collection(AppliedMigration).count_documents({}) == 0
    assert await migrate.down(engine) == []


async def test_an_interrupted_run_is_completed_by_running_it_again(app, client):
    documents = await insert_legacy_articles(client)
    database = app.state.engine.database
    await m0001.up(database, ignore)
    await collection(Article).update_many(
        {"_id": {"$in": [d["_id"] for d in documents[:3]]}},
        {"$unset": {"body_html": "", "reading_time_minutes": "", "schema_version": ""}},
    )  # as if the first run stopped after two documents
    assert await m0001.up(database, ignore) == 3
    assert await m0001.up(database, ignore) == 0
    assert await collection(Article).count_documents({"schema_version": 2}) == 5


async def test_unknown_targets_are_refused(app):
    with pytest.raises(migrate.UnknownMigration):
        await migrate.up(app.state.engine, "9999_nothing")


async def test_up_to_base_is_refused_and_applies_nothing(app):
    # `base` comes before every migration: `up` has nothing to stop at, and applied them all.
    with pytest.raises(migrate.UnknownMigration, match="`up --to base` would apply nothing"):
        await migrate.up(app.state.engine, migrate.BASE)
    assert all(state.applied_at is None for state in await migrate.status(app.state.engine))


async def test_legacy_articles_stay_readable_before_the_migration(app, client):
    await insert_legacy_articles(client, count=2)
    single = (await client.get("/api/articles/legacy-1")).json()["article"]
    assert single["bodyHtml"].startswith("<p>word word")
    assert single["readingTimeMinutes"] == 1
    listed = (await client.get("/api/articles")).json()["articles"]
    assert [a["readingTimeMinutes"] for a in listed] == [None, None]


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 20, so that a few dozen documents make several (the wire server is slow)."""
    monkeypatch.setattr(migrate, "BATCH_SIZE", 20)


async def test_a_migration_completes_while_the_api_takes_writes(app, client, small_batches):
    # No transaction: on MongoDB one over the whole collection would abort on the first write
    # conflict with these requests (or pass its 60 s limit). Batches just carry on.
    documents = await insert_legacy_articles(client, count=3 * migrate.BATCH_SIZE // 2)
    writer = await register(client)
    batches: list[int] = []

    async def api_writes() -> list[int]:
        statuses = []
        for n in range(30):
            response = await client.post("/api/articles", headers=writer.headers, json={
                "article": {"title": f"During {n}", "description": "d", "body": "b"}})
            statuses.append(response.status_code)
            await asyncio.sleep(0)
        return statuses

    migrated, statuses = await asyncio.gather(
        migrate.up(app.state.engine, m0001.ID, progress=lambda _, done: batches.append(done)),
        api_writes(),
    )
    assert statuses == [201] * 30
    assert migrated == [(m0001.ID, len(documents))]
    assert batches == [migrate.BATCH_SIZE, len(documents) - migrate.BATCH_SIZE]
    assert await collection(Article).count_documents({"schema_version": {"$ne": 2}}) == 0


async def test_an_interrupted_batch_run_resumes_where_it_stopped(app, client, small_batches):
    await insert_legacy_articles(client, count=migrate.BATCH_SIZE + 10)
    database = app.state.engine.database

    def stop_after_first_batch(done: int) -> None:
        raise KeyboardInterrupt  # as if the operator pressed Ctrl-C after one batch

    with pytest.raises(KeyboardInterrupt):
        await m0001.up(database, stop_after_first_batch)
    assert await collection(Article).count_documents({"schema_version": 2}) == migrate.BATCH_SIZE
    assert await collection(AppliedMigration).count_documents({}) == 0  # the ledger waits
    assert await m0001.up(database, ignore) == 10


def test_discovered_migrations_are_ordered_and_complete():
    found = migrate.discover()
    assert [m.id for m in found] == sorted(m.id for m in found)
    for migration in found:
        assert callable(migration.module.up) and callable(migration.module.down)


async def test_empty_profile_fields_become_null_and_down_restores_them(app, client):
    # Accounts as Folio wrote them before RealWorld 2.0: "" for an unset bio or image.
    jake, jane = await register(client, "m3jake"), await register(client, "m3jane")
    users = collection(Article).database.users
    await users.update_one({"username": jake.username}, {"$set": {"bio": "", "image": ""}})
    await users.update_one({"username": jane.username},
                           {"$set": {"bio": "kept", "image": "https://example.com/j.png"}})
    before = await users.find({}).sort("_id", 1).to_list(None)
    # Read as null before the migration runs, so a rolling deploy needs no downtime.
    profile = (await client.get(f"/api/profiles/{jake.username}")).json()["profile"]
    assert (profile["bio"], profile["image"]) == (None, None)
    database = app.state.engine.database
    assert await m0003.up(database, ignore) == 2
    jake_doc = await users.find_one({"username": jake.username})
    assert (jake_doc["bio"], jake_doc["image"]) == (None, None)
    assert await m0003.up(database, ignore) == 0  # idempotent
    assert await m0003.down(database, ignore) == 2
    assert await users.find({}).sort("_id", 1).to_list(None) == before


async def test_comment_counts_are_counted_in_and_down_removes_them(app, client):
    from scripts.migrations import m0004_comment_counts as m0004
    from tests.factories import add_comment, create_article

    jake = await register(client)
    slugs = [(await create_article(client, jake))["slug"] for _ in range(3)]
    for slug in (slugs[0], slugs[0], slugs[1]):
        await add_comment(client, jake, slug)
    database = app.state.engine.database
    # As before the counter existed: none stored, and one stale.
    await database.articles.update_many({}, {"$unset": {"comments_count": ""}})
    await database.articles.update_one({"slug": slugs[1]}, {"$set": {"comments_count": 7}})
    assert await m0004.up(database, ignore) == 3  # two missing (one of them has none), one stale
    counted = {a["slug"]: a["comments_count"] async for a in database.articles.find({})}
    assert counted == {slugs[0]: 2, slugs[1]: 1, slugs[2]: 0}
    assert await m0004.up(database, ignore) == 0  # idempotent
    await add_comment(client, jake, slugs[2])  # the API keeps counting after it
    assert (await database.articles.find_one({"slug": slugs[2]}))["comments_count"] == 1
    assert await m0004.down(database, ignore) == 3
    assert await database.articles.count_documents({"comments_count": {"$exists": True}}) == 0


class _Database:
    """The database as migration 0004 sees it, with its `comments` collection replaced."""

    def __init__(self, database, comments) -> None:
        self._database, self.comments = database, comments

    def __getattr__(self, name):
        return getattr(self._database, name)


async def _racing_comments(app, client, times: int):
    """An article whose comments_count is off by 3, and a `comments` collection after whose
    counts another request's comment on it lands (`times` times)."""
    from models import User
    from service.comments.queries import add_comment as store_comment
    from tests.factories import add_comment, create_article
    from tests.races import WriteAfterCounting

    jake = await register(client)
    article = await create_article(client, jake)
    await add_comment(client, jake, article["slug"])
    database = app.state.engine.database
    await database.articles.update_one({"slug": article["slug"]}, {"$inc": {"comments_count": 3}})
    stored = await database.articles.find_one({"slug": article["slug"]})
    author = await User.find_one({"username": jake.username})

    async def another_comment() -> None:
        await store_comment(stored["_id"], author, "meanwhile")

    return stored["_id"], WriteAfterCounting(database.comments, another_comment, times)


async def test_comment_counts_are_exact_when_a_comment_lands_while_they_are_counted(app, client):
    # Migration 0004 used to skip a counter that moved between its read and its fix, and
    # record itself as applied anyway: the drift stayed for good.
    from scripts.migrations import m0004_comment_counts as m0004

    article_id, racing = await _racing_comments(app, client, times=1)
    database = app.state.engine.database
    assert await m0004.up(_Database(database, racing), ignore) == 1
    assert racing.landed == 1
    stored = await database.articles.find_one({"_id": article_id})
    assert stored["comments_count"] == 2 == await database.comments.count_documents(
        {"article_id": article_id})


async def test_comment_counts_still_moving_fail_the_migration_unrecorded(app, client, monkeypatch):
    import dataclasses

    from service.articles import recount as recount_module
    from service.engine.client import supports_transactions

    if await supports_transactions(app.state.engine):
        pytest.skip("with transactions the race is a write conflict that the driver retries")

    monkeypatch.setattr(recount_module, "RECOUNT_ATTEMPTS", 2)
    _, racing = await _racing_comments(app, client, times=100)
    engine = dataclasses.replace(
        app.state.engine, database=_Database(app.state.engine.database, racing))
    with pytest.raises(migrate.MigrationIncomplete, match="comments_count of 1 articles kept moving"):
        await migrate.up(engine, "0004_comment_counts")
    recorded = {entry["_id"] async for entry in collection(AppliedMigration).find({})}
    assert "0004_comment_counts" not in recorded
    assert {"0001_article_computed_fields", "0003_null_profile_fields"} <= recorded


def test_an_incomplete_migration_is_an_operator_error(monkeypatch):
    # `folio` (scripts.cli.main) prints an OperatorError as one `folio: ...` line, status 1.
    from typer.testing import CliRunner

    from scripts.cli import OPERATOR_ERRORS
    from scripts.cli import app as cli

    async def incomplete(*args, **kwargs):
        raise migrate.MigrationIncomplete("0004_comment_counts: 1 kept moving; run it again")

    monkeypatch.setattr(migrate, "up", incomplete)
    result = CliRunner().invoke(cli, ["migrate", "up"])
    assert isinstance(result.exception, OPERATOR_ERRORS)
    assert str(result.exception) == "0004_comment_counts: 1 kept moving; run it again"


async def test_hidden_comment_counts_are_counted_in_and_recount_makes_them_exact(app, client):
    """Issue 18, point 7: migration 0005 backfills `hidden_comments_count` in batches, and
    `folio db recount`'s step settles a wrong one."""
    from scripts.dbtools import recount
    from scripts.migrations import m0005_hidden_comment_counts as m0005
    from tests.factories import add_comment, create_article

    jake = await register(client)
    slugs = [(await create_article(client, jake))["slug"] for _ in range(3)]
    comments = [await add_comment(client, jake, slug) for slug in (slugs[0], slugs[0], slugs[1])]
    database = app.state.engine.database
    await database.comments.update_many(
        {"_id": {"$in": [comments[0]["id"], comments[1]["id"]]}},
        {"$set": {"moderation": {"hidden": True, "reason": "spam", "by": ObjectId(),
                                 "at": datetime.now(UTC)}}})
    # As before the counter existed: none stored.
    await database.articles.update_many({}, {"$unset": {"hidden_comments_count": ""}})
    assert await m0005.up(database, ignore) == 3
    counted = {a["slug"]: a["hidden_comments_count"] async for a in database.articles.find({})}
    assert counted == {slugs[0]: 2, slugs[1]: 0, slugs[2]: 0}
    assert await m0005.up(database, ignore) == 0  # idempotent
    await database.articles.update_one({"slug": slugs[1]}, {"$set": {"hidden_comments_count": 5}})
    found = await recount(app.state.engine, ignore)
    assert found.checked == 3 and found.fixed == [(slugs[1], "hidden_comments_count", 5, 0)]
    assert (await recount(app.state.engine, ignore)).fixed == []
    assert await m0005.down(database, ignore) == 3


async def test_analytics_rollups_are_built_from_the_data_and_down_removes_them(app, client):
    from scripts.migrations import m0007_analytics_rollups as m0007
    from tests.factories import add_comment, create_article, favorite

    jake, ann = await register(client), await register(client)
    article = await create_article(client, jake, tagList=["python", "web"])
    await favorite(client, ann, article["slug"])
    await add_comment(client, ann, article["slug"])
    database = app.state.engine.database
    kept = await database.daily_stats.find({}).to_list(None)
    kept_tags = await database.tag_days.find({}, {"_id": 0, "rebuilt": 0}).sort("tag").to_list(None)
    # As before the rollups existed: none at all.
    assert await m0007.down(database, ignore) == 3
    assert await database.daily_stats.count_documents({}) == 0
    assert await m0007.up(database, ignore) == 1  # one day holds data
    assert await database.daily_stats.find({}).to_list(None) == [
        {**kept[0], "schema_version": 1}]
    assert await database.tag_days.find({}, {"_id": 0, "rebuilt": 0}).sort("tag").to_list(
        None) == [{**tag, "schema_version": 1} for tag in kept_tags]
    assert await m0007.up(database, ignore) == 1  # idempotent
    response = await client.get("/api/analytics/tags", params={"days": 7})
    assert [(t["tag"], t["favorites"]) for t in response.json()["tags"]] == [
        ("python", 1), ("web", 1)]
