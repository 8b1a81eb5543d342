"""Notifications: made from events by the consumer, listed, marked read, removed with their
content. The events are handed to the consumer directly, in the documented shape (EVENTS.md),
as the drain hands them. Expectations hold on every engine unless a test says otherwise."""

import pytest
from bson import ObjectId

from models import Article, Notification, User
from models.common import utc_now
from service.config import Settings
from service.engine import collection
from service.notifications import queries
from service.notifications.consumer import consume, notification_for
from tests.conftest import make_settings
from tests.factories import Account, add_comment, create_article, register

ADMIN = "root"


@pytest.fixture
def settings() -> Settings:
    """FOLIO_ADMINS names `root` (a moderator for the moderation tests)."""
    return make_settings(admins=[ADMIN])


async def user_id(account: Account) -> ObjectId:
    """An account's id, from the database."""
    return (await collection(User).find_one({"username": account.username}, {"_id": 1}))["_id"]


async def article_id(slug: str) -> ObjectId:
    """An article's id, from the database."""
    return (await collection(Article).find_one({"slug": slug}, {"_id": 1}))["_id"]


def event(kind: str, actor: ObjectId | None, refs: dict, **data: object) -> dict:
    """An event document as the outbox stores it."""
    return {"_id": ObjectId(), "type": kind, "at": utc_now(),
            "actor": None if actor is None else {"id": actor, "username": "someone"},
            "data": data, "refs": refs}


async def followed(follower: Account, followee: Account) -> dict:
    """A `profile.followed` event: `follower` followed `followee`."""
    return event("profile.followed", await user_id(follower), {"user": await user_id(followee)})


async def favorited(fan: Account, author: Account, slug: str) -> dict:
    """An `article.favorited` event."""
    return event("article.favorited", await user_id(fan),
                 {"article": await article_id(slug), "user": await user_id(author)})


async def commented(client, commenter: Account, author: Account, slug: str) -> dict:
    """Comment on the article through the API, and the `comment.created` event for it."""
    comment = await add_comment(client, commenter, slug, "Well put")
    return event("comment.created", await user_id(commenter),
                 {"article": await article_id(slug), "comment": comment["id"],
                  "user": await user_id(author)})


