"""Operator tooling: db schema/sync/check, export/import, and the CLI around them."""

import json

import pytest
from typer.testing import CliRunner

from models import Article, Comment, Favorite, Report, User
from scripts.cli import OperatorError
from scripts.cli import app as cli
from scripts.dbtools import SyncRefused, check, sync, validator_for
from scripts.dump import ImportRefused, export, import_dump, read_dump
from scripts.seed import SeedPlan, seed
from service.engine.client import collection, open_engine
from service.engine.indexes import declared_indexes, index_drift
from tests.conftest import make_settings
from tests.factories import write_export

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
        "index a differs in key: {'key': {'x': -1}} where {'key': {'x': 1}} is declared"
    ]
    assert index_drift(declared, {"a": {"key": [("x", 1)]}}) == [
        "index a differs in unique: {'key': {'x': 1}} where {'key': {'x': 1}, 'unique': True} "
        "is declared"
    ]


def test_index_drift_compares_every_option_that_makes_an_index_different():
    """Issue 18, point 18: each of these makes MongoDB's createIndexes fail with
    IndexOptionsConflict under the same name; drift must name it."""
    partial = {"a": {"name": "a", "key": {"x": 1}, "unique": True,
                     "partialFilterExpression": {"status": "open"}}}
    assert index_drift(partial, {"a": {"key": [("x", 1)], "unique": True}}) == [
        "index a differs in partialFilterExpression: {'key': {'x': 1}} where {'key': {'x': 1}, "
        "'partialFilterExpression': {'status': 'open'}} is declared"
    ]
    assert index_drift(partial, {"a": {"key": [("x", 1)], "unique": True,
                                       "partialFilterExpression": {"status": "open"}}}) == []
    ttl = {"t": {"name": "t", "key": {"at": 1}, "expireAfterSeconds": 3600}}
    assert index_drift(ttl, {"t": {"key": [("at", 1)], "expireAfterSeconds": 60}})[0].startswith(
        "index t differs in expireAfterSeconds")
    assert index_drift(ttl, {"t": {"key": [("at", 1)], "expireAfterSeconds": 3600}}) == []
    # MongoDB reports a collation with its defaults filled in: the declared fields decide.
    folded = {"u": {"name": "u", "key": {"n": 1}, "collation": {"locale": "en", "strength": 2}}}
    reported = {"locale": "en", "strength": 2, "caseLevel": False, "version": "57.1"}
    assert index_drift(folded, {"u": {"key": [("n", 1)], "collation": reported}}) == []
    assert "differs in collation" in index_drift(folded, {"u": {"key": [("n", 1)]}})[0]
    plain = {"u": {"name": "u", "key": {"n": 1}}}
    assert "differs in collation" in index_drift(plain, {"u": {"key": [("n", 1)],
                                                               "collation": reported}})[0]
    text = {"s": {"name": "s", "key": {"title": "text"}, "weights": {"title": 10},
                  "default_language": "english"}}
    on_mongodb = {"key": [("_fts", "text"), ("_ftsx", 1)], "weights": {"title": 10},
                  "default_language": "english", "language_override": "language"}
    assert index_drift(text, {"s": on_mongodb}) == []
    assert "differs in default_language" in index_drift(
        text, {"s": {**on_mongodb, "default_language": "none"}})[0]
    # The embedded engine keeps no collation or text options: nothing there to compare.
    assert index_drift(folded, {"u": {"key": [("n", 1)]}}, unrecorded={"collation"}) == []


def test_index_drift_names_declared_keys_held_under_another_name():
    declared = {"a": {"name": "a", "key": {"x": 1}}}
    assert index_drift(declared, {"x_1": {"key": [("x", 1)]}}) == [
        "index a exists as x_1 (same keys, another name)"
    ]


