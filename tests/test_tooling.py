"""Operator tooling: db schema/sync/check, export/import, and the CLI around them."""

import json

import pytest
from typer.testing import CliRunner

from models import Article, Comment, Favorite, User
from scripts.cli import app as cli
from scripts.dbtools import SyncRefused, check, sync, validator_for
from scripts.dump import ImportRefused, export, import_dump, read_dump
from scripts.seed import SeedPlan, seed
from service.db import collection, open_engine
from service.indexes import declared_indexes, index_drift
from tests.conftest import make_settings

runner = CliRunner()
SMALL = SeedPlan(users=8, articles=30, comments=40, follows=10, favorites=30, random_seed=3)


NO_COLLMOD = pytest.mark.not_on_wire("no collMod, which syncing an existing collection uses")


@NO_COLLMOD
async def test_check_finds_no_drift_after_sync_and_reports_each_kind_of_drift(app):
    engine = app.state.engine
    await sync(engine)
    assert await check(engine) == {}
    await collection(Article).drop_index("tag_published_at")
    await collection(Favorite).create_index("created_at", name="surprise")
    drift = await check(engine)
    assert drift == {
        "articles": ["missing index tag_published_at"],
        "favorites": ["undeclared index surprise"],
    }
    await sync(engine)
    await collection(Favorite).drop_index("surprise")
    assert await check(engine) == {}


def test_index_drift_notices_changed_keys_and_uniqueness():
    declared = {"a": {"name": "a", "key": {"x": 1}, "unique": True}}
    assert index_drift(declared, {"a": {"key": [("x", -1)], "unique": True}}) == [
        "index a differs: {'key': [('x', -1)], 'unique': True} where "
        "{'key': {'x': 1}, 'unique': True} is declared"
    ]
    assert index_drift(declared, {"a": {"key": [("x", 1)]}}) == [
        "index a differs: {'key': [('x', 1)]} where {'key': {'x': 1}, 'unique': True} is declared"
    ]


@NO_COLLMOD
async def test_sync_rebuilds_a_changed_index_only_when_told(app):
    # A changed index under its declared name: MongoDB refuses to create it again (the API
    # used to crash-loop on IndexOptionsConflict); sync asks before dropping it.
    engine = app.state.engine
    await collection(Article).drop_index("created_at")
    await collection(Article).create_index([("created_at", 1)], name="created_at")
    with pytest.raises(SyncRefused, match="articles.created_at exist with other keys"):
        await sync(engine)
    lines = await sync(engine, rebuild_changed=True)
    assert "articles: dropped created_at to rebuild it as declared" in lines
    assert await check(engine) == {}


async def test_the_api_logs_index_drift_at_start_up(caplog, monkeypatch):
    from asgi_lifespan import LifespanManager

    from service.main import create_app

    async def drift():
        return {"articles": ["missing index tag_published_at"]}

    monkeypatch.setattr("service.main.drift_report", drift)
    with caplog.at_level("WARNING", logger="folio.startup"):
        async with LifespanManager(create_app(make_settings())):
            pass
    assert ("index drift in articles: missing index tag_published_at; run `folio db sync`"
            in caplog.text)


async def test_start_up_builds_indexes_only_on_the_embedded_engine():
    settings = make_settings()
    engine = await open_engine(settings)
    try:
        names = set(await collection(Article).index_information())
        if settings.embedded:
            assert "tag_published_at" in names
        else:  # MongoDB: `folio db sync` builds them, never an API process
            assert "tag_published_at" not in names
    finally:
        if not settings.embedded:
            await engine.client.drop_database(settings.database)
        engine.close()