async def listed(client, account: Account, **params: object) -> dict:
    """GET /api/notifications as `account`."""
    response = await client.get("/api/notifications", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- each type from its event ------------------------------------------------------------------


async def test_a_follow_notifies_the_followed_user_with_the_followers_profile(client):
    alice, bob = await register(client), await register(client)
    await consume(await followed(bob, alice))
    answer = await listed(client, alice)
    assert answer["unreadCount"] == 1 and answer["nextCursor"] is None
    [note] = answer["notifications"]
    assert note["type"] == "followed" and note["read"] is False
    assert note["actor"] == {"username": bob.username, "bio": None, "image": None,
                             "following": False}
    assert "article" not in note and "comment" not in note and note["createdAt"].endswith("Z")
    assert (await listed(client, bob))["notifications"] == []


async def test_a_comment_notifies_the_articles_author_with_the_article_and_comment(client):
    author, reader = await register(client), await register(client)
    article = await create_article(client, author)
    await consume(await commented(client, reader, author, article["slug"]))
    [note] = (await listed(client, author))["notifications"]
    assert note["type"] == "commented" and note["actor"]["username"] == reader.username
    assert note["article"] == {"slug": article["slug"], "title": article["title"]}
    assert note["comment"]["body"] == "Well put" and isinstance(note["comment"]["id"], int)


async def test_a_favorite_notifies_the_articles_author(client):
    author, fan = await register(client), await register(client)
    article = await create_article(client, author)
    await consume(await favorited(fan, author, article["slug"]))
    [note] = (await listed(client, author))["notifications"]
    assert note["type"] == "favorited" and note["article"]["slug"] == article["slug"]


async def test_moderation_notifies_the_author_naming_the_action_but_not_the_moderator(client):
    author, admin = await register(client), await register(client, ADMIN)
    article = await create_article(client, author)
    hidden = await client.post(f"/api/moderation/articles/{article['slug']}/hide",
                               json={"reason": "spam"}, headers=admin.headers)
    assert hidden.status_code == 200
    await consume(event("moderation.article_hidden", await user_id(admin),
                        {"article": await article_id(article["slug"]), "user": await user_id(author)},
                        action="article_hidden", reason="spam"))
    [note] = (await listed(client, author))["notifications"]
    # Shown although the article is hidden: hiding is what it tells.
    assert note["type"] == "moderation" and note["actor"] is None
    assert note["moderation"] == {"action": "article_hidden", "reason": "spam"}
    assert note["article"]["slug"] == article["slug"]


async def test_a_suspension_notifies_the_suspended_user():
    suspended, moderator = ObjectId(), ObjectId()
    document = notification_for(event("moderation.user_suspended", moderator, {"user": suspended},
                                      action="user_suspended", reason=None))
    assert document is not None and document["recipient_id"] == suspended
    assert document["type"] == "moderation" and document["action"] == "user_suspended"


def test_events_that_tell_nobody_make_no_notification():
    someone = ObjectId()
    assert notification_for(event("article.published", someone, {"user": someone})) is None
    assert notification_for(event("moderation.webhook_disabled", None, {})) is None
    assert notification_for(event("profile.followed", None, {"user": someone})) is None


async def test_nobody_is_notified_of_their_own_actions(client):
    author = await register(client)
    article = await create_article(client, author)
    await consume(await commented(client, author, author, article["slug"]))
    await consume(await favorited(author, author, article["slug"]))
    assert (await listed(client, author)) == {"notifications": [], "unreadCount": 0,
                                              "nextCursor": None}


# --- repeats -----------------------------------------------------------------------------------


async def test_repeats_collapse_into_the_first_notification_and_keep_its_read_state(client):
    author, fan = await register(client), await register(client)
    article = await create_article(client, author)
    first = await favorited(fan, author, article["slug"])
    await consume(first)
    await consume(first)  # the drain is at-least-once
    marked = await client.post("/api/notifications/read", json={"all": True},
                               headers=author.headers)
    assert marked.json() == {"unreadCount": 0}
    await consume(await favorited(fan, author, article["slug"]))  # unfavorite, favorite again
    await consume(await followed(fan, author))
    await consume(await followed(fan, author))
    answer = await listed(client, author)
    assert [n["type"] for n in answer["notifications"]] == ["followed", "favorited"]
    assert answer["notifications"][1]["read"] is True and answer["unreadCount"] == 1


async def test_each_comment_is_its_own_notification(client):
    author, reader = await register(client), await register(client)
    article = await create_article(client, author)
    for _ in range(2):
        await consume(await commented(client, reader, author, article["slug"]))
    assert len((await listed(client, author))["notifications"]) == 2


# --- content that is gone or hidden ------------------------------------------------------------


async def test_notifications_about_hidden_or_deleted_content_are_not_shown(client):
    author, reader, admin = await register(client), await register(client), await register(client, ADMIN)
    kept, hidden = await create_article(client, author), await create_article(client, author)
    await consume(await favorited(reader, author, hidden["slug"]))
    gone_comment = await commented(client, reader, author, kept["slug"])
    await consume(gone_comment)
    await consume(await favorited(reader, author, kept["slug"]))
    await client.post(f"/api/moderation/articles/{hidden['slug']}/hide", json={"reason": "x"},
                      headers=admin.headers)
    deleted = await client.delete(
        f"/api/articles/{kept['slug']}/comments/{gone_comment['refs']['comment']}",
        headers=reader.headers)
    assert deleted.status_code == 204
    [note] = (await listed(client, author))["notifications"]
    assert note["type"] == "favorited" and note["article"]["slug"] == kept["slug"]
    await client.post(f"/api/moderation/articles/{hidden['slug']}/unhide", json={},
                      headers=admin.headers)
    assert len((await listed(client, author))["notifications"]) == 2  # shown again


async def test_a_notification_from_an_account_that_is_gone_is_not_shown(client):
    alice, bob = await register(client), await register(client)
    await consume(await followed(bob, alice))
    await collection(User).delete_one({"_id": await user_id(bob)})
    assert (await listed(client, alice))["notifications"] == []


async def test_a_page_full_of_hidden_notifications_stops_reading_and_continues_by_cursor(client):
    author, reader, admin = await register(client), await register(client), await register(client, ADMIN)
    shown = await create_article(client, author)
    await consume(await favorited(reader, author, shown["slug"]))
    hidden = await create_article(client, author)
    await consume(await commented(client, reader, author, hidden["slug"]))
    for _ in range(queries.MAX_SCAN_BATCHES * 2):
        await consume(await commented(client, reader, author, hidden["slug"]))
    await client.post(f"/api/moderation/articles/{hidden['slug']}/hide", json={"reason": "x"},
                      headers=admin.headers)
    first = await listed(client, author, limit=2)
    assert first["notifications"] == [] and first["nextCursor"]  # bounded: 3 batches of 2+1
    second = await listed(client, author, limit=2, cursor=first["nextCursor"])
    assert [n["type"] for n in second["notifications"]] == ["favorited"]
    assert second["nextCursor"] is None


async def test_deleting_an_article_removes_its_notifications(client):
    author, fan = await register(client), await register(client)
    article = await create_article(client, author)
    await consume(await favorited(fan, author, article["slug"]))
    response = await client.delete(f"/api/articles/{article['slug']}", headers=author.headers)
    assert response.status_code == 204
    assert await collection(Notification).count_documents({}) == 0


async def test_deleting_an_account_removes_its_notifications_both_ways(client):
    alice, bob, carol = await register(client), await register(client), await register(client)
    await consume(await followed(bob, alice))  # bob is the actor
    await consume(await followed(carol, bob))  # bob is the recipient
    await consume(await followed(carol, alice))
    bob_id = await user_id(bob)
    response = await client.request("DELETE", "/api/user", headers=bob.headers,
                                     json={"user": {"password": "correct-horse-battery"}})
    assert response.status_code in (202, 204), response.text
    left = await collection(Notification).find({}, {"recipient_id": 1, "actor_id": 1}).to_list(None)
    assert len(left) == 1 and bob_id not in (left[0]["recipient_id"], left[0]["actor_id"])


# --- read marks, counts, paging ----------------------------------------------------------------


async def test_marking_by_ids_touches_only_ones_own_notifications(client):
    alice, bob, carol = await register(client), await register(client), await register(client)
    await consume(await followed(bob, alice))
    await consume(await followed(carol, alice))
    await consume(await followed(alice, bob))
    alices = (await listed(client, alice))["notifications"]
    [bobs] = (await listed(client, bob))["notifications"]
    response = await client.post("/api/notifications/read",
                                 json={"ids": [alices[0]["id"], bobs["id"]]}, headers=alice.headers)
    assert response.status_code == 200 and response.json() == {"unreadCount": 1}
    assert [n["read"] for n in (await listed(client, alice))["notifications"]] == [True, False]
    assert (await listed(client, bob))["unreadCount"] == 1  # bob's stays unread
    await client.post("/api/notifications/read", json={"all": True}, headers=alice.headers)
    assert (await listed(client, alice))["unreadCount"] == 0
    assert (await listed(client, bob))["unreadCount"] == 1


@pytest.mark.parametrize("body", [{}, {"ids": ["0" * 24], "all": True}, {"ids": ["nope"]},
                                  {"ids": []}, {"all": False}, {"ids": "x"}])
async def test_a_read_mark_that_is_neither_ids_nor_all_answers_422(client, body):
    alice = await register(client)
    response = await client.post("/api/notifications/read", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert "errors" in response.json()


async def test_notifications_need_a_signed_in_caller(client):
    assert (await client.get("/api/notifications")).status_code == 401
    assert (await client.post("/api/notifications/read", json={"all": True})).status_code == 401
    assert (await client.post("/api/notifications/stream-ticket")).status_code == 401


async def test_pages_run_newest_first_and_the_cursor_continues(client):
    alice = await register(client)
    others = [await register(client) for _ in range(5)]
    for other in others:
        await consume(await followed(other, alice))
    seen, cursor = [], None
    while True:
        answer = await listed(client, alice, limit=2, **({"cursor": cursor} if cursor else {}))
        seen.extend(n["actor"]["username"] for n in answer["notifications"])
        cursor = answer["nextCursor"]
        if cursor is None:
            break
    assert seen == [other.username for other in reversed(others)]
    assert (await client.get("/api/notifications", params={"cursor": "junk"},
                             headers=alice.headers)).status_code == 422


async def test_exports_keep_notifications_and_leave_stream_tickets_out(app, client, tmp_path):
    from scripts.dump import export, read_dump

    alice, bob = await register(client), await register(client)
    await consume(await followed(bob, alice))
    issued = await client.post("/api/notifications/stream-ticket", headers=alice.headers)
    assert issued.status_code == 200
    counts = await export(app.state.engine, tmp_path / "folio.jsonl")
    assert counts["notifications"] == 1 and "stream_tickets" not in counts
    assert len(read_dump(tmp_path / "folio.jsonl").documents["notifications"]) == 1


async def test_every_notification_operation_is_served_by_a_declared_index(app, client):
    from tests import oplog
    from tests.index_coverage import problems
    from tests.sse import Stream

    author, fan, admin = await register(client), await register(client), await register(client, ADMIN)
    article = await create_article(client, author)
    with oplog.recording() as log:
        await consume(await favorited(fan, author, article["slug"]))
        await consume(await commented(client, fan, author, article["slug"]))
        await consume(await followed(fan, author))
        first = await listed(client, author, limit=1)
        await listed(client, author, limit=1, cursor=first["nextCursor"])
        await client.post("/api/notifications/read", json={"ids": [first["notifications"][0]["id"]]},
                          headers=author.headers)
        await client.post("/api/notifications/read", json={"all": True}, headers=author.headers)
        ticket = (await client.post("/api/notifications/stream-ticket",
                                    headers=author.headers)).json()["ticket"]
        oldest = (await listed(client, author))["notifications"][-1]
        resumed = {"Last-Event-ID": oldest["id"]}
        async with Stream(app, "/api/notifications/stream", headers=resumed,
                          query=f"ticket={ticket}") as stream:
            await stream.next_event(timeout=3)
        await client.delete(f"/api/articles/{article['slug']}", headers=author.headers)
        await client.request("DELETE", "/api/user", headers=fan.headers,
                             json={"user": {"password": "correct-horse-battery"}})
    ours = [op for op in log.details if op.collection in ("notifications", "stream_tickets")]
    assert {op.collection for op in ours} == {"notifications", "stream_tickets"}
    assert [problem for op in ours for problem in problems(op)] == []
    assert admin  # a moderator exists, as elsewhere


async def test_a_page_costs_the_same_round_trips_whatever_its_size(client):
    from tests import oplog

    author = await register(client)
    article = await create_article(client, author)
    fans = [await register(client) for _ in range(12)]
    for fan in fans:
        await consume(await favorited(fan, author, article["slug"]))
        await consume(await commented(client, fan, author, article["slug"]))
    costs = []
    for limit in (2, 20):
        with oplog.recording() as log:
            answer = await listed(client, author, limit=limit)
        assert len(answer["notifications"]) == limit
        costs.append(len(log.details))
    assert costs[0] == costs[1] <= 8  # user, page, actors, articles, comments, following, count