@NO_COLLMOD
async def test_sync_refuses_an_index_whose_partial_filter_changed_in_one_line(app):
    """Issue 18, point 18: the unique open-report index rebuilt without its partial filter
    used to pass drift and fail MongoDB's createIndexes with a raw IndexOptionsConflict."""
    engine = app.state.engine
    reports = collection(Report)
    await reports.drop_index("open_report_unique")
    await reports.create_index([("reporter_id", 1), ("article_id", 1), ("comment_id", 1)],
                               name="open_report_unique", unique=True)
    with pytest.raises(SyncRefused) as refused:
        await sync(engine)
    assert "reports.open_report_unique exist with other keys, options" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert "partialFilterExpression" in (await check(engine))["reports"][0]
    lines = await sync(engine, rebuild_changed=True)
    assert "reports: dropped open_report_unique to rebuild it as declared" in lines
    assert await check(engine) == {}


@NO_COLLMOD
async def test_sync_refuses_declared_keys_held_under_another_name(app):
    engine = app.state.engine
    await collection(Article).drop_index("created_at")
    await collection(Article).create_index([("created_at", -1), ("_id", -1)], name="old_name")
    with pytest.raises(SyncRefused, match="articles.old_name exist"):
        await sync(engine)
    assert await check(engine) == {"articles": ["index created_at exists as old_name "
                                                "(same keys, another name)"]}
    await sync(engine, rebuild_changed=True)
    assert await check(engine) == {}


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
    # "deleted" marks an article whose deletion has started (service/deletion/articles.py).
    assert schema["properties"]["status"] == {"enum": ["draft", "published", "deleted"]}
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
    unknown = runner.invoke(cli, ["migrate", "down", "--to", "nope"])
    assert isinstance(unknown.exception, OperatorError)  # `main` prints it as one `folio:` line
    assert str(unknown.exception) == "no migration 'nope'; see `folio migrate status`"
    synced = runner.invoke(cli, ["db", "sync"])
    assert synced.exit_code == 0
    if "validator skipped" in synced.output:  # the embedded engine: every line says so whole
        assert "validator the embedded" not in synced.output
        assert "migrations: created; validator skipped: the embedded engine" in synced.output
    checked = runner.invoke(cli, ["db", "check"])
    assert checked.exit_code == 0 and "No drift" in checked.output
    schema = json.loads(runner.invoke(cli, ["db", "schema"]).output)
    assert set(schema) == {"users", "follows", "articles", "favorites", "comments", "counters",
                           "migrations", "article_revisions", "reports", "moderation_log",
                           "report_sweeps", "tags",
                           "daily_stats", "tag_days", "media"}


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

    # The same email twice: only the unique index can tell, so only inserting finds it.
    dump = write_export(tmp_path / "twice.jsonl", [("users", {
        "_id": ObjectId(), "username": f"x{n}", "username_key": f"x{n}",
        "email": "x@example.com", "password_hash": "h"}) for n in range(2)])
    with pytest.raises(ImportRefused, match="1 users documents were refused"):
        await import_dump(app.state.engine, dump)


def test_a_repeated_id_is_refused_before_anything_is_written(tmp_path):
    from bson import ObjectId

    same = ObjectId()
    dump = write_export(tmp_path / "twice.jsonl", [
        ("users", {"_id": same, "username": f"x{n}"}) for n in range(2)])
    with pytest.raises(ImportRefused, match=f"line 2: a second users document with the _id .*{same}"):
        read_dump(dump)


def _complete_export(path):
    from bson import ObjectId

    return write_export(path, [("users", {"_id": ObjectId(), "username": f"u{n}"}) for n in range(3)])


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda lines: [], "ends without the trailer"),
    (lambda lines: lines[:-1], "ends without the trailer"),  # cut at a line boundary
    (lambda lines: lines[:2], "ends without the trailer"),
    (lambda lines: [lines[0], lines[2], lines[3]], "other documents than its trailer counts"),
    (lambda lines: [lines[0].replace("u0", "u9"), *lines[1:]], "checksum does not match"),
    (lambda lines: [*lines, lines[0]], "line 5 follows the export's trailer"),
], ids=["empty", "no-trailer", "cut", "line-missing", "changed", "after-trailer"])
def test_an_incomplete_or_changed_export_is_refused(tmp_path, damage, expected):
    dump = _complete_export(tmp_path / "dump.jsonl")
    assert read_dump(dump).counts()["users"] == 3
    lines = dump.read_text().splitlines(keepends=True)
    dump.write_text("".join(damage(lines)))
    with pytest.raises(ImportRefused, match=expected):
        read_dump(dump)