def test_validators_come_from_the_models():
    schema = validator_for(Article)["$jsonSchema"]
    assert schema["required"] == ["slug", "title", "description", "body", "author_id"]
    assert schema["properties"]["_id"] == {"bsonType": "objectId"}
    assert schema["properties"]["author_id"] == {"bsonType": "objectId"}
    assert schema["properties"]["published_at"] == {"bsonType": ["date", "null"]}
    assert schema["properties"]["status"] == {"enum": ["draft", "published"]}
    assert schema["properties"]["tag_list"] == {"bsonType": "array", "items": {"bsonType": "string"}}
    comment = validator_for(Comment)["$jsonSchema"]
    assert comment["properties"]["_id"] == {"bsonType": ["int", "long"]}
    assert "password_hash" in validator_for(User)["$jsonSchema"]["required"]
    assert set(declared_indexes(User)) == {
        "username_unique", "username_key_unique", "email_unique", "role_username", "deleting",
        "created_at",
    }


async def test_export_then_import_into_a_fresh_database_reproduces_every_document(app, tmp_path):
    await seed(SMALL, "hash")
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    counts = await export(app.state.engine, first)
    assert counts["articles"] == 30 and counts["counters"] == 1
    target = await open_engine(make_settings())
    try:
        assert await import_dump(target, first) == counts
        await export(target, second)
    finally:
        target.close()
    assert first.read_text() == second.read_text()
    line = json.loads(first.read_text().splitlines()[0])
    assert set(line) == {"collection", "document"}
    assert "$oid" in line["document"]["_id"] and "$date" in line["document"]["created_at"]


async def test_import_refuses_existing_data_without_drop_and_bad_files(app, tmp_path):
    await seed(SMALL, "hash")
    dump = tmp_path / "dump.jsonl"
    await export(app.state.engine, dump)
    with pytest.raises(ImportRefused, match="already holds"):
        await import_dump(app.state.engine, dump)
    assert (await import_dump(app.state.engine, dump, drop=True))["users"] == 8
    assert await collection(User).count_documents({}) == 8
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"collection": "secrets", "document": {}}\n')
    with pytest.raises(ImportRefused, match="line 1 names an unknown collection"):
        read_dump(bad)
    bad.write_text("not json\n")
    with pytest.raises(ImportRefused, match="line 1 is not a Folio export line"):
        read_dump(bad)


def test_cli_help_documents_every_command():
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "seed", "migrate", "db", "export", "import"):
        assert command in result.output
    seed_help = runner.invoke(cli, ["seed", "--help"]).output
    for option in ("--users", "--articles", "--comments", "--follows", "--favorites",
                   "--random-seed", "--drop", "--append", "--url", "--db"):
        assert option in seed_help
    assert "--to" in runner.invoke(cli, ["migrate", "down", "--help"]).output


def test_cli_seed_migrate_and_db_commands_run_on_the_embedded_engine(tmp_path):
    seeded = runner.invoke(cli, ["seed", "--users", "3", "--articles", "5", "--comments", "2",
                                 "--follows", "2", "--favorites", "2"])
    assert seeded.exit_code == 0, seeded.output
    assert "documents/s" in seeded.output
    assert runner.invoke(cli, ["migrate", "up"]).exit_code == 0
    assert runner.invoke(cli, ["migrate", "down", "--to", "nope"]).exit_code == 2
    assert runner.invoke(cli, ["db", "sync"]).exit_code == 0
    checked = runner.invoke(cli, ["db", "check"])
    assert checked.exit_code == 0 and "No drift" in checked.output
    schema = json.loads(runner.invoke(cli, ["db", "schema"]).output)
    assert set(schema) == {"users", "follows", "articles", "favorites", "comments", "counters",
                           "migrations", "article_revisions", "reports", "moderation_log",
                           "daily_stats", "tag_days"}


async def test_serve_load_starts_the_embedded_engine_from_an_export(app, tmp_path):
    import httpx
    from asgi_lifespan import LifespanManager

    from scripts.serve import load_export
    from service.main import create_app

    await seed(SMALL, "hash")
    dump = tmp_path / "demo.jsonl"
    await export(app.state.engine, dump)
    loaded = create_app(make_settings(load=str(dump)), startup_tasks=[load_export])
    async with LifespanManager(loaded):
        transport = httpx.ASGITransport(app=loaded)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            users = (await client.get("/api/analytics/overview?days=1")).json()["totals"]["users"]
    if loaded.state.engine.embedded:
        assert users == 8


