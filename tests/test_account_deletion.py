"""Account deletion: DELETE /api/user, its batches, resuming an interrupted one, and the CLI."""

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import httpx
import pytest

from models import Article, ArticleRevision, Comment, Favorite, Follow, Report, User
from models.common import utc_now
from service.deletion import accounts as deletion
from service.deletion import articles as article_deletion
from service.deletion import owned, sweeper
from service.engine.client import collection
from service.main import create_app
from tests import oplog
from tests.conftest import client_for, make_settings, serving
from tests.factories import (
    PASSWORD,
    Account,
    add_comment,
    create_article,
    favorite,
    follow,
    register,
)
from tests.index_coverage import problems


async def delete_account(
    client: httpx.AsyncClient, account: Account, body: Any = None
) -> httpx.Response:
    """DELETE /api/user as `account`, confirming with its password unless `body` says otherwise."""
    body = {"user": {"password": PASSWORD}} if body is None else body
    return await client.request("DELETE", "/api/user", json=body, headers=account.headers)


async def user_id(username: str) -> Any:
    """The stored `_id` of an account."""
    found = await collection(User).find_one({"username": username}, {"_id": 1})
    assert found is not None, username
    return found["_id"]


async def article_id(slug: str) -> Any:
    """The stored `_id` of an article."""
    found = await collection(Article).find_one({"slug": slug}, {"_id": 1})
    assert found is not None, slug
    return found["_id"]


async def report(reporter: Any, article: Any, comment: int | None = None) -> None:
    """File a report directly (the reporting API is another part of the issue)."""
    await Report(reporter_id=reporter, article_id=article, comment_id=comment,
                 reason="spam").insert()


async def revision(article: Any, editor: Any, version: int) -> None:
    """Store a revision directly (the revisions API is another part of the issue)."""
    await ArticleRevision(article_id=article, version=version, title="t", description="d",
                          body="b", editor_id=editor, edited_at=utc_now(),
                          replaced_by=editor).insert()


async def assert_counters_exact() -> None:
    """Every article's favorites_count and comments_count equals the documents naming it."""
    async for article in collection(Article).find({}, {"favorites_count": 1, "comments_count": 1}):
        favorites = await collection(Favorite).count_documents({"article_id": article["_id"]})
        comments = await collection(Comment).count_documents({"article_id": article["_id"]})
        assert (article["favorites_count"], article["comments_count"]) == (favorites, comments)


async def assert_nothing_refers_to(victim: Any, articles: list[Any], comments: list[int]) -> None:
    """No document anywhere names the deleted account, its articles or its comments."""
    assert await collection(User).find_one({"_id": victim}) is None
    queries = [
        (Follow, {"$or": [{"follower_id": victim}, {"followee_id": victim}]}),
        (Favorite, {"$or": [{"user_id": victim}, {"article_id": {"$in": articles}}]}),
        (Comment, {"$or": [{"author_id": victim}, {"article_id": {"$in": articles}}]}),
        (Report, {"$or": [{"reporter_id": victim}, {"article_id": {"$in": articles}},
                          {"comment_id": {"$in": comments}}]}),
        (ArticleRevision, {"article_id": {"$in": articles}}),
        (Article, {"$or": [{"author_id": victim}, {"_id": {"$in": articles}}]}),
    ]
    for model, query in queries:
        assert await collection(model).count_documents(query) == 0, model.__name__


# --- the endpoint -------------------------------------------------------------------------------


async def test_deleting_an_account_needs_a_token(client):
    response = await client.request("DELETE", "/api/user", json={"user": {"password": PASSWORD}})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


@pytest.mark.parametrize("body", [{"user": {}}, {"user": {"password": ""}}, {}],
                         ids=["no-password", "blank", "no-user"])
async def test_deleting_an_account_needs_its_password(client, body):
    jake = await register(client)
    response = await delete_account(client, jake, body)
    assert response.status_code == 422, response.text
    assert (await client.get("/api/user", headers=jake.headers)).status_code == 200


async def test_a_wrong_password_is_403_and_deletes_nothing(client):
    jake = await register(client)
    await create_article(client, jake)
    response = await delete_account(client, jake, {"user": {"password": "not-the-password"}})
    assert response.status_code == 403
    assert response.json() == {"errors": {"password": ["is incorrect"]}}
    assert (await client.get("/api/user", headers=jake.headers)).status_code == 200
    assert (await client.get("/api/articles", params={"author": jake.username})).json()[
        "articlesCount"] == 1


