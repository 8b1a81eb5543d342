"""Tag counts kept by `$inc` (service/tags/counting.py): `/api/tags` never reads `articles`,
every write that changes the set of live tags moves the counts exactly, and a scheduled article's
tags are counted once, when it goes live. Every expectation holds on every engine."""

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from models import Article, Tag, User
from models.common import utc_now
from scripts.dbtools import recount_tags
from service.articles.reads import article_by_slug
from service.articles.writes import update_article
from service.deletion import accounts as deletion
from service.engine.client import collection
from service.main import create_app
from service.tags.counting import count_one_due, is_live, settle_count, uncount
from tests import oplog
from tests.conftest import WIRE_NULL_DATES, client_for, make_settings, serving
from tests.factories import create_article, register

ADMIN = "root"
FUTURE = "2099-01-01T00:00:00.000Z"


@pytest.fixture
def settings():
    """FOLIO_ADMINS names `root`, who may hide articles."""
    return make_settings(admins=[ADMIN])


async def tags(client) -> list[str]:
    response = await client.get("/api/tags")
    assert response.status_code == 200, response.text
    return response.json()["tags"]


async def stored_counts() -> dict[str, int]:
    """The counts as `tags` holds them (zeros left behind are no count)."""
    return {tag["_id"]: tag["articles"] async for tag in collection(Tag).find({})
            if tag["articles"]}


async def true_counts() -> dict[str, int]:
    """The counts recomputed from every article, as an anonymous reader sees them now."""
    now, counted = utc_now(), Counter()
    async for article in collection(Article).find({}, {"tag_list": 1, "published_at": 1}):
        if is_live(article.get("published_at"), now):
            counted.update(article["tag_list"])
    return dict(counted)


async def assert_exact(expected: dict[str, int]) -> None:
    """The stored counts are `expected`, equal a recount from the articles, and a recount
    (`folio db recount`'s tag step) finds nothing to fix."""
    assert await stored_counts() == expected
    assert await true_counts() == expected
    stored = [tag["_id"] async for tag in collection(Tag).find({"articles": {"$ne": 0}})]
    assert [await settle_count(tag) for tag in stored] == [None] * len(stored)