async def _prepared_as_compose(engine, *, synced: bool = False) -> list[str]:
    """`folio db sync && folio migrate up`, as compose's `migrate` service runs them.

    `synced`: the test's own database on a server, which its fixture synced already (a second
    sync would need `collMod`, which the wire tier's server lacks).
    """
    from scripts import migrate

    if not synced:
        await sync(engine)
    await migrate.up(engine)
    return [state.migration.id for state in await migrate.status(engine)]


async def test_import_into_a_database_compose_prepared_keeps_its_ledger(app, tmp_path):
    from scripts import migrate
    from scripts.dump import trailer_of

    every = await _prepared_as_compose(app.state.engine, synced=not app.state.engine.embedded)
    await seed(SMALL, "hash")
    dump = tmp_path / "dump.jsonl"
    await export(app.state.engine, dump)
    assert trailer_of(dump)["schema"] == every
    target = await open_engine(make_settings())
    try:
        await _prepared_as_compose(target)
        counts = await import_dump(target, dump)  # the ledger is not data: not "not empty"
        assert counts["users"] == 8
        counts = await import_dump(target, dump, drop=True)
        assert counts["users"] == 8
        states = await migrate.status(target)
        assert all(state.applied_at is not None for state in states)  # --drop kept the ledger
        assert await migrate.up(target) == []
    finally:
        target.close()


async def test_import_refuses_an_export_at_another_schema_than_the_ledger(app, tmp_path):
    from scripts import migrate

    await seed(SMALL, "hash")  # no migration recorded: the export is at `base`
    dump = tmp_path / "dump.jsonl"
    await export(app.state.engine, dump)
    target = await open_engine(make_settings())
    try:
        every = await _prepared_as_compose(target)
        with pytest.raises(ImportRefused, match=(
                f"the export's data is at schema base but this database's ledger is at "
                f"{every[-1]}: run `folio migrate down --to base`")):
            await import_dump(target, dump)
        await migrate.down(target, "base")
        assert (await import_dump(target, dump))["users"] == 8  # then `folio migrate up`
    finally:
        target.close()


async def test_an_empty_ledger_takes_the_exports_schema(app, tmp_path):
    from scripts import migrate

    every = await _prepared_as_compose(app.state.engine, synced=not app.state.engine.embedded)
    dump = tmp_path / "dump.jsonl"
    await export(app.state.engine, dump)
    target = await open_engine(make_settings())
    try:
        await import_dump(target, dump)
        assert [s.migration.id for s in await migrate.status(target) if s.applied_at] == every
    finally:
        target.close()


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
    assert sorted(found.fixed) == sorted([(drifted["slug"], "comments_count", 5, 1),
                                          (missing["slug"], "comments_count", 0, 2)])
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


