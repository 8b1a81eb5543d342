"""The aggregation pipeline builders, on their own: shape, operators, and results on the engine."""

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from mongomock_motor import AsyncMongoMockClient

from service.analytics.queries import (
    author_stats_pipeline,
    day_labels,
    overview_pipeline,
    tag_trends_pipeline,
    week_labels,
    window_start,
)
from service.articles.reads import (
    BY_SLUG_FIELDS,
    LIST_FIELDS,
    article_by_slug_pipeline,
    article_page_pipeline,
    counts_per_article_pipeline,
    page_find,
    viewer_stages,
)
from service.articles.visibility import status_condition, visible_at
from service.comments.queries import comment_pipeline, comments_page_pipeline, visible_comments
from service.engine.client import text_search_stages
from service.favorites.queries import favorites_count_pipeline, favorites_page_pipeline
from service.profiles.queries import author_stages
from service.rollups.queries import (
    article_moves,
    day_articles_pipeline,
    day_tags_pipeline,
    favorite_moves,
)
from service.search.queries import search_pipeline
from service.tags.queries import live_tags_pipeline
from service.webhooks.queries import deliveries_pipeline, webhooks_pipeline

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
    "page_signed_in": article_page_pipeline({"tag_list": "x"}, offset=0, limit=20,
                                            viewer_id=ObjectId()),
    "feed_page": article_page_pipeline({"author_id": {"$in": [ObjectId()]}}, offset=0, limit=20,
                                       viewer_id=ObjectId(), follows_every_author=True),
    "by_slug_signed_in": article_by_slug_pipeline("a-slug", ObjectId()),
    "favorites_signed_in": favorites_page_pipeline(
        ObjectId(), None, fields=LIST_FIELDS, offset=0, limit=20, then=viewer_stages(ObjectId())
    ),
    "favorite_counts": counts_per_article_pipeline([ObjectId()]),
    "live_tags": live_tags_pipeline(),
    "favorites": favorites_page_pipeline(ObjectId(), None, fields=LIST_FIELDS, offset=0, limit=20),
    "favorites_narrowed": favorites_page_pipeline(
        ObjectId(), {"tag_list": "x"}, fields=LIST_FIELDS, offset=20, limit=20, scan_cap=100
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
    "tag_trends": tag_trends_pipeline("2026-01-01", "2026-01-15", ["2026-W01", "2026-W02"]),
    "author_stats": author_stats_pipeline(ObjectId(), NOW),
    "overview": overview_pipeline("2026-01-14", "2026-01-15"),
    "day_articles": day_articles_pipeline("2026-01-15"),
    "day_tags": day_tags_pipeline("2026-01-15"),
    "webhooks": webhooks_pipeline(),
    "webhook_deliveries": deliveries_pipeline(ObjectId(), 20, None),
}


def test_every_pipeline_uses_only_operators_both_engines_support():
    for name, pipeline in ALL_PIPELINES.items():
        assert operators(pipeline) <= PORTABLE_OPERATORS, name


def test_lookups_join_by_local_and_foreign_field_only():
    # A sub-pipeline only beside localField/foreignField (the concise correlated form, which
    # the embedded adapter runs); never `let`, which mongomock cannot run at all.
    for name, pipeline in ALL_PIPELINES.items():
        assert "'let'" not in repr(pipeline), name
        for stage in pipeline:
            lookup = stage.get("$lookup") if isinstance(stage, dict) else None
            if lookup and "pipeline" in lookup:
                assert {"localField", "foreignField"} <= set(lookup), name


def test_viewer_edges_are_point_lookups_on_the_unique_edge_indexes_after_the_page():
    """Issue 21: the flags ride in the page's read, one index key per row and flag."""
    viewer = ObjectId()
    pipeline = article_page_pipeline({"tag_list": "x"}, offset=0, limit=20, viewer_id=viewer)
    assert pipeline[:len(article_page_pipeline({"tag_list": "x"}, offset=0, limit=20))] == \
        article_page_pipeline({"tag_list": "x"}, offset=0, limit=20)  # after the page's joins
    favorites, follows = (stage["$lookup"] for stage in pipeline[-2:])
    assert (favorites["from"], favorites["localField"], favorites["foreignField"]) == (
        "favorites", "_id", "article_id")
    assert (follows["from"], follows["localField"], follows["foreignField"]) == (
        "follows", "author_id", "followee_id")
    # Both fields of `user_article_unique` / `follower_followee_unique` pinned; one key, `_id`.
    for lookup, field in ((favorites, "user_id"), (follows, "follower_id")):
        assert lookup["pipeline"] == [{"$match": {field: viewer}}, {"$limit": 1},
                                      {"$project": {"_id": 1}}]
    assert viewer_stages(None) == []
    assert [s["$lookup"]["from"] for s in viewer_stages(viewer, follows_every_author=True)] == [
        "favorites"]
    by_slug = article_by_slug_pipeline("a-slug", viewer)
    assert by_slug[:-2] == [{"$match": {"slug": "a-slug"}}, {"$limit": 1},
                            {"$project": BY_SLUG_FIELDS}]


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
    assert len(pipeline) == 5  # no join: authors come from the kept profiles (issue 21)
    assert "$facet" not in operators(pipeline) and "$count" not in operators(pipeline)


