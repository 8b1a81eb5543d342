"""Checks only a real MongoDB can answer: every query the API issues is served by an index.

Run with FOLIO_TEST_MONGODB_URL set; skipped on the embedded engine (mongomock has no planner).
"""

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from models.articles import NEWEST_PUBLISHED
from models.common import utc_now
from models.favorites import NEWEST_FAVORITED
from service.analytics.queries import (
    author_stats_pipeline,
    overview_pipeline,
    tag_trends_pipeline,
    window_start,
)
from service.articles.reads import (
    BY_SLUG_FIELDS,
    FAVORITES_FILTER_CAP,
    LIST_FIELDS,
    article_by_slug_pipeline,
    article_page_pipeline,
    page_find,
)
from service.articles.visibility import visible_at
from service.comments.queries import comments_page_pipeline, visible_comments
from service.contract.cursors import after_condition, keyset_cursor
from service.engine.client import text_search_stages
from service.favorites.queries import favorites_page_pipeline
from service.rollups.queries import day_articles_pipeline, day_tags_pipeline
from service.search.queries import search_pipeline
from service.tags.counting import due_filter
from service.tags.queries import live_tags_pipeline
from tests.factories import create_article, favorite, follow, register

pytestmark = pytest.mark.realmongo

INDEX_STAGES = ("IXSCAN", "IDHACK", "DISTINCT_SCAN", "COUNT_SCAN")


async def explain(database: Any, command: dict[str, Any]) -> str:
    """The query planner's description of a command, as text."""
    return str(await database.command({"explain": command, "verbosity": "queryPlanner"}))


def assert_index_served(plan: str) -> None:
    assert "COLLSCAN" not in plan, plan
    assert any(stage in plan for stage in INDEX_STAGES), plan


async def test_every_api_query_is_served_by_an_index(app, client):
    reader, author = await register(client), await register(client)
    article = await create_article(client, author, tagList=["dragons"])
    await follow(client, reader, author.username)
    await favorite(client, reader, article["slug"])
    db = app.state.engine.database
    author_id = (await db.users.find_one({"username": author.username}))["_id"]
    reader_id = (await db.users.find_one({"username": reader.username}))["_id"]
    article_id = (await db.articles.find_one({"slug": article["slug"]}))["_id"]

    now = utc_now()
    live = visible_at(now)
    since = window_start(30, now)
    page = {"offset": 0, "limit": 20}
    aggregates = {
        "all": article_page_pipeline(live, **page),
        "tag": article_page_pipeline({"tag_list": "dragons", **live}, **page),
        "author": article_page_pipeline({"author_id": author_id, **live}, **page),
        "feed": article_page_pipeline({"author_id": {"$in": [author_id]}, **live}, **page),
        "meta": article_page_pipeline({"meta.series": {"$in": ["x"]}, **live}, **page),
        "slug": article_by_slug_pipeline(article["slug"], reader_id),
        "page_signed_in": article_page_pipeline({"tag_list": "dragons", **live}, **page,
                                                viewer_id=reader_id),
        "search": search_pipeline(text_search_stages("dragons", live, embedded=False), **page),
        "author_stats": author_stats_pipeline(author_id, now),
        "rollup_day": day_articles_pipeline(now.strftime("%Y-%m-%d")),
        "rollup_day_tags": day_tags_pipeline(now.strftime("%Y-%m-%d")),
    }
    for name, pipeline in aggregates.items():
        plan = await explain(db, {"aggregate": "articles", "pipeline": pipeline, "cursor": {}})
        assert_index_served(plan), name
    for collection, pipeline in [
        ("tag_days", tag_trends_pipeline(since.strftime("%Y-%m-%d"), now.strftime("%Y-%m-%d"), [])),
        ("daily_stats", overview_pipeline(since.strftime("%Y-%m-%d"), now.strftime("%Y-%m-%d"))),
        ("favorites", favorites_page_pipeline(reader_id, None, fields=LIST_FIELDS, **page)),
        ("favorites", favorites_page_pipeline(
            reader_id, {"tag_list": "dragons", **live}, fields=LIST_FIELDS, **page, scan_cap=FAVORITES_FILTER_CAP)),
    ]:
        plan = await explain(db, {"aggregate": collection, "pipeline": pipeline, "cursor": {}})
        assert_index_served(plan)

    for viewer in (None, reader_id):
        comments = comments_page_pipeline(visible_comments(article_id, viewer), **page)
        assert_index_served(
            await explain(db, {"aggregate": "comments", "pipeline": comments, "cursor": {}})
        )
    finds = [
        ("users", {"username": author.username}),
        ("users", {"email": "x@example.com"}),
        ("users", {"_id": reader_id}),
        ("follows", {"follower_id": reader_id}),
        ("daily_stats", {"_id": {"$gte": "2026-01-01"}}),
        ("follows", {"followee_id": author_id}),
        ("follows", {"follower_id": reader_id, "followee_id": {"$in": [author_id, ObjectId()]}}),
        ("favorites", {"user_id": reader_id, "article_id": {"$in": [article_id]}}),
        ("favorites", {"article_id": article_id}),
        ("favorites", {"user_id": reader_id}),
        ("comments", {"article_id": article_id}),
    ]
    for collection, query in finds:
        assert_index_served(await explain(db, {"find": collection, "filter": query}))
    # Anonymous pages are finds (issue 21): filter, order and window on one index, no SORT.
    for match in (live, {"tag_list": "dragons", **live}, {"author_id": author_id, **live}):
        read = page_find(match, **page)
        plan = await explain(db, {"find": "articles", "filter": read["filter"],
                                  "projection": read["projection"], "sort": dict(read["sort"]),
                                  "limit": read["limit"]})
        assert_index_served(plan)
        assert "'SORT'" not in plan, plan
    assert_index_served(await explain(db, {"find": "articles", "filter": {"slug": article["slug"]},
                                           "projection": BY_SLUG_FIELDS, "limit": 1}))
    assert_index_served(await explain(db, {"find": "users",
                                           "filter": {"_id": {"$in": [author_id, reader_id]}}}))
    # The tag list: a covered scan of the partial `live_tags` index, no document fetched.
    plan = await explain(db, {"aggregate": "tags", "pipeline": live_tags_pipeline(), "cursor": {}})
    assert "live_tags" in plan and "FETCH" not in plan and "SORT'" not in plan, plan
    # The sweep of scheduled articles gone live: the partial `tags_uncounted` index.
    plan = await explain(db, {"findAndModify": "articles", "query": due_filter(now),
                              "sort": {"published_at": 1}, "update": {"$set": {"tags_counted": True}}})
    assert "tags_uncounted" in plan, plan


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every sub-document of an explain output."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


