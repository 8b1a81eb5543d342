"""The aggregation pipeline builders, on their own: shape, operators, and results on the engine."""

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from mongomock_motor import AsyncMongoMockClient

from service.analytics.queries import (
    articles_overview_pipeline,
    author_stats_pipeline,
    comments_overview_pipeline,
    day_labels,
    tag_trends_pipeline,
    users_overview_pipeline,
    week_labels,
    window_start,
)
from service.articles.queries import (
    article_by_slug_pipeline,
    article_page_pipeline,
    counts_per_article_pipeline,
    favorites_count_pipeline,
    favorites_page_pipeline,
    status_condition,
    visible_at,
)
from service.comments.queries import comment_pipeline, comments_page_pipeline, visible_comments
from service.db import text_search_stages
from service.profiles.queries import author_stages
from service.search.queries import search_pipeline
from service.tags.queries import live_tags_pipeline

# What ../shared/ENGINE_NOTES.md lists as working on both the embedded engine and MongoDB.
PORTABLE_OPERATORS = {
    "$match", "$project", "$addFields", "$group", "$sort", "$skip", "$limit", "$unwind",
    "$lookup", "$facet", "$count", "$bucket", "$sample", "$replaceRoot",
    "$in", "$nin", "$exists", "$regex", "$all", "$gte", "$lte", "$expr",
    "$cond", "$switch", "$ifNull", "$size", "$slice", "$arrayElemAt", "$filter", "$map",
    "$concat", "$toString", "$toUpper", "$regexMatch", "$subtract", "$dateToString",
    "$sum", "$push", "$addToSet", "$first", "$max",
    # Measured on both engines while building the analytics (see docs/pipelines.md):
    "$eq", "$gt", "$or", "$options",
}  # fmt: skip
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def operators(value: Any) -> set[str]:
    """Every `$operator` key used anywhere in a pipeline."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.startswith("$"):
                found.add(key)
            found |= operators(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= operators(inner)
    return found


ALL_PIPELINES = {
    "page": article_page_pipeline({"tag_list": "x"}, offset=0, limit=20),
    "by_slug": article_by_slug_pipeline("a-slug"),
    "favorite_counts": counts_per_article_pipeline([ObjectId()]),
    "live_tags": live_tags_pipeline(),
    "favorites": favorites_page_pipeline(ObjectId(), None, offset=0, limit=20),
    "favorites_narrowed": favorites_page_pipeline(
        ObjectId(), {"tag_list": "x"}, offset=20, limit=20, scan_cap=100
    ),
    "favorites_count": favorites_count_pipeline(ObjectId(), {"tag_list": "x"}, scan_cap=100),
    "comments": comments_page_pipeline(visible_comments(ObjectId(), None), offset=0, limit=20),
    "comments_viewer": comments_page_pipeline(
        visible_comments(ObjectId(), ObjectId()), offset=40, limit=20
    ),
    "comment": comment_pipeline(visible_comments(ObjectId(), ObjectId()), 7),
    "search_embedded": search_pipeline(
        text_search_stages("q", visible_at(NOW), embedded=True), offset=0, limit=20
    ),
    "tag_trends": tag_trends_pipeline(SINCE, NOW, ["2026-W01", "2026-W02", "2026-W03"]),
    "author_stats": author_stats_pipeline(ObjectId(), NOW),
    "users_overview": users_overview_pipeline(SINCE, NOW, ["2026-01-14", "2026-01-15"]),
    "articles_overview": articles_overview_pipeline(SINCE, NOW, ["2026-01-14", "2026-01-15"]),
    "comments_overview": comments_overview_pipeline(SINCE, NOW, ["2026-01-14", "2026-01-15"]),
}


def test_every_pipeline_uses_only_operators_both_engines_support():
    for name, pipeline in ALL_PIPELINES.items():
        assert operators(pipeline) <= PORTABLE_OPERATORS, name


def test_lookups_join_by_local_and_foreign_field_only():
    # A sub-pipeline only beside localField/foreignField on `_id` (the concise correlated form,
    # which the embedded adapter runs); never `let`, which mongomock cannot run at all.
    for name, pipeline in ALL_PIPELINES.items():
        assert "'let'" not in repr(pipeline), name
        for stage in pipeline:
            lookup = stage.get("$lookup") if isinstance(stage, dict) else None
            if lookup and "pipeline" in lookup:
                assert lookup["foreignField"] == "_id" and "localField" in lookup, name


def test_the_mongodb_search_pipeline_differs_only_by_its_text_stage():
    stages = text_search_stages("q", visible_at(NOW), embedded=False)
    pipeline = search_pipeline(stages, offset=0, limit=20)
    assert operators(pipeline) - PORTABLE_OPERATORS == {"$text", "$search", "$meta"}
    assert next(iter(pipeline[0])) == "$match"


def test_every_pipeline_starts_with_a_match():
    for name, pipeline in ALL_PIPELINES.items():
        assert next(iter(pipeline[0])) == "$match", name


def test_page_pipeline_sorts_newest_first_then_pages_before_joining_and_counts_nothing():
    # $match and $sort lead so one index serves both; no $facet, which no index can serve.
    pipeline = article_page_pipeline({"author_id": 1}, offset=40, limit=20)
    assert pipeline[:4] == [
        {"$match": {"author_id": 1}},
        {"$sort": {"published_at": -1, "_id": -1}},
        {"$skip": 40},
        {"$limit": 20},
    ]
    assert "body" not in pipeline[4]["$project"]
    assert next(iter(pipeline[5])) == "$lookup"
    assert "$facet" not in operators(pipeline) and "$count" not in operators(pipeline)


def test_author_stages_keep_no_private_user_fields():
    projection = author_stages({"body": 1})[-1]["$project"]
    assert not any("password" in key or "email" in key for key in projection)
    assert projection["author.username"] == 1 and projection["body"] == 1


def test_favorites_page_reads_a_page_of_edges_newest_first_before_joining_articles():
    # The join is per edge of the page: the work follows the page, not the user's favorites.
    user = ObjectId()
    pipeline = favorites_page_pipeline(user, None, offset=40, limit=20)
    assert pipeline[:4] == [
        {"$match": {"user_id": user}},
        {"$sort": {"created_at": -1, "_id": -1}},
        {"$skip": 40},
        {"$limit": 20},
    ]
    assert pipeline[4]["$lookup"]["from"] == "articles"
    assert pipeline[4]["$lookup"]["foreignField"] == "_id"
    assert "$facet" not in operators(pipeline) and "$group" not in operators(pipeline)


def test_favorites_page_with_other_filters_joins_at_most_the_cap_then_pages_the_matches():
    user = ObjectId()
    pipeline = favorites_page_pipeline(user, {"tag_list": "x"}, offset=40, limit=20, scan_cap=100)
    assert pipeline[2] == {"$limit": 100}
    names = [next(iter(stage)) for stage in pipeline]
    lookup_at = names.index("$lookup")
    assert pipeline[lookup_at + 2 : lookup_at + 4] == [{"$skip": 40}, {"$limit": 20}]


def test_the_favorites_join_filters_and_projects_inside_the_lookup():
    """Issue 18, point 11: each joined article is filtered and cut to the list's fields inside
    the `$lookup` (concise correlated form, served by `_id`), never joined whole: no body."""
    for pipeline in (
        favorites_page_pipeline(ObjectId(), {"tag_list": "x"}, offset=0, limit=20, scan_cap=100),
        favorites_page_pipeline(ObjectId(), None, offset=0, limit=20),
        favorites_count_pipeline(ObjectId(), {"tag_list": "x"}, scan_cap=100),
    ):
        lookup = next(stage["$lookup"] for stage in pipeline if "$lookup" in stage
                      and stage["$lookup"]["from"] == "articles")
        assert (lookup["localField"], lookup["foreignField"]) == ("article_id", "_id")
        projection = lookup["pipeline"][-1]["$project"]
        assert "body" not in projection and "body_html" not in projection
        assert all(value == 1 for value in projection.values())
    narrowed = favorites_page_pipeline(ObjectId(), {"tag_list": "x"}, offset=0, limit=20,
                                       scan_cap=100)
    lookup = next(stage["$lookup"] for stage in narrowed if "$lookup" in stage)
    assert lookup["pipeline"][0] == {"$match": {"tag_list": "x"}}
    counted = favorites_count_pipeline(ObjectId(), {"tag_list": "x"}, scan_cap=100)
    assert counted[3]["$lookup"]["pipeline"] == [{"$match": {"tag_list": "x"}},
                                                 {"$project": {"_id": 1}}]


def test_the_favorites_filter_cap_is_small_and_documented():
    from service.articles.queries import FAVORITES_FILTER_CAP
    from service.main import create_app
    from tests.conftest import make_settings

    assert FAVORITES_FILTER_CAP <= 1_000
    spec = create_app(make_settings()).openapi()
    parameters = spec["paths"]["/api/articles"]["get"]["parameters"]
    favorited = next(p for p in parameters if p["name"] == "favorited")
    assert f"{FAVORITES_FILTER_CAP:,}" in favorited["description"]


def test_a_favorites_cursor_replaces_the_skip_and_joins_the_edge_filter():
    after = {"created_at": {"$lte": NOW}}
    pipeline = favorites_page_pipeline(ObjectId(), None, offset=40, limit=20, after=after)
    assert pipeline[0]["$match"]["$and"][1] == after
    assert {"$skip": 40} not in pipeline


async def test_page_pipeline_results_on_the_embedded_engine():
    db = AsyncMongoMockClient()["pipelines"]
    author_id = ObjectId()
    await db.users.insert_one(
        {"_id": author_id, "username": "jake", "bio": "b", "image": "", "email": "j@x.io",
         "password_hash": "secret"}
    )
    await db.articles.insert_many([
        {"slug": f"s{i}", "title": "t", "description": "d", "body": "long body",
         "tag_list": ["x"] if i % 2 else ["y"], "author_id": author_id, "favorites_count": i,
         "created_at": i, "updated_at": i, "published_at": i}
        for i in range(6)
    ])
    [item] = await db.articles.aggregate(
        article_page_pipeline({"tag_list": "x"}, offset=1, limit=1)
    ).to_list(None)
    assert item["slug"] == "s3"
    assert "body" not in item
    assert item["author"] == {"_id": author_id, "username": "jake", "bio": "b", "image": ""}


def test_text_search_is_the_only_engine_specific_stage():
    mongodb = text_search_stages("dragons", {"tag_list": "x"}, embedded=False)
    embedded = text_search_stages("dragons", {"tag_list": "x"}, embedded=True)
    assert mongodb[0] == {"$match": {"$text": {"$search": "dragons"}, "tag_list": "x"}}
    assert mongodb[1]["$sort"]["score"] == {"$meta": "textScore"}
    assert "$text" not in operators(embedded)
    assert embedded[1] == {"$sort": {"published_at": -1, "_id": -1}}


def test_embedded_search_escapes_user_input():
    match = text_search_stages("a+b (c)* .", {}, embedded=True)[0]["$match"]
    assert match["$or"][0] == {"title": {"$regex": r"a\+b\ \(c\)\*\ \.", "$options": "i"}}
    assert {next(iter(clause)) for clause in match["$or"]} == {"title", "description", "body"}


def test_visibility_is_a_range_on_the_publication_instant():
    assert visible_at(NOW) == {"published_at": {"$lte": NOW}}
    assert status_condition("draft", NOW)[0] == {"status": "draft"}
    assert status_condition("scheduled", NOW)[0] == {"status": "published", "published_at": {"$gt": NOW}}
    assert status_condition("published", NOW)[0] == visible_at(NOW)


def test_windows_start_at_midnight_and_list_every_day_and_iso_week():
    start = window_start(7, NOW)
    assert start == datetime(2026, 1, 9, tzinfo=UTC)
    assert day_labels(start, NOW) == [f"2026-01-{day:02d}" for day in range(9, 16)]
    assert week_labels(datetime(2025, 12, 28, tzinfo=UTC), NOW) == [
        "2025-W52", "2026-W01", "2026-W02", "2026-W03"
    ]
    assert window_start(1, NOW) == datetime(2026, 1, 15, tzinfo=UTC)


def test_tag_trends_pipeline_filters_live_articles_in_the_window_and_ranks_them():
    pipeline = tag_trends_pipeline(SINCE, NOW, ["2026-W01"])
    assert pipeline[0] == {"$match": {"created_at": {"$gte": SINCE, "$lte": NOW},
                                      "published_at": {"$lte": NOW}}}
    assert {"$sort": {"articles": -1, "favorites": -1, "_id": 1}} in pipeline
    assert {"$limit": 50} in pipeline


async def test_tag_trends_pipeline_results_on_the_embedded_engine():
    db = AsyncMongoMockClient()["trends"]
    day = lambda d: datetime(2026, 1, d, tzinfo=UTC)  # noqa: E731
    await db.articles.insert_many([
        {"tag_list": ["a", "b"], "favorites_count": 2, "created_at": day(2), "published_at": day(2)},
        {"tag_list": ["a"], "favorites_count": 1, "created_at": day(14), "published_at": day(14)},
        {"tag_list": ["b"], "favorites_count": 5, "created_at": day(14), "published_at": None},
        {"tag_list": ["c"], "favorites_count": 9, "created_at": datetime(2025, 12, 1, tzinfo=UTC),
         "published_at": day(2)},
    ])
    weeks = week_labels(SINCE, NOW)
    result = await db.articles.aggregate(tag_trends_pipeline(SINCE, NOW, weeks)).to_list(None)
    assert weeks == ["2026-W01", "2026-W02", "2026-W03"]
    assert result == [
        {"tag": "a", "articles": 2, "favorites": 3, "weekly": [
            {"week": "2026-W01", "articles": 1}, {"week": "2026-W02", "articles": 0},
            {"week": "2026-W03", "articles": 1}]},
        {"tag": "b", "articles": 1, "favorites": 2, "weekly": [
            {"week": "2026-W01", "articles": 1}, {"week": "2026-W02", "articles": 0},
            {"week": "2026-W03", "articles": 0}]},
    ]


async def test_overview_series_has_every_day_with_zeros():
    db = AsyncMongoMockClient()["overview"]
    await db.users.insert_many([
        {"created_at": datetime(2026, 1, 15, 1, tzinfo=UTC)},
        {"created_at": datetime(2026, 1, 15, 2, tzinfo=UTC)},
        {"created_at": datetime(2025, 6, 1, tzinfo=UTC)},
    ])
    labels = ["2026-01-13", "2026-01-14", "2026-01-15"]
    [result] = await db.users.aggregate(
        users_overview_pipeline(datetime(2026, 1, 13, tzinfo=UTC), NOW, labels)
    ).to_list(None)
    assert result == {"total": [{"n": 3}], "daily": [{"series": [0, 0, 2]}]}