def test_an_anonymous_page_is_the_same_read_as_a_find():
    """Issue 21: read anonymously, a page is `find` with the pipeline's filter, order, window
    and projection, so MongoDB runs the same plan on the same index."""
    after = {"published_at": {"$lte": NOW}}
    for offset, cursor in ((40, None), (0, after)):
        read = page_find({"author_id": 1}, offset=offset, limit=20, after=cursor)
        pipeline = article_page_pipeline({"author_id": 1}, offset=offset, limit=20, after=cursor)
        assert pipeline[0] == {"$match": read["filter"]}
        assert pipeline[1] == {"$sort": dict(read["sort"])}
        assert ({"$skip": read["skip"]} in pipeline) == (read["skip"] > 0)
        assert pipeline[-2:] == [{"$limit": read["limit"]}, {"$project": read["projection"]}]
    assert page_find({"a": 1}, offset=40, limit=20, after=after)["skip"] == 0  # the cursor pages


def test_author_stages_keep_no_private_user_fields():
    projection = author_stages({"body": 1})[-1]["$project"]
    assert not any("password" in key or "email" in key for key in projection)
    assert projection["author.username"] == 1 and projection["body"] == 1


def test_favorites_page_reads_a_page_of_edges_newest_first_before_joining_articles():
    # The join is per edge of the page: the work follows the page, not the user's favorites.
    user = ObjectId()
    pipeline = favorites_page_pipeline(user, None, fields=LIST_FIELDS, offset=40, limit=20)
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
    pipeline = favorites_page_pipeline(user, {"tag_list": "x"}, fields=LIST_FIELDS, offset=40, limit=20, scan_cap=100)
    assert pipeline[2] == {"$limit": 100}
    names = [next(iter(stage)) for stage in pipeline]
    lookup_at = names.index("$lookup")
    assert pipeline[lookup_at + 2 : lookup_at + 4] == [{"$skip": 40}, {"$limit": 20}]


def test_the_favorites_join_filters_and_projects_inside_the_lookup():
    """Issue 18, point 11: each joined article is filtered and cut to the list's fields inside
    the `$lookup` (concise correlated form, served by `_id`), never joined whole: no body."""
    for pipeline in (
        favorites_page_pipeline(ObjectId(), {"tag_list": "x"}, fields=LIST_FIELDS, offset=0, limit=20, scan_cap=100),
        favorites_page_pipeline(ObjectId(), None, fields=LIST_FIELDS, offset=0, limit=20),
        favorites_count_pipeline(ObjectId(), {"tag_list": "x"}, scan_cap=100),
    ):
        lookup = next(stage["$lookup"] for stage in pipeline if "$lookup" in stage
                      and stage["$lookup"]["from"] == "articles")
        assert (lookup["localField"], lookup["foreignField"]) == ("article_id", "_id")
        projection = lookup["pipeline"][-1]["$project"]
        assert "body" not in projection and "body_html" not in projection
        assert all(value == 1 for value in projection.values())
    narrowed = favorites_page_pipeline(ObjectId(), {"tag_list": "x"}, fields=LIST_FIELDS, offset=0, limit=20,
                                       scan_cap=100)
    lookup = next(stage["$lookup"] for stage in narrowed if "$lookup" in stage)
    assert lookup["pipeline"][0] == {"$match": {"tag_list": "x"}}
    counted = favorites_count_pipeline(ObjectId(), {"tag_list": "x"}, scan_cap=100)
    assert counted[3]["$lookup"]["pipeline"] == [{"$match": {"tag_list": "x"}},
                                                 {"$project": {"_id": 1}}]


def test_the_favorites_filter_cap_is_small_and_documented():
    from service.articles.reads import FAVORITES_FILTER_CAP
    from service.main import create_app
    from tests.conftest import make_settings

    assert FAVORITES_FILTER_CAP <= 1_000
    spec = create_app(make_settings()).openapi()
    parameters = spec["paths"]["/api/articles"]["get"]["parameters"]
    favorited = next(p for p in parameters if p["name"] == "favorited")
    assert f"{FAVORITES_FILTER_CAP:,}" in favorited["description"]


def test_a_favorites_cursor_replaces_the_skip_and_joins_the_edge_filter():
    after = {"created_at": {"$lte": NOW}}
    pipeline = favorites_page_pipeline(ObjectId(), None, fields=LIST_FIELDS, offset=40, limit=20, after=after)
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
    assert "body" not in item and "author" not in item
    [found] = await db.articles.find(**page_find({"tag_list": "x"}, offset=1, limit=1)).to_list(None)
    assert found == item


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


