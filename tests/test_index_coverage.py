"""Every database operation the API issues is served by a declared index.

The whole API is exercised once while the harness records each operation; each filter, sort and
`$lookup` must be served by an index declared in `models/`. (On a real MongoDB,
`tests/test_real_mongodb.py` asserts the same with `explain()`.)
"""

import asyncio
from datetime import UTC, datetime, timedelta

from models import User
from service.articles import announcing
from service.engine.client import collection
from service.events.drain import Drain
from tests import oplog
from tests.factories import PASSWORD, add_comment, create_article, favorite, follow, register
from tests.index_coverage import problems, served


async def exercise_the_whole_api(client) -> None:
    """One pass over every endpoint, anonymous and signed in, with every filter."""
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake, tagList=["dragons"], meta={"series": "x"})
    draft = await create_article(client, jake, status="draft")
    await follow(client, anna, jake.username)
    await favorite(client, anna, article["slug"])
    comment = await add_comment(client, anna, article["slug"])
    await add_comment(client, jake, article["slug"])
    slug = article["slug"]
    for headers in (None, anna.headers, jake.headers):
        for params in ({}, {"tag": "dragons"}, {"author": jake.username},
                       {"favorited": anna.username}, {"meta.series": "x"}, {"limit": 5, "offset": 1}):
            await client.get("/api/articles", params=params, headers=headers)
        cursor = (await client.get("/api/articles", params={"limit": 1},
                                   headers=headers)).json()["nextCursor"]
        await client.get("/api/articles", params={"limit": 1, "cursor": cursor}, headers=headers)
        await client.get(f"/api/articles/{slug}", headers=headers)
        await client.get(f"/api/articles/{slug}/comments", headers=headers)
        comments = (await client.get(f"/api/articles/{slug}/comments", params={"limit": 1},
                                     headers=headers)).json()
        await client.get(f"/api/articles/{slug}/comments",
                         params={"limit": 1, "cursor": comments["nextCursor"]}, headers=headers)
        await client.get(f"/api/articles/{slug}/comments", params={"offset": 1}, headers=headers)
        await client.get(f"/api/articles/{slug}/comments/{comment['id']}", headers=headers)
        await client.get(f"/api/profiles/{jake.username}", headers=headers)
        await client.get("/api/tags", headers=headers)
        await client.get("/api/search", params={"q": "article", "author": jake.username},
                         headers=headers)
    await client.get("/api/articles", params={"status": "draft"}, headers=jake.headers)
    await client.get("/api/articles", params={"status": "scheduled"}, headers=jake.headers)
    await client.get(f"/api/articles/{draft['slug']}", headers=jake.headers)
    await client.get("/api/articles/feed", headers=anna.headers)
    await client.get("/api/user", headers=anna.headers)
    await client.put("/api/user", json={"user": {"bio": "hi", "username": "anna2"}},
                     headers=anna.headers)
    await client.post("/api/users/login", json={"user": {"email": jake.email, "password": "x" * 8}})
    await client.put(f"/api/articles/{slug}", json={"article": {"title": "Renamed"}},
                     headers=jake.headers)
    slug = "renamed"
    revisions = f"/api/articles/{slug}/revisions"
    cursor = (await client.get(revisions, params={"limit": 1},
                               headers=jake.headers)).json()["nextCursor"]
    await client.get(revisions, params={"limit": 1, "cursor": cursor}, headers=jake.headers)
    restored = await client.post(f"{revisions}/1/restore", headers=jake.headers)
    slug = restored.json()["article"]["slug"]
    comment_url = f"/api/articles/{slug}/comments/{comment['id']}"
    etag = (await client.get(comment_url, headers=anna.headers)).headers["etag"]
    await client.put(comment_url, json={"comment": {"body": "edited"}},
                     headers={**anna.headers, "If-Match": etag})
    await client.put(comment_url, json={"comment": {"body": "again"}}, headers=anna.headers)
    await client.delete(f"/api/articles/{slug}/favorite", headers=anna.headers)
    await client.delete(f"/api/profiles/{jake.username}/follow", headers=anna.headers)
    await client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=anna.headers)
    for path in ("/api/analytics/tags", f"/api/analytics/authors/{jake.username}",
                 "/api/analytics/overview"):
        await client.get(path)
    await client.delete(f"/api/articles/{slug}", headers=jake.headers)
    await exercise_moderation(client)
    # Account deletion, with something of each kind to remove.
    carl = await register(client)
    mine = await create_article(client, carl)
    await follow(client, carl, "anna2")  # renamed above
    await follow(client, anna, carl.username)
    await favorite(client, anna, mine["slug"])
    await add_comment(client, anna, mine["slug"])
    theirs = await create_article(client, anna)
    await favorite(client, carl, theirs["slug"])
    await add_comment(client, carl, theirs["slug"])
    await client.request("DELETE", "/api/user", json={"user": {"password": PASSWORD}},
                         headers=carl.headers)
    await exercise_events(client)


async def exercise_events(client) -> None:
    """What the API runs in the background for events: the scheduled announcements' sweep and
    the drain's pass (lease, due events, their outcomes, the backlog count)."""
    writer = await register(client)
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    await create_article(client, writer, publishAt=soon.isoformat())
    await asyncio.sleep(0.4)
    await announcing.announce_due(10)

    async def noop(event: dict) -> None:
        return None

    await Drain({"noop": noop}).drain_once()