async def test_wrong_passwords_count_against_the_login_limit_of_the_account():
    app = create_app(make_settings(rate_limit_login_per_account="2/minute"))
    async with serving(app):
        async with client_for(app) as client:
            jake = await register(client)
            wrong = {"user": {"password": "not-the-password"}}
            for _ in range(2):
                assert (await delete_account(client, jake, wrong)).status_code == 403
            assert (await delete_account(client, jake)).status_code == 429
            login = {"user": {"email": jake.email, "password": PASSWORD}}
            assert (await client.post("/api/users/login", json=login)).status_code == 429


async def test_after_deletion_the_token_fails_and_the_names_are_free_again(client):
    jake = await register(client, "jake")
    assert (await delete_account(client, jake)).status_code == 204
    for response in (await client.get("/api/user", headers=jake.headers),
                     await client.post("/api/articles/x/favorite", headers=jake.headers)):
        assert response.status_code == 401
    login = {"user": {"email": jake.email, "password": PASSWORD}}
    assert (await client.post("/api/users/login", json=login)).status_code == 401
    assert (await client.get("/api/profiles/jake")).status_code == 404
    again = await register(client, "jake")  # same username and email
    assert again.email == jake.email


async def test_suspended_accounts_may_delete_themselves(client):
    jake = await register(client)
    suspension = {"reason": "spam", "by": await user_id(jake.username), "at": utc_now()}
    await collection(User).update_one({"username": jake.username},
                                      {"$set": {"suspension": suspension}})
    assert (await delete_account(client, jake)).status_code == 204
    assert await collection(User).find_one({"username": jake.username}) is None


async def test_while_marked_sign_in_fails_as_bad_credentials_and_tokens_stop(client, monkeypatch):
    async def stopped(user_id):  # the removal has not run yet
        return True

    monkeypatch.setattr(deletion, "finish_logged", stopped)
    jake = await register(client)
    assert (await delete_account(client, jake)).status_code == 204
    stored = await collection(User).find_one({"username": jake.username})
    assert stored["deleting"] is not None and stored["sessions"] == []
    login = {"user": {"email": jake.email, "password": PASSWORD}}
    response = await client.post("/api/users/login", json=login)
    assert response.status_code == 401
    assert response.json() == {"errors": {"credentials": ["invalid"]}}
    assert (await client.get("/api/user", headers=jake.headers)).status_code == 401
    assert (await delete_account(client, jake)).status_code == 401
    # The resume entry point finishes it.
    done, busy = await deletion.finish_marked()
    assert [d.username for d in done] == [jake.username] and busy == []
    assert await collection(User).find_one({"username": jake.username}) is None


# --- a large account, in small batches -------------------------------------------------------


async def build_a_busy_account(client) -> dict[str, Any]:
    """A victim with follows both ways, favorites, comments, reports and articles that others
    favorited, commented on, reported and revised; plus others' content that must survive."""
    victim = await register(client)
    others = [await register(client) for _ in range(6)]
    theirs = [await create_article(client, others[n % 6]) for n in range(12)]
    mine = [await create_article(client, victim) for _ in range(10)]
    for other in others:
        await follow(client, victim, other.username)
        await follow(client, other, victim.username)
    victim_id = await user_id(victim.username)
    my_comments = []
    for article in theirs:
        await favorite(client, victim, article["slug"])
        for _ in range(4):
            my_comments.append((await add_comment(client, victim, article["slug"]))["id"])
        await add_comment(client, others[0], article["slug"])
        await favorite(client, others[1], article["slug"])
        await report(victim_id, await article_id(article["slug"]))
        await report(await user_id(others[2].username), await article_id(article["slug"]),
                     my_comments[-1])
    my_ids = []
    for n, article in enumerate(mine):
        my_ids.append(await article_id(article["slug"]))
        await favorite(client, victim, article["slug"])
        for other in others[:4]:
            await favorite(client, other, article["slug"])
            await add_comment(client, other, article["slug"])
        my_comments.append((await add_comment(client, victim, article["slug"]))["id"])
        await report(await user_id(others[3].username), my_ids[-1])
        for version in (1, 2, 3):
            await revision(my_ids[-1], victim_id if n % 2 else await user_id(others[0].username),
                           version)
    return {"victim": victim, "victim_id": victim_id, "others": others, "mine": my_ids,
            "theirs": theirs, "my_comments": my_comments}


async def survivors() -> dict[str, int]:
    """How many of each kind of document are left."""
    return {model.__name__: await collection(model).count_documents({})
            for model in (User, Follow, Favorite, Comment, Report, ArticleRevision, Article)}


