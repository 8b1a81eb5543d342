"""The event outbox: each change writes its event (and nothing for drafts or undoing), in the
change's transaction; scheduled articles are announced once as they go live; the drain hands
every event to every consumer at least once, retries a failing one alone, and survives a crash.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from models import Article, Event, Follow, Lease
from service import api
from service.articles import announcing
from service.engine import collection
from service.events import drain as drain_module
from service.events import outbox
from service.events.drain import LEASE, Drain
from service.main import create_app
from service.profiles import queries as profiles
from tests.conftest import client_for, make_settings, serving
from tests.factories import add_comment, create_article, favorite, follow, register

ADMIN = "root"


@pytest.fixture
def settings():
    """FOLIO_ADMINS names `root` (moderation events)."""
    return make_settings(admins=[ADMIN])


async def types_written() -> list[str]:
    """The types of the events stored, oldest first."""
    return [event["type"] async for event in collection(Event).find({}).sort("_id", 1)]


async def test_each_change_writes_its_event_in_the_apis_shapes(client):
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    slug = article["slug"]
    await client.put(f"/api/articles/{slug}", json={"article": {"body": "New body."}},
                     headers=jake.headers)
    await add_comment(client, anna, slug, "hello")
    await follow(client, anna, jake.username)
    await favorite(client, anna, slug)
    report = await client.post(f"/api/articles/{slug}/reports",
                               json={"report": {"reason": "spam"}}, headers=anna.headers)
    assert report.status_code == 201
    assert await types_written() == [
        "article.published", "article.updated", "comment.created", "profile.followed",
        "article.favorited", "report.created",
    ]
    events = {e["type"]: e async for e in collection(Event).find({})}
    published = events["article.published"]
    assert published["data"]["article"]["slug"] == slug
    assert published["data"]["article"]["author"] == {
        "username": jake.username, "bio": None, "image": None, "following": False}
    assert published["data"]["article"]["favorited"] is False
    assert published["actor"]["username"] == jake.username
    assert published["refs"]["article"] == published["refs"]["article"]  # an ObjectId
    assert events["article.updated"]["data"]["article"]["body"] == "New body."
    comment = events["comment.created"]
    assert comment["data"]["comment"]["body"] == "hello"
    assert comment["data"]["article"]["slug"] == slug
    assert comment["refs"]["user"] == published["refs"]["user"]  # the article's author
    assert events["profile.followed"]["data"]["profile"]["username"] == jake.username
    assert events["profile.followed"]["data"]["follower"]["username"] == anna.username
    assert events["article.favorited"]["data"]["favoritesCount"] == 1
    assert events["article.favorited"]["actor"]["username"] == anna.username
    assert events["report.created"]["data"]["report"]["target"] == {"article": slug,
                                                                    "comment": None}
    assert all(e["pending"] is True and e["done"] == [] for e in events.values())


async def test_nothing_is_announced_for_drafts_scheduled_articles_or_undoing(client):
    jake, anna = await register(client), await register(client)
    draft = await create_article(client, jake, status="draft")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await create_article(client, jake, publishAt=later)
    await add_comment(client, jake, draft["slug"], "note to self")
    await client.put(f"/api/articles/{draft['slug']}", json={"article": {"body": "still a draft"}},
                     headers=jake.headers)
    await follow(client, anna, jake.username)
    await follow(client, anna, jake.username)  # again: no second event
    await client.delete(f"/api/profiles/{jake.username}/follow", headers=anna.headers)
    live = await create_article(client, jake, status="draft")  # published below, then undone
    await client.put(f"/api/articles/{live['slug']}", json={"article": {"status": "published"}},
                     headers=jake.headers)
    await favorite(client, anna, live["slug"])
    await favorite(client, anna, live["slug"])  # again: no second event
    await client.delete(f"/api/articles/{live['slug']}/favorite", headers=anna.headers)
    assert await types_written() == ["profile.followed", "article.published",
                                     "article.favorited"]


async def test_publishing_unpublishing_and_deleting_announce_the_transition(client):
    jake = await register(client)
    draft = await create_article(client, jake, status="draft")
    slug = draft["slug"]
    put = client.put
    await put(f"/api/articles/{slug}", json={"article": {"status": "published"}},
              headers=jake.headers)
    await put(f"/api/articles/{slug}", json={"article": {"status": "draft"}}, headers=jake.headers)
    await put(f"/api/articles/{slug}", json={"article": {"status": "published"}},
              headers=jake.headers)
    assert (await client.delete(f"/api/articles/{slug}", headers=jake.headers)).status_code == 204
    assert await types_written() == ["article.published", "article.unpublished",
                                     "article.published", "article.unpublished"]
    reasons = [e["data"]["reason"] async for e in collection(Event).find(
        {"type": "article.unpublished"}).sort("_id", 1)]
    assert reasons == ["draft", "deleted"]


async def test_moderation_actions_write_moderation_events(client):
    admin = await register(client, ADMIN)
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, anna, article["slug"])
    headers = admin.headers
    slug = article["slug"]
    for url in (f"/api/moderation/articles/{slug}/hide", f"/api/moderation/articles/{slug}/unhide",
                f"/api/moderation/comments/{comment['id']}/hide",
                f"/api/moderation/comments/{comment['id']}/unhide",
                f"/api/moderation/users/{anna.username}/suspend",
                f"/api/moderation/users/{anna.username}/unsuspend"):
        response = await client.post(url, json={"reason": "because"}, headers=headers)
        assert response.status_code == 200, (url, response.text)
    assert await types_written() == [
        "article.published", "comment.created",
        "moderation.article_hidden", "article.unpublished",
        "moderation.article_restored", "article.published",
        "moderation.comment_hidden", "moderation.comment_restored",
        "moderation.user_suspended", "moderation.user_restored",
    ]
    hidden = await collection(Event).find_one({"type": "moderation.comment_hidden"})
    assert hidden["data"]["comment"] == {"id": comment["id"], "body": comment["body"]}
    assert hidden["data"]["user"]["username"] == anna.username  # whom it is about
    assert hidden["actor"]["username"] == ADMIN
    unpublished = await collection(Event).find_one({"type": "article.unpublished"})
    assert unpublished["data"]["reason"] == "hidden"


# --- scheduled articles ------------------------------------------------------------------------


async def test_a_scheduled_article_is_announced_once_when_it_goes_live(client):
    jake = await register(client)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    article = await create_article(client, jake, publishAt=soon.isoformat())
    assert await announcing.announce_due(10) == 0  # not yet live: nothing
    assert await types_written() == []
    await asyncio.sleep(1.1)
    # Two sweepers (as in two processes) at once: exactly one announces it.
    results = await asyncio.gather(announcing.announce_due(10, announcing.Schedule()),
                                   announcing.announce_due(10, announcing.Schedule()))
    assert sorted(results) == [0, 1]
    assert await types_written() == ["article.published"]
    event = await collection(Event).find_one({})
    assert event["actor"] is None  # the system: the schedule went live
    assert event["data"]["article"]["slug"] == article["slug"]
    stored = await collection(Article).find_one({"slug": article["slug"]})
    assert event["at"].replace(tzinfo=UTC) == stored["published_at"].replace(tzinfo=UTC)
    assert await announcing.announce_due(10) == 0


# --- the drain ---------------------------------------------------------------------------------


def failures_of(consumer: str) -> float:
    """`folio_event_drain_failures_total` for one consumer, as /metrics shows it."""
    value = REGISTRY.get_sample_value("folio_event_drain_failures_total", {"consumer": consumer})
    return value or 0.0


def recording(seen: list, fail_first: int = 0):
    """A consumer that records each event id it sees, raising on its first `fail_first` calls."""
    calls = {"n": 0}

    async def consume(event: dict) -> None:
        calls["n"] += 1
        if calls["n"] <= fail_first:
            raise RuntimeError("receiver down")
        seen.append(event["_id"])

    return consume


async def test_the_drain_hands_each_event_to_every_consumer_and_retries_only_the_failing_one(
        client, monkeypatch):
    jake = await register(client)
    await create_article(client, jake)
    await create_article(client, jake)
    good, flaky = [], []
    drain = Drain({"good": recording(good), "flaky": recording(flaky, fail_first=1)})
    failures_before = failures_of("flaky")
    assert await drain.drain_once() == 2
    assert failures_of("flaky") == failures_before + 1
    assert REGISTRY.get_sample_value("folio_event_backlog") == 1
    assert len(good) == 2 and len(flaky) == 1  # the first event failed for `flaky`
    failed = await collection(Event).find_one({"pending": True})
    assert failed["done"] == ["good"] and failed["attempts"] == 1
    assert "receiver down" in failed["last_error"]
    assert failed["due_at"] > datetime.now(UTC).replace(tzinfo=None)  # its own backoff
    assert await drain.drain_once() == 0  # not due yet: nothing handed on
    await collection(Event).update_one({"_id": failed["_id"]},
                                       {"$set": {"due_at": datetime.now(UTC)}})
    assert await drain.drain_once() == 1
    assert len(good) == 2  # not replayed to the consumer already done
    assert sorted(flaky) == sorted(good)
    assert await collection(Event).count_documents({"pending": True}) == 0
    assert await drain.count_backlog() == 0


async def test_an_event_a_consumer_keeps_failing_on_is_given_up_after_the_last_attempt(client):
    jake = await register(client)
    await create_article(client, jake)
    drain = Drain({"broken": recording([], fail_first=10**6)})
    await collection(Event).update_many({}, {"$set": {"attempts": drain_module.MAX_ATTEMPTS - 1}})
    await drain.drain_once()
    event = await collection(Event).find_one({})
    assert "pending" not in event and event["failed"] == ["broken"]


async def test_an_event_committed_before_a_crash_is_delivered_by_the_next_drain(client):
    jake = await register(client)
    await create_article(client, jake)
    first = Drain({"c": recording([])}, holder="dead")
    assert await first.hold()  # it took the lease, then the process died before handling
    assert await Drain({"c": recording([])}, holder="other").drain_once() == 0  # lease held
    # The dead process's lease lapses (by the server's clock): the next process takes over.
    await collection(Lease).update_one({"_id": LEASE}, {"$set": {"until": datetime(2000, 1, 1)}})
    seen: list = []
    assert await Drain({"c": recording(seen)}, holder="restarted").drain_once() == 1
    assert len(seen) == 1
    assert (await collection(Lease).find_one({"_id": LEASE}))["holder"] == "restarted"


@pytest.mark.not_on_wire(
    "mongoeco has no collMod: the drain this app starts creates `leases` before the test "
    "harness's `folio db sync`, which then changes its validator with collMod (MongoDB has it)")
async def test_the_api_process_drains_in_the_background_and_a_write_wakes_it(monkeypatch):

    seen: list = []
    monkeypatch.setitem(api.EVENT_CONSUMERS, "test", recording(seen))
    app = create_app(make_settings(event_drain_in_api=True, event_poll_seconds=30))
    async with serving(app), client_for(app) as client:
        jake = await register(client)
        await create_article(client, jake)
        for _ in range(100):  # the poll is 30 s: only the write's wake can deliver this soon
            if seen:
                break
            await asyncio.sleep(0.05)
        assert len(seen) == 1


# --- transactions: the wire tier and MongoDB ---------------------------------------------------


async def test_a_change_whose_transaction_aborts_after_the_event_leaves_neither(
        app, client, settings, monkeypatch):
    if settings.embedded:
        pytest.skip("the embedded engine has no transactions")
    app.state.engine.transactions = True  # mongoeco runs them, but its hello names no set
    jake, anna = await register(client), await register(client)
    original = outbox.record

    async def then_fail(*args, **kwargs):
        await original(*args, **kwargs)
        raise RuntimeError("the change fails after its event")

    monkeypatch.setattr(profiles, "record", then_fail)
    response = await client.post(f"/api/profiles/{jake.username}/follow", headers=anna.headers)
    assert response.status_code == 500

    assert await collection(Event).count_documents({}) == 0
    assert await collection(Follow).count_documents({}) == 0


# --- around the outbox: exports, seeds, migration 0008, `folio worker` -------------------------


async def test_exports_leave_events_out_and_import_needs_none(app, client, tmp_path):
    from scripts.dump import export, import_dump
    from service.engine import open_engine

    jake = await register(client)
    await create_article(client, jake)
    assert await collection(Event).count_documents({}) == 1
    dump = tmp_path / "dump.jsonl"
    counts = await export(app.state.engine, dump)
    assert "events" not in counts and "leases" not in counts
    assert '"events"' not in dump.read_text()
    target = await open_engine(make_settings())
    try:
        assert (await import_dump(target, dump))["articles"] == 1
        assert await collection(Event).count_documents({}) == 0  # nothing re-announced
    finally:
        target.close()


async def test_seeded_articles_are_not_announced_but_their_scheduled_ones_are_once_live(app):
    from scripts.seed import SeedPlan, seed

    await seed(SeedPlan(users=5, articles=40, comments=0, follows=0, favorites=0), "events")
    assert await announcing.announce_due(100) == 0  # the live ones count as announced
    scheduled = await collection(Article).count_documents({"announced": False,
                                                           "published_at": {"$type": "date"}})
    assert scheduled > 0
    await collection(Article).update_many({"announced": False, "published_at": {"$type": "date"}},
                                          {"$set": {"published_at": datetime.now(UTC)}})
    assert await announcing.announce_due(100) == scheduled
    assert await types_written() == ["article.published"] * scheduled


async def test_migration_0008_flags_only_scheduled_articles_written_before_events(app, client):
    from scripts.migrations import m0008_announced as m0008

    jake = await register(client)
    live = await create_article(client, jake)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = await create_article(client, jake, publishAt=later)
    database = app.state.engine.database
    assert await m0008.down(database, lambda n: None) == 2  # as before events: no flags
    assert await m0008.up(database, lambda n: None) == 1
    flags = {a["slug"]: a.get("announced") async for a in database.articles.find({})}
    assert flags == {live["slug"]: None, scheduled["slug"]: False}
    assert await m0008.up(database, lambda n: None) == 0  # idempotent
    # An edit of the live article from before events is an update, not a second publication.
    await client.put(f"/api/articles/{live['slug']}", json={"article": {"body": "edited"}},
                     headers=jake.headers)
    assert (await types_written())[-1] == "article.updated"


def test_folio_worker_needs_mongodb_and_says_so_in_one_line():
    from tests.test_cli import assert_one_line_failure
    from tests.test_cli import folio as run_folio

    assert_one_line_failure(run_folio("worker", env={"FOLIO_JWT_SECRET": "s" * 40}),
                            "folio worker needs MongoDB")