async def put(client, account, slug: str, **fields) -> dict:
    response = await client.put(f"/api/articles/{slug}", json={"article": fields},
                                headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["article"]


async def move_instant_into_the_past(slug: str) -> None:
    """Time passes for a scheduled article, as far as the database can tell; this process has
    not noted it (as if another process had scheduled it)."""
    past = utc_now() - timedelta(seconds=1)
    await collection(Article).update_one(
        {"slug": slug}, {"$set": {"publish_at": past, "published_at": past}})


# --- the check ---------------------------------------------------------------------


async def test_a_body_edit_moves_nothing_and_the_tag_list_never_reads_articles(client):
    jake = await register(client)
    article = await create_article(client, jake, tagList=["dragons", "eggs"])
    assert await tags(client) == ["dragons", "eggs"]

    with oplog.recording() as edit:
        await put(client, jake, article["slug"], body="A typo, fixed.")
    assert "tags" not in {name for name, _ in edit.operations}, edit.operations
    with oplog.recording() as read:
        assert await tags(client) == ["dragons", "eggs"]
    # One read of `tags`: no scan of articles, nothing cleared by the edit to recompute.
    assert read.operations == [("tags", "aggregate")]
    await assert_exact({"dragons": 1, "eggs": 1})


# --- every write that changes the live tags ------------------------------------------------


async def test_publishing_editing_hiding_and_deleting_keep_the_counts_exact(client):
    jake, root = await register(client), await register(client, ADMIN)
    a = await create_article(client, jake, tagList=["x", "y"])
    b = await create_article(client, jake, tagList=["y", "z"], status="draft")
    await create_article(client, jake, tagList=["z"], publishAt=FUTURE)
    await assert_exact({"x": 1, "y": 1})
    assert await tags(client) == ["x", "y"]

    await put(client, jake, b["slug"], status="published")  # a draft published
    await assert_exact({"x": 1, "y": 2, "z": 1})
    await put(client, jake, a["slug"], tagList=["w", "y"])  # a live article's tags edited
    await assert_exact({"w": 1, "y": 2, "z": 1})
    await put(client, jake, a["slug"], title="Renamed", body="Other words")  # content only
    await assert_exact({"w": 1, "y": 2, "z": 1})
    renamed = await slug_of_title("Renamed")
    await put(client, jake, renamed, status="draft")  # unpublished
    await assert_exact({"y": 1, "z": 1})

    hidden = await client.post(f"/api/moderation/articles/{b['slug']}/hide",
                               json={"reason": "spam"}, headers=root.headers)
    assert hidden.status_code == 200, hidden.text
    await assert_exact({})
    assert await tags(client) == []
    shown = await client.post(f"/api/moderation/articles/{b['slug']}/unhide",
                              headers=root.headers)
    assert shown.status_code == 200, shown.text
    await assert_exact({"y": 1, "z": 1})

    await put(client, jake, renamed, status="published", publishAt=FUTURE)  # rescheduled
    await assert_exact({"y": 1, "z": 1})
    await put(client, jake, renamed, publishAt=None)  # published now after all
    await assert_exact({"w": 1, "y": 2, "z": 1})

    gone = await client.delete(f"/api/articles/{b['slug']}", headers=jake.headers)
    assert gone.status_code == 204
    await assert_exact({"w": 1, "y": 1})
    assert await tags(client) == ["w", "y"]


async def slug_of_title(title: str) -> str:
    return (await collection(Article).find_one({"title": title}, {"slug": 1}))["slug"]


async def test_deleting_an_account_takes_its_articles_tags_out(client):
    jake, anna = await register(client), await register(client)
    await create_article(client, jake, tagList=["dragons", "shared"])
    await create_article(client, jake, tagList=["dragons"])
    await create_article(client, anna, tagList=["shared"])
    await assert_exact({"dragons": 2, "shared": 2})

    await deletion.delete_by_username(jake.username)

    await assert_exact({"shared": 1})
    assert await tags(client) == ["shared"]


async def test_uncount_takes_an_article_out_once(client):
    # For a write that hides an article by other means (marking it for deletion).
    jake = await register(client)
    article = await create_article(client, jake, tagList=["marked", "other"])
    await create_article(client, jake, tagList=["other"])
    stored = await collection(Article).find_one({"slug": article["slug"]}, {"_id": 1})

    await collection(Article).update_one({"_id": stored["_id"]}, {"$set": {"published_at": None}})
    assert await uncount(stored["_id"]) is True
    assert await uncount(stored["_id"]) is False  # a second run moves nothing

    await assert_exact({"other": 1})


# --- scheduled articles going live ------------------------------------------------------------


async def test_a_scheduled_article_is_counted_when_its_instant_passes(client):
    jake = await register(client)
    soon = utc_now() + timedelta(milliseconds=800)
    await create_article(client, jake, tagList=["soon"],
                         publishAt=soon.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    assert await tags(client) == []
    await assert_exact({})

    await asyncio.sleep((soon - utc_now()).total_seconds() + 0.05)

    # This process wrote it, so it knows the instant: the first read counts it (bounded).
    assert await tags(client) == ["soon"]
    await assert_exact({"soon": 1})
    with oplog.recording() as read:
        assert await tags(client) == ["soon"]
    assert read.operations == [("tags", "aggregate")]  # counted once; nothing due any more


async def test_two_concurrent_sweeps_count_each_due_article_exactly_once(client):
    jake = await register(client)
    for tag_list in (["a", "b"], ["b"], ["c"]):
        article = await create_article(client, jake, tagList=tag_list, publishAt=FUTURE)
        await move_instant_into_the_past(article["slug"])
    assert await stored_counts() == {}

    # Two processes' sweeps at once (no lock between them): each claim flips `tags_counted`,
    # so every article is counted by exactly one of them.
    now = utc_now()
    claims = await asyncio.gather(*(count_one_due(now) for _ in range(8)))

    assert sorted(claims) == [False] * 5 + [True] * 3
    await assert_exact({"a": 1, "b": 2, "c": 1})
    assert await collection(Article).count_documents({"tags_counted": False}) == 0
    assert await tags(client) == ["a", "b", "c"]


async def test_the_background_pass_counts_what_another_process_scheduled(monkeypatch):
    from service.articles import announcing

    async def not_announcing(engine, interval):  # its own operations would mix into `read`
        await asyncio.Event().wait()

    monkeypatch.setattr(announcing, "sweep_forever", not_announcing)
    app = create_app(make_settings(tag_sweep_seconds=0.2))
    async with serving(app), client_for(app) as client:
        jake = await register(client)
        article = await create_article(client, jake, tagList=["elsewhere"], publishAt=FUTURE)
        await move_instant_into_the_past(article["slug"])
        # This process knows no instant due: a request reads `tags` only.
        with oplog.recording() as read:
            assert await tags(client) == []
        assert read.operations == [("tags", "aggregate")]

        for _ in range(40):  # the pass runs every 0.2 s
            await asyncio.sleep(0.1)
            if await stored_counts():
                break
        assert await tags(client) == ["elsewhere"]
        await assert_exact({"elsewhere": 1})


async def test_an_if_match_edit_is_not_refused_when_a_sweep_counted_the_article_meanwhile(client):
    jake = await register(client)
    article = await create_article(client, jake, tagList=["late"], publishAt=FUTURE)
    await move_instant_into_the_past(article["slug"])
    editor = await User.find_one(User.username == jake.username)
    read = await article_by_slug(article["slug"], None)  # read with tags_counted false ...
    assert await count_one_due(utc_now())  # ... then a sweep counts it, keeping its version

    updated = await update_article(read, editor, {"tag_list": ["later"]}, if_version=True)

    assert updated["tag_list"] == ["later"]
    await assert_exact({"later": 1})


# --- building and rebuilding ------------------------------------------------------------------


@WIRE_NULL_DATES
async def test_migration_0006_counts_existing_articles_once_and_down_removes_the_counts(app, client):
    from scripts.migrations import m0006_tag_counts as m0006

    jake = await register(client)
    await create_article(client, jake, tagList=["one", "two"])
    await create_article(client, jake, tagList=["two"])
    await create_article(client, jake, tagList=["draft"], status="draft")
    scheduled = await create_article(client, jake, tagList=["later"], publishAt=FUTURE)
    database = app.state.engine.database
    # As before the counts existed: no flags and no `tags`.
    await database.articles.update_many({}, {"$unset": {"tags_counted": ""}})
    await database.tags.delete_many({})

    assert await m0006.up(database, lambda done: None) == 2  # the two live ones
    await assert_exact({"one": 1, "two": 2})
    assert await m0006.up(database, lambda done: None) == 0  # idempotent
    await move_instant_into_the_past(scheduled["slug"])
    assert await count_one_due(utc_now())  # flagged uncounted, the sweep counts it when due
    await assert_exact({"later": 1, "one": 1, "two": 2})

    assert await m0006.down(database, lambda done: None) == 4
    assert await database.tags.count_documents({}) == 0


async def test_recount_rebuilds_flags_and_counts_exactly(app, client):
    jake = await register(client)
    await create_article(client, jake, tagList=["kept", "shared"])
    await create_article(client, jake, tagList=["shared"])
    draft = await create_article(client, jake, tagList=["draft"], status="draft")
    await assert_exact({"kept": 1, "shared": 2})
    # Drift of every kind: a wrong count, a lost tag, an invented one, a draft counted,
    # an unflagged live article.
    await collection(Tag).update_one({"_id": "shared"}, {"$inc": {"articles": 5}})
    await collection(Tag).delete_one({"_id": "kept"})
    await collection(Tag).insert_one({"_id": "ghost", "articles": 3})
    await collection(Article).update_one({"slug": draft["slug"]}, {"$set": {"tags_counted": True}})
    shared_slug = (await collection(Article).find_one({"tag_list": ["shared"]}))["slug"]
    await collection(Article).update_one({"slug": shared_slug}, {"$unset": {"tags_counted": ""}})

    found = await recount_tags(app.state.engine, lambda done: None)

    # The two flags first, each with its moves (the draft's tag goes to -1: it was never
    # counted), then every count from the flags.
    assert sorted(found.flags_fixed) == sorted([(draft["slug"], True, False),
                                                (shared_slug, None, True)])
    assert sorted(found.counts_fixed) == [("draft", -1, 0), ("ghost", 3, 0), ("kept", 0, 1),
                                          ("shared", 8, 2)]
    assert found.moved_meanwhile == []
    await assert_exact({"kept": 1, "shared": 2})
    assert await collection(Tag).count_documents({"_id": {"$in": ["ghost", "draft"]}}) == 0
    again = await recount_tags(app.state.engine, lambda done: None)
    assert (again.flags_fixed, again.counts_fixed, again.moved_meanwhile) == ([], [], [])