async def test_recount_is_exact_when_a_favorite_lands_between_the_count_and_the_fix(
    app, client, monkeypatch
):
    # It used to read the counter, count, then fix only if the counter had not moved: a
    # favorite landing in between left the drifted counter as it was ("changed while checked").
    import scripts.dbtools as dbtools
    from service.articles import counters
    from tests.factories import create_article, favorite, register
    from tests.races import WriteAfterCounting

    jake, anna, carl = await register(client), await register(client), await register(client)
    drifted = await create_article(client, jake)
    await favorite(client, anna, drifted["slug"])
    await collection(Article).update_one({"slug": drifted["slug"]}, {"$inc": {"favorites_count": 2}})
    carl_id = (await collection(User).find_one({"username": carl.username}))["_id"]

    async def carl_favorites() -> None:  # another request, through the API's own write
        article = await collection(Article).find_one({"slug": drifted["slug"]})
        await counters.favorite(article, carl_id)

    racing = WriteAfterCounting(collection(Favorite), carl_favorites)
    original = dbtools.collection
    monkeypatch.setattr(dbtools, "collection",
                        lambda model: racing if model is Favorite else original(model))
    found = await dbtools.recount(app.state.engine, lambda n: None)
    monkeypatch.setattr(dbtools, "collection", original)
    assert racing.landed == 1 and found.moved_meanwhile == []
    stored = await collection(Article).find_one({"slug": drifted["slug"]})
    assert stored["favorites_count"] == 2 == await collection(Favorite).count_documents(
        {"article_id": stored["_id"]})
    assert found.fixed == [(drifted["slug"], "favorites_count", 4, 2)]


async def test_recount_reports_a_counter_that_never_stops_moving(app, client, monkeypatch):
    from service.engine.client import supports_transactions

    if await supports_transactions(app.state.engine):
        pytest.skip("with transactions the race is a write conflict that the driver retries")
    import scripts.dbtools as dbtools
    from service.articles import counters
    from service.articles import recount as recount_module
    from tests.factories import create_article, register
    from tests.races import WriteAfterCounting

    jake = await register(client)
    busy = await create_article(client, jake)
    await collection(Article).update_one({"slug": busy["slug"]}, {"$inc": {"favorites_count": 5}})
    fans = [(await register(client)).username for _ in range(40)]
    fan_ids = [(await collection(User).find_one({"username": name}))["_id"] for name in fans]

    async def another_favorite() -> None:
        article = await collection(Article).find_one({"slug": busy["slug"]})
        await counters.favorite(article, fan_ids.pop())

    monkeypatch.setattr(recount_module, "RECOUNT_ATTEMPTS", 2)
    racing = WriteAfterCounting(collection(Favorite), another_favorite, times=40)
    original = dbtools.collection
    monkeypatch.setattr(dbtools, "collection",
                        lambda model: racing if model is Favorite else original(model))
    found = await dbtools.recount(app.state.engine, lambda n: None)
    assert found.moved_meanwhile == [(busy["slug"], "favorites_count")]
    # Every pass over it (the first, then SETTLE_ROUNDS more) tried RECOUNT_ATTEMPTS times.
    assert racing.landed == 1 + (1 + recount_module.SETTLE_ROUNDS) * 2


