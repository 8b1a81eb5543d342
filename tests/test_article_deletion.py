"""Durable deletion: articles marked then swept in batches, the periodic sweeper, account
deletion's write window and transaction size, and leases by the server's clock."""

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import ExecutionTimeout

from models import Article, ArticleRevision, Comment, Favorite, Report, User
from models.common import utc_now
from service.articles import counters as article_counters
from service.contract.errors import NotFound
from service.deletion import accounts as deletion
from service.deletion import articles as article_deletion
from service.deletion import owned, sweeper
from service.engine.client import collection
from service.engine.transactions import lease_update
from tests import oplog
from tests.conftest import WIRE_NULL_DATES
from tests.factories import add_comment, create_article, favorite, follow, register
from tests.test_account_deletion import (
    article_id,
    assert_counters_exact,
    delete_account,
    report,
    revision,
    user_id,
)


def fail_on_call(target: Any, name: str, call: int, error: Exception, monkeypatch) -> None:
    """Make `target.name` raise `error` on its `call`-th call (once)."""
    original = getattr(target, name)
    calls = itertools.count(1)

    async def failing(*args, **kwargs):
        if next(calls) == call:
            raise error
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


async def names_article(article: Any) -> dict[str, int]:
    """How many documents of each kind still name the article."""
    return {model.__name__: await collection(model).count_documents({"article_id": article})
            for model in (Favorite, Comment, Report, ArticleRevision)}


async def a_popular_article(client) -> dict[str, Any]:
    """An article with favorites, comments, reports and revisions, fans who follow its author
    and another article each of them favorited too."""
    author = await register(client)
    fans = [await register(client) for _ in range(6)]
    popular = await create_article(client, author, tagList=["doomed"])
    other = await create_article(client, fans[0], tagList=["kept"])
    popular_id = await article_id(popular["slug"])
    for fan in fans:
        await follow(client, fan, author.username)
        await favorite(client, fan, popular["slug"])
        await favorite(client, fan, other["slug"])
        await add_comment(client, fan, popular["slug"])
        await report(await user_id(fan.username), popular_id)
    for version in (1, 2, 3, 4):
        await revision(popular_id, await user_id(author.username), version)
    return {"author": author, "fans": fans, "popular": popular, "other": other, "id": popular_id}


async def test_an_interrupted_sweep_leaves_the_article_gone_everywhere_and_the_next_pass_ends_it(
    client, monkeypatch
):
    monkeypatch.setattr(article_deletion, "BATCH_SIZE", 2)
    data = await a_popular_article(client)
    author, fans, slug = data["author"], data["fans"], data["popular"]["slug"]
    # The second batch runs out of its time budget, as a `maxTimeMS` would stop it.
    fail_on_call(article_deletion, "_counted", 2,
                 ExecutionTimeout("operation exceeded time limit", 50), monkeypatch)
    response = await client.delete(f"/api/articles/{slug}", headers=author.headers)
    assert response.status_code == 204
    stored = await collection(Article).find_one({"_id": data["id"]})
    assert stored["status"] == "deleted" and stored["published_at"] is None
    assert stored["deleting"] is not None and stored["deletion_claimed_until"] is None  # released
    assert (await names_article(data["id"]))["Favorite"] == 4  # one batch of 2 went
    assert stored["favorites_count"] == 4  # moved by exactly what was deleted

    # Gone at once, for its author too (lists, feeds and tags: the test after this one).
    for headers in ({}, author.headers):
        for path in (f"/api/articles/{slug}", f"/api/articles/{slug}/comments"):
            assert (await client.get(path, headers=headers)).status_code == 404, path
    # Nothing new lands on it: the writes answer 404 and leave nothing behind.
    late = await client.post(f"/api/articles/{slug}/favorite", headers=fans[0].headers)
    assert late.status_code == 404
    # Its slug is free again at once, as after a delete.
    again = await create_article(client, author, title=data["popular"]["title"])
    assert again["slug"] == slug

    monkeypatch.undo()
    done = await sweeper.sweep_pass()
    assert done.articles_deleted == 1 and done.stopped is None
    assert await collection(Article).find_one({"_id": data["id"]}) is None
    assert await names_article(data["id"]) == {
        "Favorite": 0, "Comment": 0, "Report": 0, "ArticleRevision": 0}
    await assert_counters_exact()
    favorites = (await client.get("/api/articles", params={"favorited": fans[0].username})).json()
    assert favorites["articlesCount"] == 1  # the fan's favorites count no orphan edge