async def test_an_import_whose_documents_are_refused_says_so(app, tmp_path):
    from bson import ObjectId
    from bson.json_util import dumps

    duplicate = ObjectId()
    lines = [dumps({"collection": "users", "document": {
        "_id": duplicate, "username": f"x{n}", "email": f"x{n}@example.com", "password_hash": "h"}})
        for n in range(2)]
    dump = tmp_path / "twice.jsonl"
    dump.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRefused, match="1 users documents were refused"):
        await import_dump(app.state.engine, dump)


async def test_recount_fixes_drifted_favorite_counters_and_reports_them(app, client):
    from scripts.dbtools import recount
    from tests.factories import create_article, favorite, register

    jake, anna, bob = await register(client), await register(client), await register(client)
    drifted = await create_article(client, jake)
    exact = await create_article(client, jake)
    for fan in (anna, bob):
        await favorite(client, fan, drifted["slug"])
    await favorite(client, anna, exact["slug"])
    # As after a failover on a standalone server: the counter moved once too often.
    await collection(Article).update_one({"slug": drifted["slug"]}, {"$inc": {"favorites_count": 1}})
    batches: list[int] = []
    found = await recount(app.state.engine, batches.append)
    assert (found.checked, found.moved_meanwhile) == (2, [])
    assert found.fixed == [(drifted["slug"], "favorites_count", 3, 2)]
    assert batches == [2]
    article = (await client.get(f"/api/articles/{drifted['slug']}")).json()["article"]
    assert article["favoritesCount"] == 2
    assert (await recount(app.state.engine, batches.append)).fixed == []  # settled


async def test_recount_fixes_comment_counters_and_backfills_missing_ones(app, client):
    from scripts.dbtools import recount
    from tests.factories import add_comment, create_article, register

    jake = await register(client)
    drifted, missing = await create_article(client, jake), await create_article(client, jake)
    for slug in (drifted["slug"], missing["slug"], missing["slug"]):
        await add_comment(client, jake, slug)
    await collection(Article).update_one({"slug": drifted["slug"]}, {"$inc": {"comments_count": 4}})
    await collection(Article).update_one({"slug": missing["slug"]}, {"$unset": {"comments_count": 1}})
    found = await recount(app.state.engine, lambda n: None)
    assert sorted(found.fixed) == [(drifted["slug"], "comments_count", 5, 1),
                                   (missing["slug"], "comments_count", 0, 2)]
    stored = {a["slug"]: a["comments_count"] async for a in collection(Article).find({})}
    assert stored == {drifted["slug"]: 1, missing["slug"]: 2}


async def test_recount_rebuilds_drifted_analytics_rollups(app, client):
    from scripts.dbtools import recount_rollups
    from tests.factories import create_article, favorite, register

    jake, ann = await register(client), await register(client)
    article = await create_article(client, jake, tagList=["python"])
    await favorite(client, ann, article["slug"])
    database = app.state.engine.database
    # Drift as a lost `$inc` or a bulk deletion leaves it: wrong counts, and a tag of nothing.
    await database.daily_stats.update_many({}, {"$inc": {"comments": 5, "articles": -1}})
    await database.tag_days.insert_one({"_id": "2026-01-01/gone", "day": "2026-01-01",
                                        "week": "2026-W01", "tag": "gone", "articles": 3,
                                        "favorites": 0})
    assert await recount_rollups(app.state.engine, lambda n: None) == 2  # 2026-01-01 and today
    [today] = await database.daily_stats.find({"articles": {"$ne": 0}}).to_list(None)
    assert (today["articles"], today["comments"], today["users"]) == (1, 0, 2)
    assert [(t["tag"], t["favorites"]) async for t in database.tag_days.find({})] == [("python", 1)]


def test_cli_recount_runs_on_the_embedded_engine():
    result = runner.invoke(cli, ["db", "recount"])
    assert result.exit_code == 0, result.output
    assert "Checked 0 articles, fixed 0." in result.output
