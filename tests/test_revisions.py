"""Article revisions: every update keeps what it replaced; the history pages and restores.

Expectations hold on every engine unless marked.
"""

import asyncio
from datetime import UTC, datetime

import pytest
from beanie import PydanticObjectId

from models import User
from models.revisions import KEPT_REVISIONS
from service.articles import reads as article_reads
from service.articles import writes as article_writes
from service.articles.writes import UPDATE_ATTEMPTS
from service.contract.cursors import keyset_cursor
from service.contract.errors import Invalid
from service.contract.versions import version_bump
from service.engine.client import collection, current_engine, supports_transactions
from service.revisions import queries
from service.revisions.queries import (
    NEWEST_VERSION,
    named_revisions,
    restored_content,
    revision_document,
    revisions_page_filter,
    trim_filter,
)
from tests import oplog
from tests.factories import create_article, register
from tests.index_coverage import served

AUTHOR = PydanticObjectId("65a000000000000000000001")
EDITOR = PydanticObjectId("65a000000000000000000002")
CALLER = PydanticObjectId("65a000000000000000000003")
ARTICLE = PydanticObjectId("65a000000000000000000009")
THEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC)

# The operation log names a driver call on the embedded engine, a wire command on a server.
UPDATE_NAMES = ("find_one_and_update", "findAndModify")


def stored_article(**overrides):
    """An article as the by-slug read returns it."""
    return {
        "_id": ARTICLE, "title": "T", "description": "D", "body": "B", "tag_list": ["a", "b"],
        "author_id": AUTHOR, "version": 3, "updated_at": THEN, "slug": "t", **overrides,
    }


# --- pure builders --------------------------------------------------------------------------


def test_a_revision_keeps_the_content_read_and_names_its_editor_or_else_the_author():
    revision = revision_document(stored_article(edited_by=EDITOR), 3, CALLER, NOW)
    assert revision == {
        "article_id": ARTICLE, "version": 3, "title": "T", "description": "D", "body": "B",
        "tag_list": ["a", "b"], "editor_id": EDITOR, "edited_at": THEN,
        "replaced_by": CALLER, "replaced_at": NOW, "schema_version": 1,
    }
    assert revision_document(stored_article(edited_by=None), 3, CALLER, NOW)["editor_id"] == AUTHOR
    assert revision_document(stored_article(), 3, CALLER, NOW)["editor_id"] == AUTHOR


def test_the_trim_deletes_a_version_range_only_past_the_kept_number():
    assert trim_filter(ARTICLE, 1) is None
    assert trim_filter(ARTICLE, KEPT_REVISIONS) is None
    assert trim_filter(ARTICLE, KEPT_REVISIONS + 1) == {"article_id": ARTICLE, "version": {"$lt": 2}}
    assert trim_filter(ARTICLE, 55) == {"article_id": ARTICLE, "version": {"$lt": 6}}
    # Versions 6..55 stay: exactly the last 50.
    assert 55 - 6 + 1 == KEPT_REVISIONS


def test_every_revisions_filter_is_served_by_the_unique_index():
    cursor = keyset_cursor(NEWEST_VERSION, {"version": 7})
    assert served("article_revisions", revisions_page_filter(ARTICLE, None), NEWEST_VERSION)
    assert served("article_revisions", revisions_page_filter(ARTICLE, cursor), NEWEST_VERSION)
    assert served("article_revisions", trim_filter(ARTICLE, 60), [])
    assert served("article_revisions", {"article_id": ARTICLE, "version": 4}, [])
    assert served("article_revisions", {"article_id": ARTICLE}, [])


def test_the_page_filter_continues_below_the_cursors_version():
    cursor = keyset_cursor(NEWEST_VERSION, {"version": 7})
    after = revisions_page_filter(ARTICLE, cursor)
    assert after == {"$and": [{"article_id": ARTICLE},
                              {"version": {"$lte": 7}, "$or": [{"version": {"$lt": 7}}]}]}
    other_order = keyset_cursor([("published_at", -1), ("_id", -1)], {})
    with pytest.raises(Invalid):
        revisions_page_filter(ARTICLE, other_order)


def test_names_come_from_the_lookup_and_a_deleted_user_is_null():
    rows = [{"version": 2, "editor_id": AUTHOR, "replaced_by": EDITOR}]
    named = named_revisions(rows, {AUTHOR: "jake"})
    assert named[0]["editor"] == {"username": "jake"} and named[0]["replaced_by"] is None


def test_restoring_takes_exactly_the_content_fields():
    revision = revision_document(stored_article(), 3, CALLER, NOW)
    assert restored_content(revision) == {
        "title": "T", "description": "D", "body": "B", "tag_list": ["a", "b"]
    }