async def test_a_busy_account_is_removed_in_small_batches_leaving_exact_counters(client, monkeypatch):
    monkeypatch.setattr(owned, "BATCH_SIZE", 7)
    account = await build_a_busy_account(client)
    edges = await survivors()
    assert edges["Comment"] > 100 and edges["Favorite"] > 60 and edges["Report"] > 20
    calls: list[int] = []
    original = owned._ids

    async def counted(*args, **kwargs):
        found = await original(*args, **kwargs)
        calls.append(len(found))
        return found

    monkeypatch.setattr(owned, "_ids", counted)
    assert (await delete_account(client, account["victim"])).status_code == 204
    assert max(calls) == 7 and len(calls) > 20  # bounded batches
    await assert_nothing_refers_to(account["victim_id"], account["mine"], account["my_comments"])
    await assert_counters_exact()
    left = await survivors()
    assert left["User"] == 6 and left["Article"] == 12 and left["Follow"] == 0
    # Others' own content on others' articles is untouched: one comment and one favorite each.
    assert (left["Comment"], left["Favorite"]) == (12, 12)
    for article in account["theirs"]:
        shown = (await client.get(f"/api/articles/{article['slug']}")).json()["article"]
        assert shown["favoritesCount"] == 1


# --- resuming an interrupted deletion ------------------------------------------------------------


class Crash(Exception):
    """A process stopping in the middle of a step."""


def crash_on_call(target: Any, name: str, call: int, monkeypatch) -> None:
    """Make `target.name` raise Crash on its `call`-th call (once)."""
    original = getattr(target, name)
    calls = itertools.count(1)

    async def crashing(*args, **kwargs):
        if next(calls) == call:
            raise Crash(name)
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, name, crashing)


@pytest.mark.parametrize(
    ("target", "name", "call"),
    [(owned, "move_counter", 3), (owned, "move_counter", 25),
     (article_deletion, "_counted", 2), (owned, "_settled", 5)],
    ids=["favorite-uncounted", "comment-uncounted", "article-sweep", "between-batches"],
)
async def test_an_interrupted_deletion_resumes_to_completion(client, monkeypatch, caplog, target,
                                                              name, call):
    monkeypatch.setattr(owned, "BATCH_SIZE", 5)
    account = await build_a_busy_account(client)
    crash_on_call(target, name, call, monkeypatch)
    with caplog.at_level("ERROR", logger="folio.deletion"):
        assert (await delete_account(client, account["victim"])).status_code == 204
    assert "the background loop resumes it" in caplog.text
    stopped = await collection(User).find_one({"_id": account["victim_id"]})
    assert stopped["deleting"] is not None
    assert "deletion_claimed_until" not in stopped  # released, so a resume starts at once
    monkeypatch.undo()
    monkeypatch.setattr(owned, "BATCH_SIZE", 5)
    monkeypatch.setattr(deletion, "WRITE_WINDOW_SECONDS", 0)
    with oplog.recording() as log:
        done, busy = await deletion.finish_marked()
    assert [d.username for d in done] == [account["victim"].username] and busy == []
    if target is deletion:  # an article's sweep needs no settling: it resumes by itself
        assert done[0].settled > 0  # the interrupted batch's articles were settled first
    assert [p for op in log.details for p in problems(op)] == []
    await assert_nothing_refers_to(account["victim_id"], account["mine"], account["my_comments"])
    await assert_counters_exact()


async def test_a_deletion_held_by_another_runner_is_left_alone(client):
    jake = await register(client)
    jake_id = await user_id(jake.username)
    await deletion.mark(jake_id)
    claimed = await deletion._claim(jake_id, None)
    assert claimed is not None
    with pytest.raises(deletion.DeletionBusy):
        await deletion.finish(jake_id)
    assert await deletion.finish_marked() == ([], [jake_id])
    lapsed = utc_now() - timedelta(seconds=1)  # as when the holder stopped long enough ago
    await collection(User).update_one({"_id": jake_id},
                                      {"$set": {"deletion_claimed_until": lapsed}})
    done, busy = await deletion.finish_marked()
    assert len(done) == 1 and busy == []


