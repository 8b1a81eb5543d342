"""The media library's uploads over their life: account deletion removes them, `folio media gc`
removes unused ones, `folio db check` finds what is out of place, export and import carry them.

Uploads are written directly in the standard GridFS layout (tests/media_docs.py). The
expectations hold on every engine.
"""

from datetime import timedelta

import pytest
from bson import ObjectId

from models import Media, User
from models.common import utc_now
from scripts.dump import export, import_dump
from scripts.mediatools import media_findings, remove_strays
from service.deletion import accounts as deletion
from service.deletion import owned
from service.engine import open_engine
from service.media import gc, purge
from tests import oplog
from tests.conftest import REAL_MONGODB_URL, make_settings
from tests.factories import PASSWORD, create_article, register
from tests.index_coverage import problems
from tests.media_docs import bucket, insert_media, store_file, user_id

OLD = timedelta(days=30)
GRACE = timedelta(days=7)


def unserved(log) -> list[str]:
    """Operations no declared index serves: the models' by tests/index_coverage.py, the
    bucket's by the indexes every GridFS driver creates (`_id`; chunks' files_id, n)."""
    found = []
    for op in log.details:
        if op.collection.startswith("media."):
            if op.filter is not None and not set(op.filter) <= {"_id", "files_id"}:
                found.append(f"{op.collection}: {op.filter}")
        else:
            found += problems(op)
    return found


async def files_of(media: dict) -> list:
    ids = [r["file_id"] for r in media["renditions"].values()]
    return await bucket("files").find({"_id": {"$in": ids}}).to_list(None)


async def chunks_of(media: dict) -> list:
    ids = [r["file_id"] for r in media["renditions"].values()]
    return await bucket("chunks").find({"files_id": {"$in": ids}}).to_list(None)


async def exists(media: dict) -> bool:
    return await Media.get_motor_collection().count_documents({"_id": media["_id"]}) == 1


async def quota(username: str) -> int:
    found = await User.get_motor_collection().find_one({"username": username})
    return found.get("media_bytes", 0)


# Account deletion -------------------------------------------------------------------------------

async def test_deleting_an_account_removes_its_uploads_and_their_files(client, monkeypatch):
    monkeypatch.setattr(owned, "BATCH_SIZE", 2)
    jake, jane = await register(client), await register(client)
    mine = [await insert_media(await user_id(jake.username), size=300_000) for _ in range(5)]
    theirs = await insert_media(await user_id(jane.username))
    await create_article(client, jake, coverImage={"mediaId": str(mine[0]["_id"]), "alt": "a"})
    assert len(await chunks_of(mine[0])) == 4  # two renditions of 300,000 bytes: 2 chunks each
    response = await client.request("DELETE", "/api/user", json={"user": {"password": PASSWORD}},
                                    headers=jake.headers)
    assert response.status_code == 204
    await deletion.finish_marked()
    for media in mine:
        assert not await exists(media)
        assert await files_of(media) == [] and await chunks_of(media) == []
    assert await exists(theirs) and len(await files_of(theirs)) == 2
    assert await User.get_motor_collection().count_documents({"username": jake.username}) == 0


async def test_an_interrupted_media_removal_resumes_to_completion(client, monkeypatch):
    monkeypatch.setattr(owned, "BATCH_SIZE", 2)
    jake = await register(client)
    mine = [await insert_media(await user_id(jake.username)) for _ in range(3)]
    real = purge.finish_deletion
    calls = []

    async def failing(media):
        calls.append(media["_id"])
        if len(calls) == 2:
            raise RuntimeError("the process stopped here")
        return await real(media)

    monkeypatch.setattr(purge, "finish_deletion", failing)
    response = await client.request("DELETE", "/api/user", json={"user": {"password": PASSWORD}},
                                    headers=jake.headers)
    assert response.status_code == 204
    # The second upload was marked, its files not deleted: gone for the API, still stored.
    second = await Media.get_motor_collection().find_one({"_id": mine[1]["_id"]})
    assert second is not None and second["deleting"] is not None
    monkeypatch.setattr(purge, "finish_deletion", real)
    with oplog.recording() as log:
        done, busy = await deletion.finish_marked()
    assert unserved(log) == []
    assert [d.username for d in done] == [jake.username] and busy == []
    for media in mine:
        assert not await exists(media) and await chunks_of(media) == []
    assert (await media_findings()).counts == {}


