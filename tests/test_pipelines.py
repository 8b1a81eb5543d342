"""The aggregation pipeline builders, on their own: shape, operators, and results on the engine."""

from typing import Any

from bson import ObjectId
from mongomock_motor import AsyncMongoMockClient

from service.articles.queries import (
    article_by_slug_pipeline,
    article_page_pipeline,
    filter_owners_pipeline,
)
from service.comments.queries import comments_pipeline
from service.profiles.queries import author_stages

# What ../shared/ENGINE_NOTES.md lists as working on both the embedded engine and MongoDB.
PORTABLE_OPERATORS = {
    "$match", "$project", "$addFields", "$group", "$sort", "$skip", "$limit", "$unwind",
    "$lookup", "$facet", "$count", "$bucket", "$sample", "$replaceRoot",
    "$in", "$nin", "$exists", "$regex", "$all", "$gte", "$lte", "$expr",
    "$cond", "$switch", "$ifNull", "$size", "$slice", "$arrayElemAt", "$filter", "$map",
    "$concat", "$toString", "$toUpper", "$regexMatch", "$subtract", "$dateToString",
    "$sum", "$push", "$addToSet", "$first", "$max",
}  # fmt: skip


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
    "owners": filter_owners_pipeline(["a", "b"], with_favorites=True),
    "comments": comments_pipeline(ObjectId()),
}


def test_every_pipeline_uses_only_operators_both_engines_support():
    for name, pipeline in ALL_PIPELINES.items():
        assert operators(pipeline) <= PORTABLE_OPERATORS, name


def test_lookups_join_by_local_and_foreign_field_only():
    for name, pipeline in ALL_PIPELINES.items():
        text = repr(pipeline)
        assert "'let'" not in text and "'pipeline'" not in text, name


def test_every_pipeline_starts_with_a_match():
    for name, pipeline in ALL_PIPELINES.items():
        assert next(iter(pipeline[0])) == "$match", name


def test_page_pipeline_sorts_newest_first_before_paging_and_counts_in_a_facet():
    pipeline = article_page_pipeline({"author_id": 1}, offset=40, limit=20)
    assert pipeline[0] == {"$match": {"author_id": 1}}
    assert pipeline[1] == {"$sort": {"published_at": -1, "_id": -1}}
    assert "body" not in pipeline[2]["$project"]
    facet = pipeline[3]["$facet"]
    assert facet["total"] == [{"$count": "n"}]
    assert facet["page"][:2] == [{"$skip": 40}, {"$limit": 20}]


def test_author_stages_keep_no_private_user_fields():
    projection = author_stages({"body": 1})[-1]["$project"]
    assert not any("password" in key or "email" in key for key in projection)
    assert projection["author.username"] == 1 and projection["body"] == 1


def test_owner_pipeline_only_joins_favorites_when_asked():
    assert "$lookup" not in operators(filter_owners_pipeline(["a"], with_favorites=False))
    assert "$lookup" in operators(filter_owners_pipeline(["a"], with_favorites=True))


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
    result = await db.articles.aggregate(
        article_page_pipeline({"tag_list": "x"}, offset=1, limit=1)
    ).to_list(None)
    assert result[0]["total"] == [{"n": 3}]
    [item] = result[0]["page"]
    assert item["slug"] == "s3"
    assert "body" not in item
    assert item["author"] == {"_id": author_id, "username": "jake", "bio": "b", "image": ""}
