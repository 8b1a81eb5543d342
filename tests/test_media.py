"""The media library (issue 22): upload, quota, CRUD, and serving the bytes from GridFS.

Every expectation here holds on every engine (the embedded one, the wire tier, MongoDB), unless
a test says otherwise. Image processing itself (sniffing, cleaning, variants) is
service/media/images.py's, tested on its own; these tests use real images through it, and a
test double where only its interface matters.
"""

import io
import os
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image

from models import Media, User
from models.media import BUCKET, CHUNK_SIZE
from service.engine import collection, current_engine, drift_report
from service.main import create_app
from service.media import images, usage
from tests.conftest import TEST_ENGINE, client_for, make_settings, serving
from tests.factories import Account, register
from tests.index_coverage import problems
from tests.oplog import recording


def jpeg(width: int = 1200, height: int = 900) -> bytes:
    """A plain JPEG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def noisy_png(side: int = 400) -> bytes:
    """A PNG of random pixels: it does not compress, so its original spans several chunks."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


async def upload(client, account: Account, data: bytes, *, alt: str | None = "a photo",
                 name: str = "photo.jpg", claimed: str = "image/jpeg"):
    """POST /api/media with a file part (and an alt part unless None)."""
    return await client.post(
        "/api/media", files={"file": (name, data, claimed)},
        data={} if alt is None else {"alt": alt}, headers=account.headers,
    )


async def uploaded(client, account: Account, data: bytes | None = None, **kwargs: Any) -> dict:
    """The `media` of a successful upload."""
    response = await upload(client, account, data or jpeg(), **kwargs)
    assert response.status_code == 201, response.text
    return response.json()["media"]


def path_of(url: str) -> str:
    """The path of an absolute URL of the test client's host."""
    return url.removeprefix("http://folio.test")


async def user_doc(account: Account) -> dict:
    """The stored account."""
    return await collection(User).find_one({"username": account.username})


async def bucket_state() -> tuple[int, int, int]:
    """How many media documents, GridFS files documents and chunks are stored."""
    database = current_engine().database
    return (
        await collection(Media).count_documents({}),
        await database[f"{BUCKET}.files"].count_documents({}),
        await database[f"{BUCKET}.chunks"].count_documents({}),
    )


async def nothing_written(account: Account) -> None:
    """No media document, no GridFS file, no chunk, and the quota count untouched."""
    assert await bucket_state() == (0, 0, 0)
    assert (await user_doc(account)).get("media_bytes", 0) == 0


# Upload -------------------------------------------------------------------------------------


async def test_upload_answers_201_with_urls_sizes_and_variants(client):
    author = await register(client)
    # The declared type and the name lie: the type comes from the bytes.
    response = await upload(client, author, jpeg(2000, 1500), name="x.png", claimed="image/png")
    assert response.status_code == 201, response.text
    media = response.json()["media"]
    assert set(media) == {"id", "url", "contentType", "size", "width", "height", "alt",
                          "variants", "createdAt"}
    assert media["contentType"] == "image/jpeg"
    assert (media["width"], media["height"]) == (2000, 1500)
    assert media["alt"] == "a photo"
    assert media["url"] == f"http://folio.test/api/media/{media['id']}/original"
    assert set(media["variants"]) == {"w320", "w960", "w1600"}
    w320 = media["variants"]["w320"]
    assert w320 == {"url": f"http://folio.test/api/media/{media['id']}/w320", "width": 320,
                    "height": 240, "contentType": "image/webp"}
    original = await client.get(path_of(media["url"]))
    assert original.status_code == 200 and len(original.content) == media["size"]

    # The GridFS layout: one file per rendition, named and described by its metadata.
    stored = await collection(Media).find_one({"_id": ObjectId(media["id"])})
    files = current_engine().database[f"{BUCKET}.files"]
    for name, rendition in stored["renditions"].items():
        found = await files.find_one({"_id": rendition["file_id"]})
        assert found["filename"] == f"{media['id']}/{name}"
        assert found["length"] == rendition["size"] and found["chunkSize"] == CHUNK_SIZE
        assert found["metadata"] == {"mediaId": ObjectId(media["id"]), "ownerId": stored["owner_id"],
                                     "rendition": name, "contentType": rendition["content_type"]}
    user = await user_doc(author)
    assert user["media_bytes"] == stored["stored_bytes"] == sum(
        r["size"] for r in stored["renditions"].values())