# folio media gc ---------------------------------------------------------------------------------

async def test_gc_removes_old_unused_uploads_and_keeps_used_and_young_ones(client):
    jake, jane = await register(client), await register(client)
    jake_id = await user_id(jake.username)
    unused = await insert_media(jake_id, age=OLD)
    cover = await insert_media(jake_id, age=OLD)
    embedded = await insert_media(jake_id, age=OLD)
    young = await insert_media(jake_id, age=timedelta(days=1))
    await create_article(client, jake, coverImage={"mediaId": str(cover["_id"]), "alt": "a"})
    # Someone else's draft embeds it by absolute URL: still used.
    await create_article(client, jane, status="draft",
                         body=f"![x](https://old.example/api/media/{embedded['_id']}/w320)")
    before = await quota(jake.username)
    with oplog.recording() as log:
        result = await gc.collect(GRACE)
    assert unserved(log) == []
    assert (result.scanned, result.removed, result.finished) == (3, 1, 0)
    assert result.removed_ids == [str(unused["_id"])]
    assert result.freed_bytes == unused["stored_bytes"]
    assert not await exists(unused) and await chunks_of(unused) == [] and await files_of(unused) == []
    for kept in (cover, embedded, young):
        assert await exists(kept) and len(await files_of(kept)) == 2
    assert await quota(jake.username) == before - unused["stored_bytes"]
    again = await gc.collect(GRACE)
    assert again.removed == 0 and again.scanned == 2


async def test_gc_finishes_a_removal_a_stopped_run_left_marked(client):
    jake = await register(client)
    media = await insert_media(await user_id(jake.username), age=OLD)
    assert await purge.mark_deleting(media) is not None
    assert await quota(jake.username) == media["stored_bytes"]  # given back with the document
    result = await gc.collect(GRACE)
    assert (result.finished, result.removed) == (1, 0)
    assert not await exists(media) and await chunks_of(media) == []
    assert await quota(jake.username) == 0
    assert (await gc.collect(GRACE)).finished == 0 and await quota(jake.username) == 0


async def test_gc_takes_back_its_mark_when_an_article_started_using_the_upload(client, monkeypatch):
    jake = await register(client)
    media = await insert_media(await user_id(jake.username), age=OLD)
    await create_article(client, jake, coverImage={"mediaId": str(media["_id"]), "alt": "a"})
    real, calls = gc.used_among, []

    async def first_look_misses(ids):
        calls.append(ids)
        return set() if len(calls) == 1 else await real(ids)  # the cover landed in between

    monkeypatch.setattr(gc, "used_among", first_look_misses)
    before = await quota(jake.username)
    result = await gc.collect(GRACE)
    assert result.removed == 0 and len(calls) == 2
    stored = await Media.get_motor_collection().find_one({"_id": media["_id"]})
    assert stored["deleting"] is None and len(await files_of(media)) == 2
    assert await quota(jake.username) == before


# folio db check ---------------------------------------------------------------------------------

async def test_db_check_finds_orphaned_chunks_stray_files_and_ownerless_media(client):
    jake = await register(client)
    owner = await user_id(jake.username)
    healthy = await insert_media(owner, age=OLD)
    long_ago = utc_now() - OLD
    # Orphaned chunks: their files document is gone (old ones only).
    gone_file = await store_file(ObjectId(), owner, "w320", "image/webp", b"x" * 10, long_ago)
    await bucket("files").delete_one({"_id": gone_file})
    await bucket("chunks").update_many({"files_id": gone_file},
                                       {"$set": {"note": "old"}})
    old_chunk = ObjectId.from_datetime(long_ago)
    await bucket("chunks").delete_many({"files_id": gone_file})
    await bucket("chunks").insert_one({"_id": old_chunk, "files_id": gone_file, "n": 0,
                                       "data": b"x"})
    await bucket("chunks").insert_one({"files_id": ObjectId(), "n": 0, "data": b"in flight"})
    # A file whose upload has no media document (old), and one still in flight (young).
    stray = await store_file(ObjectId(), owner, "original", "image/png", b"y" * 10, long_ago)
    await store_file(ObjectId(), owner, "original", "image/png", b"z" * 10, utc_now())
    # Media whose owner is gone.
    ownerless = await insert_media(ObjectId(), age=OLD)
    findings = await media_findings()
    assert findings.counts == {"orphaned chunks": 1, "files without metadata": 1,
                               "media whose owner is gone": 1}
    assert str(stray) in findings.lines["files without metadata"][0]
    assert str(ownerless["_id"]) in findings.lines["media whose owner is gone"][0]
    removed = await remove_strays(GRACE)
    assert (removed.files, removed.chunks) == (1, 2)  # the stray file's chunk and the orphan
    assert (await media_findings()).counts == {"media whose owner is gone": 1}
    assert len(await files_of(healthy)) == 2