@WIRE_NULL_DATES  # a marked article's `published_at` is null, as a draft's
async def test_a_marked_article_is_gone_from_every_list_feed_tag_and_atom_entry(client):
    data = await a_popular_article(client)
    author, fans, slug = data["author"], data["fans"], data["popular"]["slug"]
    assert await article_deletion.mark(await collection(Article).find_one({"_id": data["id"]}))
    for params in ({}, {"author": author.username}, {"tag": "doomed"},
                   {"favorited": fans[0].username}):
        listed = (await client.get("/api/articles", params=params)).json()["articles"]
        assert slug not in [a["slug"] for a in listed], params
    for status in ("draft", "scheduled"):
        mine = await client.get("/api/articles", params={"status": status}, headers=author.headers)
        assert mine.json()["articlesCount"] == 0, status
    feed = (await client.get("/api/articles/feed", headers=fans[1].headers)).json()
    assert feed["articles"] == [] and feed["articlesCount"] == 0
    assert "doomed" not in (await client.get("/api/tags")).json()["tags"]
    assert slug not in (await client.get("/feeds/articles.atom")).text
    found = await client.get("/api/search", params={"q": data["popular"]["title"]})
    assert found.json()["articlesCount"] == 0


async def test_a_favorite_racing_the_mark_takes_itself_back(client):
    data = await a_popular_article(client)
    newcomer = await register(client)
    newcomer_id = await user_id(newcomer.username)
    read_before_the_mark = await collection(Article).find_one({"_id": data["id"]})
    assert await article_deletion.mark(read_before_the_mark)
    with pytest.raises(NotFound):  # passed its slug check before the mark, lands after it
        await article_counters.favorite(read_before_the_mark, newcomer_id)
    assert await collection(Favorite).count_documents({"user_id": newcomer_id}) == 0
    stored = await collection(Article).find_one({"_id": data["id"]})
    assert stored["favorites_count"] == 6


async def test_two_sweepers_at_once_do_no_harm(client, monkeypatch):
    monkeypatch.setattr(article_deletion, "BATCH_SIZE", 1)
    data = await a_popular_article(client)
    marked = await collection(Article).find_one({"_id": data["id"]})
    await article_deletion.mark(marked)
    held = await article_deletion._claim(data["id"], None)  # another process is sweeping it
    with pytest.raises(article_deletion.SweepBusy):
        await article_deletion.sweep(data["id"])
    assert (await sweeper.sweep_pass()).articles_deleted == 0  # left to its holder
    assert (await names_article(data["id"]))["Favorite"] == 6
    # The holder stops; once its lease lapses, two passes race for the rest.
    lapsed = utc_now() - timedelta(seconds=1)
    await collection(Article).update_one({"_id": data["id"], "deletion_claimed_until": held},
                                         {"$set": {"deletion_claimed_until": lapsed}})

    original = article_deletion._counted

    async def yielding(*args, **kwargs):  # interleave the two passes' batches
        await asyncio.sleep(0)
        return await original(*args, **kwargs)

    monkeypatch.setattr(article_deletion, "_counted", yielding)
    first, second = await asyncio.gather(sweeper.sweep_pass(), sweeper.sweep_pass())
    assert first.articles_deleted + second.articles_deleted == 1
    assert await collection(Article).find_one({"_id": data["id"]}) is None
    assert sum((await names_article(data["id"])).values()) == 0
    await assert_counters_exact()


async def test_the_sweeper_pass_stops_at_its_budget_and_the_next_goes_on(client, monkeypatch):
    monkeypatch.setattr(article_deletion, "BATCH_SIZE", 2)
    data = await a_popular_article(client)
    await article_deletion.mark(await collection(Article).find_one({"_id": data["id"]}))
    monkeypatch.setattr(sweeper, "PASS_BATCHES", 3)
    first = await sweeper.sweep_pass()
    assert first.batches == 3 and first.articles_deleted == 0  # bounded per pass
    assert await collection(Article).find_one({"_id": data["id"]}) is not None
    while (await sweeper.sweep_pass()).articles_deleted == 0:
        pass
    assert sum((await names_article(data["id"])).values()) == 0
    await assert_counters_exact()