async def test_small_images_are_never_upscaled(client):
    author = await register(client)
    media = await uploaded(client, author, jpeg(500, 400))
    assert set(media["variants"]) == {"w320"}


async def test_public_url_setting_builds_the_urls():
    async with serving(create_app(make_settings(public_url="https://media.example.com/"))) as app:
        async with client_for(app) as client:
            media = await uploaded(client, await register(client))
    assert media["url"] == f"https://media.example.com/api/media/{media['id']}/original"
    assert media["variants"]["w320"]["url"].startswith("https://media.example.com/api/media/")


async def test_upload_needs_a_signed_in_user(client):
    response = await client.post("/api/media", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
    assert response.status_code == 401
    assert await bucket_state() == (0, 0, 0)


@pytest.mark.parametrize("body, status, field", [
    ({"files": {"other": ("a.jpg", b"x", "image/jpeg")}}, 422, "file"),
    ({"json": {"media": {}}}, 422, "body"),
    ({"files": {"file": ("a.png", b"<html><script>alert(1)</script></html>", "image/png")}},
     415, "file"),
    ({"files": {"file": ("a.jpg", b"", "image/jpeg")}}, 422, "file"),
    ({"files": {"file": ("a.jpg", jpeg()[:600], "image/jpeg")}}, 422, "file"),
    ({"files": {"file": ("a.jpg", jpeg(), "image/jpeg")}, "data": {"alt": "x" * 1001}},
     422, "alt"),
])
async def test_refused_uploads_write_nothing(client, body, status, field):
    author = await register(client)
    response = await client.post("/api/media", headers=author.headers, **body)
    assert response.status_code == status, response.text
    assert field in response.json()["errors"]
    await nothing_written(author)


async def test_too_many_pixels_is_422(client, monkeypatch):
    author = await register(client)
    monkeypatch.setattr(client._transport.app.state.settings, "media_max_pixels", 1000)
    response = await upload(client, author, jpeg(100, 100))
    assert response.status_code == 422
    await nothing_written(author)


@pytest.fixture
async def small_limits():
    """An app whose uploads are bounded to 60 kB each and 150 kB of quota."""
    settings = make_settings(media_max_bytes=60_000, media_quota_bytes=150_000)
    async with serving(create_app(settings)) as app:
        async with client_for(app) as client:
            yield client


async def test_body_over_the_limit_is_413_by_content_length(small_limits):
    client = small_limits
    author = await register(client)
    response = await upload(client, author, noisy_png(200))  # ~120 kB
    assert response.status_code == 413
    assert response.json() == {"errors": {"body": ["must be at most 60000 bytes"]}}
    await nothing_written(author)


async def test_body_over_the_limit_is_413_without_content_length(small_limits):
    client = small_limits
    author = await register(client)
    boundary = "folio-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + noisy_png(200) + f"\r\n--{boundary}--\r\n".encode()

    async def chunked():  # an async body: httpx sends it without Content-Length
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    response = await client.post(
        "/api/media", content=chunked(),
        headers={**author.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert response.json() == {"errors": {"body": ["must be at most 60000 bytes"]}}
    await nothing_written(author)


async def test_upload_past_the_quota_is_413_naming_the_quota(small_limits):
    client = small_limits
    author = await register(client)
    first = await uploaded(client, author, noisy_png(110))  # ~37 kB original, small variants
    used = (await user_doc(author))["media_bytes"]
    assert used > 0
    before = await bucket_state()
    refused = None
    for _ in range(5):  # each takes ~37 kB of 150 kB: the quota refuses one of them
        response = await upload(client, author, noisy_png(110))
        if response.status_code == 413:
            refused = response
            break
        assert response.status_code == 201
        before = await bucket_state()
        used = (await user_doc(author))["media_bytes"]
    assert refused is not None
    assert list(refused.json()["errors"]) == ["quota"]
    assert "quota" in refused.json()["errors"]["quota"][0]
    assert await bucket_state() == before  # nothing half-written
    assert (await user_doc(author))["media_bytes"] == used <= 150_000
    # Deleting frees the quota again.
    assert (await client.delete(f"/api/media/{first['id']}", headers=author.headers)).status_code == 204
    assert (await upload(client, author, noisy_png(110))).status_code == 201


async def test_a_failure_while_storing_removes_what_was_written(client, monkeypatch):
    from service.engine.bucket import MediaBucket

    author = await register(client)
    calls = []
    original_upload = MediaBucket.upload

    async def failing(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("the database went away mid-upload")
        return await original_upload(self, *args, **kwargs)

    monkeypatch.setattr(MediaBucket, "upload", failing)
    response = await upload(client, author, jpeg(2000, 1500))
    assert response.status_code == 500
    await nothing_written(author)


async def test_upload_runs_the_images_interface(client, monkeypatch):
    # A test double with the agreed interface: what `process` returns is what is stored.
    author = await register(client)
    seen = {}

    def double(source, *, max_pixels):
        seen["bytes"], seen["max_pixels"] = source.read(), max_pixels
        return [images.Image("original", "image/gif", 3, 2, b"GIF89a-original"),
                images.Image("w320", "image/webp", 320, 200, b"RIFF-variant")]

    monkeypatch.setattr(images, "process", double)
    media = await uploaded(client, author, b"anything")
    assert seen == {"bytes": b"anything", "max_pixels": 40_000_000}
    assert (media["contentType"], media["size"], media["width"]) == ("image/gif", 15, 3)
    served = await client.get(path_of(media["variants"]["w320"]["url"]))
    assert served.content == b"RIFF-variant" and served.headers["content-type"] == "image/webp"


@pytest.mark.skipif(TEST_ENGINE == "embedded", reason="the embedded engine has no timeouts")
async def test_slow_processing_does_not_spend_the_writes_deadline(monkeypatch):
    # The request's database deadline (3 s here) starts before the body streams in and the
    # image is processed; the writes that follow get a budget of their own. On a server only.
    import time

    real_process = images.process

    def slow(source, *, max_pixels):
        time.sleep(3.2)
        return real_process(source, max_pixels=max_pixels)

    monkeypatch.setattr(images, "process", slow)
    async with serving(create_app(make_settings(operation_timeout_ms=3000))) as app:
        async with client_for(app) as client:
            author = await register(client)
            response = await upload(client, author, jpeg(400, 300))
            assert response.status_code == 201, response.text


# Listing, reading, editing -----------------------------------------------------------------


async def test_list_is_your_own_media_newest_first_with_a_cursor(client):
    author, other = await register(client), await register(client)
    ids = [(await uploaded(client, author, jpeg(300, 200)))["id"] for _ in range(3)]
    await uploaded(client, other, jpeg(300, 200))
    first = await client.get("/api/media?limit=2", headers=author.headers)
    assert first.status_code == 200
    body = first.json()
    assert [m["id"] for m in body["media"]] == ids[::-1][:2]
    assert body["mediaCount"] == 3 and body["nextCursor"]
    second = (await client.get(f"/api/media?limit=2&cursor={body['nextCursor']}",
                               headers=author.headers)).json()
    assert [m["id"] for m in second["media"]] == [ids[0]]
    assert second["nextCursor"] is None
    assert (await client.get("/api/media")).status_code == 401
    assert (await client.get("/api/media?limit=0", headers=author.headers)).status_code == 422
    assert (await client.get("/api/media?cursor=nope", headers=author.headers)).status_code == 422


async def test_get_one_and_404s(client):
    author = await register(client)
    media = await uploaded(client, author)
    found = await client.get(f"/api/media/{media['id']}")
    assert found.status_code == 200 and found.json()["media"] == media
    for unknown in (str(ObjectId()), "not-an-id"):
        assert (await client.get(f"/api/media/{unknown}")).status_code == 404
        assert (await client.get(f"/api/media/{unknown}/original")).status_code == 404
    assert (await client.get(f"/api/media/{media['id']}/w9999")).status_code == 404
    assert (await client.get(f"/api/media/{media['id']}/$where")).status_code == 404


async def test_put_changes_the_alt_text_of_your_own_media_only(client):
    author, other = await register(client), await register(client)
    media = await uploaded(client, author)
    path = f"/api/media/{media['id']}"
    changed = await client.put(path, json={"media": {"alt": "  a new text  "}}, headers=author.headers)
    assert changed.status_code == 200 and changed.json()["media"]["alt"] == "a new text"
    assert (await client.put(path, json={"media": {"alt": "x"}}, headers=other.headers)).status_code == 403
    assert (await client.put(path, json={"media": {"alt": "x"}})).status_code == 401
    assert (await client.put(f"/api/media/{ObjectId()}", json={"media": {"alt": "x"}},
                             headers=author.headers)).status_code == 404
    bad = await client.put(path, json={"media": {"url": "x"}}, headers=author.headers)
    assert bad.status_code == 422
    long = await client.put(path, json={"media": {"alt": "x" * 1001}}, headers=author.headers)
    assert long.status_code == 422 and "alt" in long.json()["errors"]
    assert (await client.get(path)).json()["media"]["alt"] == "a new text"


# Deleting ----------------------------------------------------------------------------------


async def make_moderator(account: Account) -> None:
    """Give an account the moderator role, as an admin's role change stores it."""
    await collection(User).update_one({"username": account.username}, {"$set": {"role": "moderator"}})


async def test_delete_removes_files_document_and_quota(client):
    author, other = await register(client), await register(client)
    media = await uploaded(client, author)
    path = f"/api/media/{media['id']}"
    assert (await client.delete(path)).status_code == 401
    assert (await client.delete(path, headers=other.headers)).status_code == 403
    assert (await client.delete(f"/api/media/{ObjectId()}", headers=author.headers)).status_code == 404
    assert (await client.delete(path, headers=author.headers)).status_code == 204
    await nothing_written(author)
    assert (await client.get(path)).status_code == 404
    assert (await client.get(path_of(media["url"]))).status_code == 404
    assert (await client.delete(path, headers=author.headers)).status_code == 404


async def test_a_moderator_may_delete_anyones_media(client):
    author, moderator = await register(client), await register(client)
    await make_moderator(moderator)
    media = await uploaded(client, author)
    assert (await client.delete(f"/api/media/{media['id']}", headers=moderator.headers)).status_code == 204
    await nothing_written(author)


async def test_delete_is_409_naming_the_articles_that_use_it(client, monkeypatch):
    author = await register(client)
    media = await uploaded(client, author)

    async def used(media_id):
        assert str(media_id) == media["id"]
        return ["my-article", "another-one"]

    monkeypatch.setattr(usage, "articles_using", used)
    response = await client.delete(f"/api/media/{media['id']}", headers=author.headers)
    assert response.status_code == 409
    message = response.json()["errors"]["media"][0]
    assert "my-article" in message and "another-one" in message
    assert (await client.get(path_of(media["url"]))).status_code == 200


async def test_an_interrupted_deletion_is_finished_by_the_sweeper(client):
    from service.deletion.sweeper import sweep_pass
    from service.engine import media_bucket

    author = await register(client)
    media = await uploaded(client, author)
    stored = await collection(Media).find_one({"_id": ObjectId(media["id"])})
    # A request that stopped after marking the media and removing one file.
    await collection(Media).update_one({"_id": stored["_id"]}, {"$set": {"deleting": stored["created_at"]}})
    await media_bucket().delete(stored["renditions"]["w320"]["file_id"])
    assert (await client.get(path_of(media["url"]))).status_code == 404  # gone for the API at once
    result = await sweep_pass()
    assert result.media_deleted == 1
    await nothing_written(author)


# Serving -----------------------------------------------------------------------------------


async def test_serving_headers_304_and_head(client):
    author = await register(client)
    media = await uploaded(client, author)
    path = path_of(media["variants"]["w320"]["url"])
    response = await client.get(path)
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "image/webp"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["accept-ranges"] == "bytes"
    assert int(headers["content-length"]) == len(response.content)
    assert Image.open(io.BytesIO(response.content)).size == (320, 240)
    etag = headers["etag"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200
    head = await client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == headers["content-length"]
    assert head.headers["etag"] == etag


async def test_ranges_read_only_what_they_span(client):
    author = await register(client)
    media = await uploaded(client, author, noisy_png(400), name="noise.png")
    assert media["size"] > CHUNK_SIZE + 100
    path = path_of(media["url"])
    whole = (await client.get(path)).content
    assert len(whole) == media["size"]
    start, end = CHUNK_SIZE - 10, CHUNK_SIZE + 9  # across a chunk boundary
    part = await client.get(path, headers={"Range": f"bytes={start}-{end}"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes {start}-{end}/{media['size']}"
    assert part.content == whole[start:end + 1]
    tail = await client.get(path, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == whole[-100:]
    rest = await client.get(path, headers={"Range": f"bytes={len(whole) - 5}-"})
    assert rest.content == whole[-5:]
    beyond = await client.get(path, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{media['size']}"
    several = await client.get(path, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == whole  # ignored, as RFC 9110 allows


async def test_hidden_media_is_404_except_to_its_owner_and_moderators(client):
    author, other, moderator = await register(client), await register(client), await register(client)
    await make_moderator(moderator)
    media = await uploaded(client, author)
    owner_id = (await user_doc(moderator))["_id"]
    await collection(Media).update_one({"_id": ObjectId(media["id"])}, {"$set": {"moderation": {
        "hidden": True, "reason": "spam", "by": owner_id, "at": (await user_doc(author))["created_at"]}}})
    path = path_of(media["url"])
    assert (await client.get(path)).status_code == 404
    assert (await client.get(path, headers=other.headers)).status_code == 404
    assert (await client.get(f"/api/media/{media['id']}")).status_code == 404
    for viewer in (author, moderator):
        shown = await client.get(path, headers=viewer.headers)
        assert shown.status_code == 200
        assert shown.headers["cache-control"] == "private, no-store"


# Round trips and indexes -------------------------------------------------------------------


async def test_serving_and_listing_round_trips_are_bounded_and_indexed(client):
    author = await register(client)
    media = await uploaded(client, author, noisy_png(400))
    await uploaded(client, author)
    path = path_of(media["variants"]["w320"]["url"])
    etag = (await client.get(path)).headers["etag"]
    with recording() as served:
        assert (await client.get(path)).status_code == 200
    # (collection, operation): find_one on the embedded engine is a `find` command on a server.
    assert [c for c, _ in served.operations] == ["media", f"{BUCKET}.chunks"]
    with recording() as cached:
        assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    assert [c for c, _ in cached.operations] == ["media"]
    with recording() as ranged:
        response = await client.get(path_of(media["url"]), headers={"Range": "bytes=300000-300099"})
        assert response.status_code == 206
    assert [c for c, _ in ranged.operations] == ["media", f"{BUCKET}.chunks"]
    chunk_filter = ranged.details[1].filter
    assert chunk_filter["n"] == {"$gte": 300000 // CHUNK_SIZE, "$lte": 300099 // CHUNK_SIZE}
    with recording() as listed:
        assert (await client.get("/api/media", headers=author.headers)).status_code == 200
    assert len(listed) == 3  # the account, the page, the count
    with recording() as deleted:
        assert (await client.delete(f"/api/media/{media['id']}", headers=author.headers)).status_code == 204
    for log in (served, cached, ranged, listed, deleted):
        for operation in log.details:
            assert problems(operation) == [], operation


async def test_the_bucket_indexes_are_declared_and_built(client):
    # The embedded engine builds them at start-up, `folio db sync` on a server (the fixture).
    report = await drift_report()
    assert f"{BUCKET}.files" not in report and f"{BUCKET}.chunks" not in report
    chunks = await current_engine().database[f"{BUCKET}.chunks"].index_information()
    assert chunks["files_id_1_n_1"]["unique"] is True
    files = await current_engine().database[f"{BUCKET}.files"].index_information()
    assert "filename_1_uploadDate_1" in files


async def test_metrics_count_uploads_bytes_and_cache_hits(client):
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    stored, unsupported = value("folio_media_uploads_total", outcome="stored"), value(
        "folio_media_uploads_total", outcome="unsupported")
    written, hits = value("folio_media_bytes_total", direction="written"), value(
        "folio_media_served_total", answer="not_modified")
    author = await register(client)
    media = await uploaded(client, author)
    await upload(client, author, b"%PDF-1.4 not an image")
    etag = (await client.get(path_of(media["url"]))).headers["etag"]
    await client.get(path_of(media["url"]), headers={"If-None-Match": etag})
    assert value("folio_media_uploads_total", outcome="stored") == stored + 1
    assert value("folio_media_uploads_total", outcome="unsupported") == unsupported + 1
    assert value("folio_media_bytes_total", direction="written") > written
    assert value("folio_media_served_total", answer="not_modified") == hits + 1