async def execution(database: Any, command: dict[str, Any]) -> tuple[set[str], int, int]:
    """The stages of the winning plan, keys examined and documents returned by the query part.

    Works for both explain formats (classic: the `$cursor` stage carries the query's plan and
    stats; slot-based: they sit at the top).
    """
    plan = await database.command({"explain": command, "verbosity": "executionStats"})
    nodes = _walk(plan)
    stats = next(node["executionStats"] for node in nodes if "executionStats" in node)
    winning = [node for node in nodes if "winningPlan" in node]
    stages = {str(node["stage"]).upper() for plan_node in winning
              for node in _walk(plan_node["winningPlan"]) if "stage" in node}
    return stages, int(stats["totalKeysExamined"]), int(stats["nReturned"])


async def test_pages_examine_about_a_page_of_keys_at_any_depth_with_no_blocking_sort(app, client):
    # 1,000,000 articles cannot be inserted here; 400 show the shape: the keys a page examines
    # follow the page size, not the depth, and no SORT stage holds all matches in memory.
    author = await register(client)
    db = app.state.engine.database
    author_id = (await db.users.find_one({"username": author.username}))["_id"]
    now = utc_now()
    await db.articles.insert_many([
        {"slug": f"bulk-{n}", "title": f"Bulk {n}", "description": "d", "body": "b",
         "tag_list": ["bulk"], "author_id": author_id, "favorites_count": 0,
         "status": "published", "published_at": now - timedelta(minutes=n), "created_at": now, "updated_at": now, "meta": {}}
        for n in range(400)
    ])
    live = visible_at(now)
    limit = 20
    for name, match in {"all": live, "tag": {"tag_list": "bulk", **live},
                        "author": {"author_id": author_id, **live}}.items():
        rows = await db.articles.find(match, {"published_at": 1}).sort(
            [("published_at", -1), ("_id", -1)]).skip(299).limit(1).to_list(1)
        after = after_condition(keyset_cursor(NEWEST_PUBLISHED, rows[0]), NEWEST_PUBLISHED)
        # The first page, then 300 rows deep by cursor (the same work), read as a signed-in
        # reader's pipeline and as an anonymous reader's `find` (issue 21).
        for cursor in (None, after):
            pipeline = article_page_pipeline(match, offset=0, limit=limit, after=cursor)
            read = page_find(match, offset=0, limit=limit, after=cursor)
            for command in ({"aggregate": "articles", "pipeline": pipeline, "cursor": {}},
                            {"find": "articles", "filter": read["filter"],
                             "projection": read["projection"], "sort": dict(read["sort"]),
                             "limit": read["limit"]}):
                stages, keys, returned = await execution(db, command)
                assert "SORT" not in stages and "COLLSCAN" not in stages, (name, stages)
                assert returned <= limit + 1 and keys <= 2 * limit + 2, (name, keys, returned)


async def test_a_favorites_page_examines_about_a_page_of_edges_at_any_depth(app, client):
    # A user with 200,000 favorites cannot be built here; 400 edges show the shape: the page
    # reads its own edges from `user_newest` in order (no SORT), first page and 300 deep.
    fan, author = await register(client), await register(client)
    article = await create_article(client, author)
    db = app.state.engine.database
    fan_id = (await db.users.find_one({"username": fan.username}))["_id"]
    article_id = (await db.articles.find_one({"slug": article["slug"]}))["_id"]
    now = utc_now()
    # Edges to one article under distinct (fake) users' ids would break the unique index, so
    # each edge names its own article id; a missing article only drops the row after the join.
    await db.favorites.insert_many([
        {"user_id": fan_id, "article_id": article_id if n == 0 else ObjectId(),
         "created_at": now - timedelta(minutes=n), "schema_version": 1}
        for n in range(400)
    ])
    limit = 20
    first = favorites_page_pipeline(fan_id, None, fields=LIST_FIELDS, offset=0, limit=limit)
    stages, keys, returned = await execution(
        db, {"aggregate": "favorites", "pipeline": first, "cursor": {}})
    assert "SORT" not in stages and "COLLSCAN" not in stages, stages
    assert keys <= 2 * limit + 2, (keys, returned)
    rows = await db.favorites.find({"user_id": fan_id}).sort(NEWEST_FAVORITED).skip(299).to_list(1)
    after = after_condition(keyset_cursor(NEWEST_FAVORITED, rows[0]), NEWEST_FAVORITED)
    deep = favorites_page_pipeline(fan_id, None, fields=LIST_FIELDS, offset=0, limit=limit, after=after)
    stages, keys, returned = await execution(
        db, {"aggregate": "favorites", "pipeline": deep, "cursor": {}})
    assert "SORT" not in stages and "COLLSCAN" not in stages, stages
    assert keys <= 2 * limit + 2, (keys, returned)