def test_tag_trends_read_the_windows_rollups_and_push_one_entry_per_week_not_per_article():
    pipeline = tag_trends_pipeline("2026-01-01", "2026-01-15", ["2026-W01"])
    assert pipeline[0] == {"$match": {"day": {"$gte": "2026-01-01", "$lte": "2026-01-15"}}}
    # The first group makes one row per tag and week, so the per-tag `$push` is bounded by weeks.
    assert pipeline[1]["$group"]["_id"] == {"tag": "$tag", "week": "$week"}
    assert pipeline[2]["$group"]["weeks"] == {"$push": {"week": "$_id.week", "articles": "$articles"}}
    assert {"$sort": {"articles": -1, "favorites": -1, "_id": 1}} in pipeline
    assert {"$limit": 50} in pipeline


async def test_tag_trends_pipeline_results_on_the_embedded_engine():
    db = AsyncMongoMockClient()["trends"]
    await db.tag_days.insert_many([
        {"day": "2026-01-02", "week": "2026-W01", "tag": "a", "articles": 1, "favorites": 2},
        {"day": "2026-01-02", "week": "2026-W01", "tag": "b", "articles": 1, "favorites": 2},
        {"day": "2026-01-03", "week": "2026-W01", "tag": "a", "articles": 0, "favorites": 0},
        {"day": "2026-01-14", "week": "2026-W03", "tag": "a", "articles": 1, "favorites": 1},
        {"day": "2026-01-14", "week": "2026-W03", "tag": "gone", "articles": 0, "favorites": 0},
        {"day": "2025-12-01", "week": "2025-W49", "tag": "c", "articles": 1, "favorites": 9},
    ])
    weeks = week_labels(SINCE, NOW)
    result = await db.tag_days.aggregate(
        tag_trends_pipeline("2026-01-01", "2026-01-15", weeks)
    ).to_list(None)
    assert weeks == ["2026-W01", "2026-W02", "2026-W03"]
    assert result == [
        {"tag": "a", "articles": 2, "favorites": 3, "weekly": [
            {"week": "2026-W01", "articles": 1}, {"week": "2026-W02", "articles": 0},
            {"week": "2026-W03", "articles": 1}]},
        {"tag": "b", "articles": 1, "favorites": 2, "weekly": [
            {"week": "2026-W01", "articles": 1}, {"week": "2026-W02", "articles": 0},
            {"week": "2026-W03", "articles": 0}]},
    ]


async def test_overview_pipeline_totals_every_day_to_today_and_lists_the_windows_days():
    db = AsyncMongoMockClient()["overview"]
    await db.daily_stats.insert_many([
        {"_id": "2025-06-01", "articles": 3, "favorites": 4, "comments_held": 1, "users": 2},
        {"_id": "2026-01-14", "articles": 1, "favorites": 0, "comments_held": 2, "users": 0},
        {"_id": "2026-01-15", "articles": 2, "favorites": 1, "comments_held": 0, "users": 5},
        {"_id": "2099-01-01", "articles": 7, "favorites": 9, "comments_held": 9, "users": 0},
    ])
    [result] = await db.daily_stats.aggregate(
        overview_pipeline("2026-01-13", "2026-01-15")
    ).to_list(None)
    assert result["total"] == [{"_id": None, "articles": 6, "favorites": 5, "comments": 3}]
    assert [day["_id"] for day in result["daily"]] == ["2026-01-14", "2026-01-15"]


def test_an_article_moves_out_of_its_old_day_and_tags_and_into_its_new_ones():
    before = {"published_at": datetime(2026, 1, 14, 23, tzinfo=UTC), "tag_list": ["a", "b"],
              "favorites_count": 2, "comments_count": 1}
    after = {**before, "published_at": datetime(2026, 1, 15, 1, tzinfo=UTC), "tag_list": ["b"]}
    daily, tags = article_moves(before, after)
    assert daily == {"2026-01-14": {"articles": -1, "favorites": -2, "comments_held": -1},
                     "2026-01-15": {"articles": 1, "favorites": 2, "comments_held": 1}}
    assert tags == {("2026-01-14", "a"): {"articles": -1, "favorites": -2},
                    ("2026-01-14", "b"): {"articles": -1, "favorites": -2},
                    ("2026-01-15", "b"): {"articles": 1, "favorites": 2}}
    # A body-only edit moves nothing; hiding (published_at null) takes the whole share out.
    assert article_moves(before, {**before, "body": "x"}) == ({}, {})
    assert article_moves(before, {**before, "published_at": None})[0] == {
        "2026-01-14": {"articles": -1, "favorites": -2, "comments_held": -1}}
    # A favorite moves its tags of the article's day, in one update_many.
    assert favorite_moves(before, -1) == (
        {"_id": {"$in": ["2026-01-14/a", "2026-01-14/b"]}}, {"$inc": {"favorites": -1}})
    assert favorite_moves({**before, "published_at": None}, 1) == ({}, {})
    assert favorite_moves({**before, "tag_list": []}, 1) == ({}, {})