@pytest.mark.not_on_wire(
    "mongoeco has no collMod: this start-up task creates the collections before the test "
    "harness's `folio db sync`, which then changes their validators with collMod (MongoDB has it)"
)
async def test_start_up_resumes_unfinished_deletions_in_the_background():
    seeded: dict[str, Any] = {}

    async def leave_a_marked_account(app, engine):
        user = User(username="gone", email="gone@example.com", password_hash="x",
                    deleting=utc_now())
        await user.insert()
        other = User(username="stays", email="stays@example.com", password_hash="x")
        await other.insert()
        await Follow(follower_id=other.id, followee_id=user.id).insert()
        seeded["id"] = user.id

    app = create_app(make_settings(deletion_sweep_seconds=3600),
                     startup_tasks=[leave_a_marked_account])
    async with serving(app):
        for _ in range(100):  # the first pass runs at once, not an hour later
            if await collection(User).find_one({"_id": seeded["id"]}) is None:
                break
            await asyncio.sleep(0.05)
        assert await collection(User).find_one({"_id": seeded["id"]}) is None
        assert await collection(Follow).count_documents({}) == 0
        assert await collection(User).count_documents({}) == 1
        assert not app.state.deletion_sweeper.done()  # and the loop goes on


async def test_start_up_with_nothing_to_resume_sweeps_only_after_an_interval(monkeypatch):
    passes = []

    async def counted(*args, **kwargs):
        passes.append(1)
        return sweeper.Pass()

    monkeypatch.setattr(sweeper, "sweep_pass", counted)
    app = create_app(make_settings(deletion_sweep_seconds=0.2))
    async with serving(app):
        await asyncio.sleep(0.05)
        assert passes == []  # nothing was left: no pass during start-up's first requests
        await asyncio.sleep(0.6)
        assert len(passes) >= 2  # then periodically, not only at start-up


# --- concurrency ----------------------------------------------------------------------------------


async def test_favorites_and_comments_racing_a_deletion_leave_no_orphan_or_wrong_count(
    client, monkeypatch
):
    monkeypatch.setattr(owned, "BATCH_SIZE", 3)
    victim = await register(client)
    fans = [await register(client) for _ in range(5)]
    mine = [await create_article(client, victim) for _ in range(6)]
    theirs = await create_article(client, fans[0])
    my_ids = [await article_id(article["slug"]) for article in mine]
    for article in mine:
        await add_comment(client, fans[0], article["slug"])
    await favorite(client, victim, theirs["slug"])
    await add_comment(client, victim, theirs["slug"])

    async def fan_activity(fan: Account) -> list[int]:
        statuses = []
        for article in [*mine, theirs]:
            for request in (
                client.post(f"/api/articles/{article['slug']}/favorite", headers=fan.headers),
                client.post(f"/api/articles/{article['slug']}/comments",
                            json={"comment": {"body": "racing"}}, headers=fan.headers),
                client.delete(f"/api/articles/{article['slug']}/favorite", headers=fan.headers),
                client.post(f"/api/articles/{article['slug']}/favorite", headers=fan.headers),
            ):
                statuses.append((await request).status_code)
        return statuses

    # The embedded engine answers without yielding to the event loop; yielding inside every
    # deletion batch and between each fan's insert and its `$inc` makes the writes interleave.
    from service.articles import counters
    original_move = counters.move_counter

    async def yielding_move(*args, **kwargs):
        await asyncio.sleep(0)
        return await original_move(*args, **kwargs)

    monkeypatch.setattr(counters, "move_counter", yielding_move)
    for name, step in list(owned.STEPS.items()):
        async def yielding_step(user, step=step):
            await asyncio.sleep(0)
            return await step(user)
        monkeypatch.setitem(owned.STEPS, name, yielding_step)

    victim_id = await user_id(victim.username)
    results = await asyncio.gather(delete_account(client, victim),
                                   *(fan_activity(fan) for fan in fans))
    assert results[0].status_code == 204
    seen = {status for statuses in results[1:] for status in statuses}
    # Which writes lose the race (404) depends on the interleaving, which varies by run; every
    # outcome must leave the data consistent, and a write after the deletion always loses.
    assert seen <= {200, 201, 404}
    late = await client.post(f"/api/articles/{mine[0]['slug']}/favorite", headers=fans[0].headers)
    assert late.status_code == 404
    await assert_nothing_refers_to(victim_id, my_ids, [])
    await assert_counters_exact()
    survivor = (await client.get(f"/api/articles/{theirs['slug']}")).json()["article"]
    assert survivor["favoritesCount"] == 5


# --- the operator's commands ---------------------------------------------------------------------


async def test_the_operator_deletes_by_username_without_a_password(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    await favorite(client, anna, article["slug"])
    await follow(client, anna, jake.username)
    deleted = await deletion.delete_by_username(jake.username)
    assert deleted is not None and deleted.removed == {"follows received": 1, "articles": 1}
    assert await collection(Favorite).count_documents({}) == 0
    assert await deletion.delete_by_username(jake.username) is None
    assert (await client.get("/api/user", headers=anna.headers)).status_code == 200