async def test_db_check_finds_media_missing_files(client):
    jake = await register(client)
    media = await insert_media(await user_id(jake.username))
    await bucket("files").delete_one({"_id": media["renditions"]["w320"]["file_id"]})
    findings = await media_findings()
    assert findings.counts["media missing files"] == 1
    assert "w320" in findings.lines["media missing files"][0]


# folio export / import --------------------------------------------------------------------------

async def test_export_and_import_carry_uploads_and_their_bytes(app, client, tmp_path):
    jake = await register(client)
    media = await insert_media(await user_id(jake.username), size=300_000)
    chunks = sorted((c["files_id"], c["n"], bytes(c["data"])) for c in await chunks_of(media))
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    counts = await export(app.state.engine, first)
    assert counts["media"] == 1 and counts["media.files"] == 2 and counts["media.chunks"] == 4
    assert '"$binary"' in first.read_text()
    target = await open_engine(make_settings())
    try:
        assert await import_dump(target, first) == counts
        copied = await target.database["media.chunks"].find({}).to_list(None)
        assert sorted((c["files_id"], c["n"], bytes(c["data"])) for c in copied) == chunks
        names = await target.database["media.chunks"].index_information()
        assert any(spec["key"] == [("files_id", 1), ("n", 1)] and spec.get("unique")
                   for spec in names.values())
        await export(target, second)
    finally:
        if not target.embedded:
            await target.client.drop_database(target.database.name)
        target.close()
    assert first.read_text() == second.read_text()


@pytest.mark.parametrize("drop", [False, True])
async def test_import_counts_the_bucket_as_existing_data(app, client, tmp_path, drop):
    from scripts.dump import ImportRefused

    jake = await register(client)
    await insert_media(await user_id(jake.username))
    dump = tmp_path / "dump.jsonl"
    await export(app.state.engine, dump)
    await Media.get_motor_collection().delete_many({})
    await User.get_motor_collection().delete_many({})
    if not drop:
        with pytest.raises(ImportRefused, match="already holds"):
            await import_dump(app.state.engine, dump)
    else:
        counts = await import_dump(app.state.engine, dump, drop=True)
        assert counts["media.files"] == 2
        assert await bucket("files").count_documents({}) == 2


# The commands -----------------------------------------------------------------------------------

def test_media_gc_on_the_embedded_engine_is_one_line():
    from tests.test_cli import assert_one_line_failure, folio

    assert_one_line_failure(folio("media", "gc"), "the embedded engine starts empty")


@pytest.mark.skipif(REAL_MONGODB_URL is None, reason="the commands run on a server's database")
async def test_media_gc_and_db_check_report_on_a_server(app, client):
    import asyncio

    from tests.test_cli import folio

    jake = await register(client)
    unused = await insert_media(await user_id(jake.username), age=OLD)
    stray = await store_file(ObjectId(), unused["owner_id"], "original", "image/png", b"y",
                             utc_now() - OLD)
    where = ["--url", REAL_MONGODB_URL, "--db", app.state.settings.database]
    env = {"FOLIO_JWT_SECRET": "s" * 40}
    check = await asyncio.to_thread(folio, "db", "check", *where, env=env)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"media: files without metadata: file {stray}" in check.stderr  # the console's
    result = await asyncio.to_thread(folio, "media", "gc", *where, env=env)
    assert result.returncode == 0, result.stderr
    assert f"removed media {unused['_id']}" in result.stderr
    assert "Removed 1 unused uploads" in result.stderr
    assert "1 files without metadata" in result.stderr
    assert not await exists(unused)