async def test_recount_removes_orphans_but_never_what_a_deletion_in_progress_owns(
    app, client, monkeypatch
):
    # What a deletion stopped part-way (or a write landing after its last sweep) leaves behind
    # would stay for good: favorites counted in `?favorited=`, reports in the queue.
    from models import ArticleRevision, Report
    from scripts import orphans
    from scripts.dbtools import recount
    from service.deletion import accounts as deletion
    from tests.factories import add_comment, create_article, favorite, register

    monkeypatch.setattr(orphans, "BATCH_SIZE", 2)  # several batches per collection
    jake, gone, leaving, anna = [await register(client) for _ in range(4)]
    kept = await create_article(client, jake)
    doomed = await create_article(client, jake)
    await client.put(f"/api/articles/{doomed['slug']}",
                     json={"article": {"body": "a revision"}}, headers=jake.headers)
    for fan in (gone, leaving, anna):
        await favorite(client, fan, kept["slug"])
        await favorite(client, fan, doomed["slug"])
    rude = await add_comment(client, gone, kept["slug"])
    await add_comment(client, leaving, kept["slug"])
    await add_comment(client, anna, doomed["slug"])
    await client.post(f"/api/articles/{kept['slug']}/comments/{rude['id']}/reports",
                      json={"report": {"reason": "abuse"}}, headers=anna.headers)
    await client.post(f"/api/articles/{doomed['slug']}/reports",
                      json={"report": {"reason": "spam"}}, headers=anna.headers)
    await client.post(f"/api/articles/{kept['slug']}/reports",
                      json={"report": {"reason": "spam"}}, headers=gone.headers)
    users = {u["username"]: u["_id"] async for u in collection(User).find({})}
    doomed_id = (await collection(Article).find_one({"slug": doomed["slug"]}))["_id"]
    kept_id = (await collection(Article).find_one({"slug": kept["slug"]}))["_id"]
    assert await collection(ArticleRevision).count_documents({"article_id": doomed_id}) == 1
    # Left behind: the article and one account removed alone, as by a deletion that stopped.
    await collection(Article).delete_one({"_id": doomed_id})
    await collection(User).delete_one({"_id": users[gone.username]})
    # Being deleted: marked, not finished. What names it is its deletion's to remove.
    assert await deletion.mark(users[leaving.username])

    found = await recount(app.state.engine, lambda n: None)
    assert dict(found.orphans) == {"favorites": 4, "comments": 2, "reports": 3, "revisions": 1}
    assert await collection(Favorite).count_documents({"article_id": doomed_id}) == 0
    assert await collection(Favorite).count_documents({"user_id": users[gone.username]}) == 0
    assert {f["user_id"] async for f in collection(Favorite).find({})} == {
        users[leaving.username], users[anna.username]}
    assert [c["author_id"] async for c in collection(Comment).find({})] == [users[leaving.username]]
    assert await collection(Report).count_documents({}) == 0
    assert await collection(ArticleRevision).count_documents({}) == 0
    # The kept article's counters no longer count what was removed from it.
    stored = await collection(Article).find_one({"_id": kept_id})
    assert (stored["favorites_count"], stored["comments_count"]) == (2, 1)
    assert (kept["slug"], "favorites_count", 3, 2) in found.fixed
    again = await recount(app.state.engine, lambda n: None)
    assert sum(again.orphans.values()) == 0 and again.fixed == []


def test_cli_recount_reports_the_orphans_it_removed():
    result = runner.invoke(cli, ["db", "recount"])
    assert result.exit_code == 0, result.output
    assert "Removed 0 orphans. Checked 0 articles, fixed 0." in result.output
def test_opentelemetry_requirements_are_bounded_to_one_release_train():
    # Open ranges let pip walk back through ~30 releases of each package on install, looking
    # for instrumentations whose exact semantic-conventions pin fits the newest SDK patch.
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    trains = set()
    for extra in ("otel", "test"):
        wanted = [Requirement(r) for r in project["project"]["optional-dependencies"][extra]
                  if r.startswith("opentelemetry")]
        assert len(wanted) == 4, extra
        pinned = {}
        for requirement in wanted:
            (spec,) = requirement.specifier
            assert spec.operator == "==", requirement
            pinned[requirement.name] = spec.version
        sdk = pinned["opentelemetry-sdk"]
        assert pinned["opentelemetry-exporter-otlp"] == sdk, extra
        minor, patch = (int(part) for part in sdk.split(".")[1:3])
        for name in ("opentelemetry-instrumentation-fastapi", "opentelemetry-instrumentation-pymongo"):
            assert pinned[name] == f"0.{minor + 21}b{patch}", (extra, name)  # 1.N.x <-> 0.(N+21)bx
        trains.add(sdk)
    assert len(trains) == 1  # the extras agree


async def test_an_app_is_freed_once_its_test_is_done(settings):
    # FastAPI's endpoint caches held every app's /docs and /openapi.json endpoints, and with
    # them the app: the suite ended holding ~1,000 apps (~1.3 GB) and a long GC at exit.
    import gc
    import weakref

    from service.main import create_app
    from tests.conftest import client_for, release_apps, serving

    async with serving(create_app(settings)) as application:
        async with client_for(application) as client:
            assert (await client.get("/api/tags")).status_code == 200
        kept = weakref.ref(application)
    del application, client  # the closed client still names its transport, and so the app
    release_apps()
    gc.collect()
    assert kept() is None