async def exercise_moderation(client) -> None:
    """Reports, the queue, hiding, suspension, roles and the log, once each."""
    boss, mod, writer, reader = [await register(client) for _ in range(4)]
    await collection(User).update_one({"username": boss.username}, {"$set": {"role": "admin"}})
    await client.put(f"/api/moderation/users/{mod.username}", json={"user": {"role": "moderator"}},
                     headers=boss.headers)
    posted = await create_article(client, writer)
    said = await add_comment(client, writer, posted["slug"])
    base = f"/api/articles/{posted['slug']}"
    report = (await client.post(f"{base}/reports", json={"report": {"reason": "spam"}},
                                headers=reader.headers)).json()["report"]
    await client.post(f"{base}/reports", json={"report": {"reason": "spam"}}, headers=reader.headers)
    await client.post(f"{base}/comments/{said['id']}/reports", json={"report": {"reason": "spam"}},
                      headers=reader.headers)
    queue = (await client.get("/api/moderation/reports", params={"limit": 1},
                              headers=mod.headers)).json()
    await client.get("/api/moderation/reports", params={"limit": 1, "cursor": queue["nextCursor"]},
                     headers=mod.headers)
    await client.post(f"/api/moderation/reports/{report['id']}/dismiss", headers=mod.headers)
    await client.post(f"/api/moderation/articles/{posted['slug']}/hide", json={"reason": "x"},
                      headers=mod.headers)
    await client.get(base, headers=mod.headers)
    await client.post(f"/api/moderation/articles/{posted['slug']}/unhide", headers=mod.headers)
    await client.post(f"/api/moderation/comments/{said['id']}/hide", json={"reason": "x"},
                      headers=mod.headers)
    await client.post(f"/api/moderation/comments/{said['id']}/unhide", headers=mod.headers)
    await client.post(f"/api/moderation/users/{writer.username}/suspend", json={"reason": "x"},
                      headers=mod.headers)
    await client.post(f"/api/moderation/users/{writer.username}/unsuspend", headers=mod.headers)
    log = (await client.get("/api/moderation/log", params={"limit": 1},
                            headers=boss.headers)).json()
    await client.get("/api/moderation/log", params={"limit": 1, "cursor": log["nextCursor"]},
                     headers=boss.headers)


def is_embedded_search_fallback(operation) -> bool:
    """The embedded engine's search scans by design; MongoDB runs `$text` on its index."""
    match = (operation.pipeline or [{}])[0].get("$match", {})
    return any("$regex" in repr(branch) for branch in match.get("$or", []))


def is_capped_meta_sort(operation) -> bool:
    """A meta-filtered page: the wildcard index finds its matches and MongoDB sorts them in
    memory, which the API allows only after counting at most META_SORT_CAP of them."""
    match = (operation.pipeline or [{}])[0].get("$match", {})
    return operation.collection == "articles" and any(k.startswith("meta.") for k in match)


async def test_every_operation_the_api_issues_is_served_by_a_declared_index(client, settings):
    with oplog.recording() as log:
        await exercise_the_whole_api(client)
    assert len(log) > 100
    unserved = [
        problem
        for operation in log.details
        if not is_embedded_search_fallback(operation) and not is_capped_meta_sort(operation)
        for problem in problems(operation)
    ]
    assert unserved == []


def test_the_rule_itself_tells_served_from_unserved_queries():
    assert served("articles", {"slug": "x"}, [])
    assert served("articles", {"tag_list": "x", "published_at": {"$lte": 1}},
                  [("published_at", -1), ("_id", -1)])
    assert served("articles", {"author_id": {"$in": [1]}, "published_at": {"$lte": 1}},
                  [("published_at", -1), ("_id", -1)])
    assert served("articles", {"meta.series": "x"}, [])
    assert served("favorites", {"user_id": 1, "article_id": {"$in": [1]}}, [])
    assert not served("articles", {"title": "x"}, [])
    assert not served("articles", {"tag_list": "x"}, [("title", 1)])
    assert not served("comments", {"body": "x"}, [])
    assert not served("users", {"$or": [{"username": "a"}, {"bio": "b"}]}, [])
    # The wildcard index finds meta matches but cannot give them the newest-first order.
    assert not served("articles", {"meta.series": "x", "published_at": {"$lte": 1}},
                      [("published_at", -1), ("_id", -1)])


async def test_the_drafts_list_reads_only_drafts_through_its_index(client):
    """Issue 18, point 15: `status` is in the index ahead of the sort, so an author with many
    published articles and a few drafts reads only the drafts' keys (both engines record it)."""
    jake = await register(client)
    await create_article(client, jake, status="draft")
    with oplog.recording() as log:
        listed = await client.get("/api/articles", params={"status": "draft"}, headers=jake.headers)
    assert listed.status_code == 200 and listed.json()["articlesCount"] == 1
    reads = [op for op in log.details if op.collection == "articles"]
    assert reads
    for operation in reads:
        if operation.pipeline is not None:
            stages = operation.pipeline  # a count on the wire is a pipeline too, with no $sort
            sort = list(stages[1].get("$sort", {}).items()) if len(stages) > 1 else []
            match = stages[0]["$match"]
        else:
            match, sort = operation.filter or {}, []
        assert match["status"] == "draft"
        assert served("articles", match, sort, tight=True), match


def test_a_tight_match_needs_every_equality_field_in_the_index():
    assert served("articles", {"author_id": 1, "status": "draft"}, [("created_at", -1), ("_id", -1)],
                  tight=True)
    assert not served("articles", {"author_id": 1, "title": "x"}, [("created_at", -1), ("_id", -1)],
                      tight=True)