# --- account deletion: the write window and the size of a transaction ----------------------------


async def test_a_write_another_process_still_accepts_after_the_mark_is_swept_before_the_end(
    client, monkeypatch
):
    monkeypatch.setattr(deletion, "WRITE_WINDOW_SECONDS", 0.5)
    monkeypatch.setattr(deletion, "shared_by_processes", lambda: True)  # as on any MongoDB
    victim, author = await register(client), await register(client)
    article = await create_article(client, author)
    victim_id = await user_id(victim.username)
    assert (await delete_account(client, victim)).status_code == 204
    waiting = await collection(User).find_one({"_id": victim_id})
    assert waiting is not None and waiting["deleting"] is not None  # inside the window: kept
    # Another process trusted its 30 s confirmation of the victim's token: the favorite lands.
    stored = await collection(Article).find_one({"_id": await article_id(article["slug"])})
    await article_counters.favorite(stored, victim_id)
    early = await deletion.finish(victim_id)
    assert early is not None and not early.done and early.waiting_until is not None
    assert await collection(User).find_one({"_id": victim_id}) is not None
    await asyncio.sleep(0.6)
    done = await sweeper.sweep_pass()  # the periodic pass ends it after the window
    assert done.accounts_deleted == [victim.username]
    assert await collection(User).find_one({"_id": victim_id}) is None
    assert await collection(Favorite).count_documents({"user_id": victim_id}) == 0
    await assert_counters_exact()


async def test_account_deletion_transactions_stay_small_and_uncount_per_article(
    client, monkeypatch
):
    victim, author = await register(client), await register(client)
    for _ in range(owned.BATCH_SIZE + 10):
        article = await create_article(client, author)
        await favorite(client, victim, article["slug"])
    busy = await create_article(client, author)
    for _ in range(5):
        await add_comment(client, victim, busy["slug"])
    writes_per_batch: list[tuple[int, int]] = []  # (deletes, counter updates)
    original = owned.atomically

    async def recorded(work):
        with oplog.recording() as log:
            result = await original(work)
        names = log.operations
        deletes = sum(1 for c, n in names if c in ("favorites", "comments") and "delete" in n)
        counters = sum(1 for c, _ in names if c == "articles")
        writes_per_batch.append((deletes, counters))
        return result

    monkeypatch.setattr(owned, "atomically", recorded)
    assert (await delete_account(client, victim)).status_code == 204
    assert len(writes_per_batch) >= 3  # the favorites took two batches, the comments one
    for deletes, counters in writes_per_batch:
        assert deletes <= owned.BATCH_SIZE and counters <= owned.BATCH_SIZE
    assert owned.BATCH_SIZE <= 50  # tens of statements per transaction, never hundreds
    # Five comments on one article: one delete and one `$inc` of exactly five.
    assert (1, 1) in writes_per_batch
    await assert_counters_exact()


# --- leases by the server's clock -----------------------------------------------------------------


def test_on_mongodb_a_lease_reads_the_servers_clock_on_both_sides():
    match = {"_id": 1}
    condition, update = lease_update(match, "claimed_until", 60, None, embedded=False)
    assert {"$expr": {"$lt": ["$claimed_until", "$$NOW"]}} in condition["$or"]
    assert update == [{"$set": {"claimed_until": {"$add": ["$$NOW", 60000]}}}]
    held = utc_now()
    renewing, _ = lease_update(match, "claimed_until", 60, held, embedded=False)
    assert {"claimed_until": held} in renewing["$or"]


async def test_a_host_whose_clock_runs_ahead_does_not_take_over_a_live_claim(client, monkeypatch):
    jake = await register(client)
    jake_id = await user_id(jake.username)
    await deletion.mark(jake_id)
    assert await deletion._claim(jake_id, None) is not None  # held by a process right now
    ahead = utc_now() + timedelta(hours=1)
    for module in (deletion, article_deletion):
        monkeypatch.setattr(module, "utc_now", lambda: ahead, raising=False)
    monkeypatch.setattr("models.common.utc_now", lambda: ahead)
    with pytest.raises(deletion.DeletionBusy):
        await deletion.finish(jake_id)