def test_the_version_bump_moves_a_legacy_article_to_2():
    assert version_bump({}, {"body": "x"}) == {"$set": {"body": "x", "version": 2}}
    assert version_bump({"version": 4}, {"body": "x"}) == {
        "$set": {"body": "x"}, "$inc": {"version": 1}
    }


# --- through the API ------------------------------------------------------------------------


async def edit(client, account, slug, headers=None, **fields):
    """PUT the changes as `account`; the response."""
    return await client.put(f"/api/articles/{slug}", json={"article": fields},
                            headers={**account.headers, **(headers or {})})


async def history(client, account, slug, **params):
    """GET the revisions as `account` (anonymous when None); the response."""
    headers = None if account is None else account.headers
    return await client.get(f"/api/articles/{slug}/revisions", params=params, headers=headers)


async def restore(client, account, slug, version, headers=None):
    """POST a restore as `account` (anonymous when None); the response."""
    headers = {**({} if account is None else account.headers), **(headers or {})}
    return await client.post(f"/api/articles/{slug}/revisions/{version}/restore", headers=headers)


async def make_moderator(username: str) -> None:
    """Give the account the moderator role, directly in the database."""
    await collection(User).update_one({"username": username}, {"$set": {"role": "moderator"}})


def version_in(etag: str) -> int:
    """The version part of an article's tag, `"<id>-<version>-<digest>"`."""
    return int(etag.strip('"').split("-")[1])


async def stored_versions(article_id) -> list[int]:
    """Every revision version kept for an article, ascending, straight from the database."""
    found = collection(queries.ArticleRevision).find({"article_id": article_id}, {"version": 1})
    return sorted([row["version"] async for row in found])


async def article_id_of(slug: str):
    """The stored `_id` of the article with this slug."""
    return (await collection(article_reads.Article).find_one({"slug": slug}))["_id"]


async def test_each_update_keeps_one_revision_with_the_replaced_content(client):
    jake = await register(client)
    article = await create_article(client, jake, description="first", tagList=["x"])
    slug = article["slug"]
    first = await edit(client, jake, slug, description="second")
    assert first.status_code == 200 and version_in(first.headers["etag"]) == 2
    listed = await history(client, jake, slug)
    assert listed.status_code == 200
    page = listed.json()
    assert page["revisionsCount"] == 1 and page["nextCursor"] is None
    assert page["revisions"] == [{
        "version": 1, "title": article["title"], "description": "first", "body": article["body"],
        "tagList": ["x"], "editor": {"username": jake.username},
        "editedAt": article["updatedAt"], "replacedBy": {"username": jake.username},
        "replacedAt": first.json()["article"]["updatedAt"],
    }]
    await edit(client, jake, slug, body="new body", tagList=["y"])
    newest = (await history(client, jake, slug)).json()["revisions"][0]
    assert (newest["version"], newest["description"], newest["body"], newest["tagList"]) == (
        2, "second", article["body"], ["x"])


async def test_55_updates_keep_exactly_the_last_50(client):
    jake = await register(client)
    article = await create_article(client, jake)
    for n in range(55):
        assert (await edit(client, jake, article["slug"], body=f"body {n}")).status_code == 200
    versions = await stored_versions(await article_id_of(article["slug"]))
    assert versions == list(range(6, 56))
    page = (await history(client, jake, article["slug"], limit=100)).json()
    assert page["revisionsCount"] == KEPT_REVISIONS
    assert [r["version"] for r in page["revisions"]] == list(range(55, 5, -1))
    assert page["revisions"][0]["body"] == "body 53" and page["revisions"][-1]["body"] == "body 4"


async def test_paging_by_cursor_gives_each_revision_once_newest_first(client):
    jake = await register(client)
    article = await create_article(client, jake)
    for n in range(7):
        await edit(client, jake, article["slug"], body=f"body {n}")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await history(client, jake, article["slug"], **params)).json()
        assert page["revisionsCount"] == 7
        seen += [revision["version"] for revision in page["revisions"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1] and pages == 3
    bad = await history(client, jake, article["slug"], cursor="not-a-cursor")
    assert bad.status_code == 422 and "cursor" in bad.json()["errors"]


async def test_restore_makes_a_new_version_with_the_old_content_and_records_a_revision(client):
    jake = await register(client)
    article = await create_article(client, jake, title="Original title", description="first",
                                   tagList=["old"])
    slug = article["slug"]
    await edit(client, jake, slug, description="second", tagList=["new"])
    renamed = await edit(client, jake, slug, title="Renamed title", description="third")
    slug = renamed.json()["article"]["slug"]
    restored = await restore(client, jake, slug, 1)
    assert restored.status_code == 200, restored.text
    body = restored.json()["article"]
    assert (body["title"], body["description"], body["tagList"]) == (
        "Original title", "first", ["old"])
    assert body["slug"] == article["slug"]  # the old title gives its slug back
    assert version_in(restored.headers["etag"]) == 4
    current = await client.get(f"/api/articles/{body['slug']}", headers=jake.headers)
    assert current.headers["etag"] == restored.headers["etag"]
    revisions = (await history(client, jake, body["slug"])).json()["revisions"]
    assert [r["version"] for r in revisions] == [3, 2, 1]
    assert (revisions[0]["title"], revisions[0]["description"]) == ("Renamed title", "third")


async def test_restore_with_a_stale_if_match_answers_412_and_writes_nothing(client):
    jake = await register(client)
    article = await create_article(client, jake, description="first")
    slug = article["slug"]
    old_tag = (await client.get(f"/api/articles/{slug}")).headers["etag"]
    await edit(client, jake, slug, description="second")
    refused = await restore(client, jake, slug, 1, headers={"If-Match": old_tag})
    assert refused.status_code == 412
    assert refused.json() == {"errors": {"article": ["was changed by someone else"]}}
    assert (await client.get(f"/api/articles/{slug}")).json()["article"]["description"] == "second"
    assert (await history(client, jake, slug)).json()["revisionsCount"] == 1
    current_tag = (await client.get(f"/api/articles/{slug}")).headers["etag"]
    accepted = await restore(client, jake, slug, 1, headers={"If-Match": current_tag})
    assert accepted.status_code == 200 and accepted.json()["article"]["description"] == "first"


async def test_who_may_read_and_restore_the_history(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    slug = article["slug"]
    await edit(client, jake, slug, body="changed")
    assert (await history(client, None, slug)).status_code == 401
    assert (await restore(client, None, slug, 1)).status_code == 401
    forbidden = await history(client, anna, slug)
    assert forbidden.status_code == 403
    assert forbidden.json() == {"errors": {"article": ["forbidden"]}}
    assert (await restore(client, anna, slug, 1)).status_code == 403
    assert (await history(client, jake, "no-such-article")).status_code == 404
    assert (await restore(client, jake, "no-such-article", 1)).status_code == 404
    unknown = await restore(client, jake, slug, 9)
    assert unknown.status_code == 404
    assert unknown.json() == {"errors": {"revision": ["not found"]}}
    # The current version is not a revision either.
    assert (await restore(client, jake, slug, 2)).status_code == 404
    assert (await restore(client, jake, slug, 0)).status_code == 422


async def test_a_moderator_can_list_and_restore_and_becomes_the_editor(client):
    jake, mod = await register(client), await register(client)
    await make_moderator(mod.username)
    article = await create_article(client, jake, body="original")
    slug = article["slug"]
    await edit(client, jake, slug, body="vandalised")
    listed = await history(client, mod, slug)
    assert listed.status_code == 200 and listed.json()["revisionsCount"] == 1
    restored = await restore(client, mod, slug, 1)
    assert restored.status_code == 200 and restored.json()["article"]["body"] == "original"
    assert restored.json()["article"]["author"]["username"] == jake.username
    await edit(client, jake, slug, body="improved")
    revisions = (await history(client, jake, slug)).json()["revisions"]
    assert [(r["version"], r["editor"], r["replacedBy"]) for r in revisions] == [
        (3, {"username": mod.username}, {"username": jake.username}),
        (2, {"username": jake.username}, {"username": mod.username}),
        (1, {"username": jake.username}, {"username": jake.username}),
    ]


async def test_a_deleted_editor_shows_as_null(client):
    jake, mod = await register(client), await register(client)
    await make_moderator(mod.username)
    article = await create_article(client, jake)
    await edit(client, jake, article["slug"], body="changed")
    await restore(client, mod, article["slug"], 1)
    await collection(User).delete_one({"username": mod.username})
    newest = (await history(client, jake, article["slug"])).json()["revisions"][0]
    assert newest["replacedBy"] is None and newest["editor"] == {"username": jake.username}


async def test_concurrent_updates_without_if_match_all_apply_with_consecutive_revisions(
    client, monkeypatch
):
    jake = await register(client)
    article = await create_article(client, jake, description="original")
    slug = article["slug"]
    read_by_slug = article_reads.article_by_slug

    async def slow_read(slug, viewer, **options):
        # Every request reads version 1 before any writes: all but one must re-read and retry.
        found = await read_by_slug(slug, viewer, **options)
        await asyncio.sleep(0.05)
        return found

    monkeypatch.setattr(article_reads, "article_by_slug", slow_read)
    texts = [f"edit {n}" for n in range(UPDATE_ATTEMPTS)]  # each miss means another one won
    with oplog.recording() as log:
        answers = await asyncio.gather(*(edit(client, jake, slug, description=t) for t in texts))
    assert [answer.status_code for answer in answers] == [200] * len(texts)
    updates = [op for op in log.details if op.name in UPDATE_NAMES]
    assert len(updates) > len(texts)  # retried
    assert sorted(version_in(answer.headers["etag"]) for answer in answers) == list(range(2, len(texts) + 2))
    versions = await stored_versions(await article_id_of(slug))
    assert versions == list(range(1, len(texts) + 1))  # none recorded twice, none lost
    revisions = (await history(client, jake, slug)).json()["revisions"]
    final = (await client.get(f"/api/articles/{slug}")).json()["article"]["description"]
    replaced = [r["description"] for r in reversed(revisions)]
    assert replaced[0] == "original"
    assert sorted([*replaced[1:], final]) == texts  # every write replaced exactly once
    by_version = {version_in(a.headers["etag"]): a.json()["article"]["description"] for a in answers}
    for revision in revisions[:-1]:  # version v holds what the write that made v wrote
        assert revision["description"] == by_version[revision["version"]]


async def test_an_update_that_keeps_missing_gives_up_with_409_writing_nothing(
    app, client, monkeypatch
):
    jake = await register(client)
    article = await create_article(client, jake)
    monkeypatch.setattr(article_writes, "at_version", lambda article: {"version": -1})
    with oplog.recording() as log:
        response = await edit(client, jake, article["slug"], body="never")
    assert response.status_code == 409
    assert response.json() == {
        "errors": {"article": ["kept changing while this update was retried; try again"]}
    }
    updates = [op for op in log.details if op.name in UPDATE_NAMES]
    assert len(updates) == UPDATE_ATTEMPTS
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["body"] != "never"
    assert await stored_versions(await article_id_of(article["slug"])) == []


async def test_a_failed_revision_write_leaves_the_update_as_the_engine_allows(
    app, client, monkeypatch
):
    jake = await register(client)
    article = await create_article(client, jake, body="kept")

    async def broken(revision, session=None):
        raise RuntimeError("the revision write failed")

    monkeypatch.setattr(article_writes, "record_revision", broken)
    read = await article_reads.article_by_slug(article["slug"], None)
    editor = await User.find_one({"username": jake.username})
    with pytest.raises(RuntimeError):
        await article_writes.update_article(read, editor, {"body": "new"})
    stored = await collection(article_reads.Article).find_one({"_id": read["_id"]})
    if await supports_transactions(current_engine()):
        assert (stored["body"], stored["version"]) == ("kept", 1)  # the transaction took it back
    else:
        # No transaction: the update stands (see _replace_version), only the revision is missing.
        assert (stored["body"], stored["version"]) == ("new", 2)
    assert await stored_versions(read["_id"]) == []


async def test_an_article_from_before_versions_keeps_its_first_revision_as_version_1(app, client):
    jake = await register(client)
    article = await create_article(client, jake)
    await collection(article_reads.Article).update_one(
        {"slug": article["slug"]}, {"$unset": {"version": "", "edited_by": ""}})
    assert (await edit(client, jake, article["slug"], body="x")).status_code == 200
    revisions = (await history(client, jake, article["slug"])).json()["revisions"]
    assert [(r["version"], r["editor"]) for r in revisions] == [(1, {"username": jake.username})]


async def test_deleting_an_article_deletes_its_revisions(client):
    jake = await register(client)
    article = await create_article(client, jake)
    await edit(client, jake, article["slug"], body="x")
    article_id = await article_id_of(article["slug"])
    assert await stored_versions(article_id) == [1]
    assert (await client.delete(f"/api/articles/{article['slug']}",
                                headers=jake.headers)).status_code == 204
    assert await stored_versions(article_id) == []


async def test_round_trips_stay_bounded(client):
    jake = await register(client)
    article = await create_article(client, jake)
    url = f"/api/articles/{article['slug']}"
    with oplog.recording() as log:
        await edit(client, jake, article["slug"], body="one")
    # user, article by slug, its author's profile (not kept yet), update, revision, its
    # `article.updated` event, favorited flag (+ the commit of a transaction)
    committed = 1 if await supports_transactions(current_engine()) else 0
    assert len(log) == 7 + committed
    for n in range(6):
        await edit(client, jake, article["slug"], body=f"more {n}")
    sizes = []
    for limit in (2, 6):
        with oplog.recording() as log:
            response = await client.get(f"{url}/revisions", params={"limit": limit},
                                        headers=jake.headers)
        assert response.status_code == 200 and len(response.json()["revisions"]) == limit
        sizes.append(len(log))
    assert sizes[0] == sizes[1] <= 5  # user, article, page and count, names
