"""The embedded engine's planner (service/engine/planner.py, run by embedded.py) gives exactly what mongomock gives.

The planner runs a pipeline's leading stages as one query that sorts and slices the stored
documents before copying them. Its answers must be identical, document for document and in
order, to mongomock's plain `aggregate` and `find`. The property tests below check that with
random pipelines built by Folio's own builders, on random data full of ties, missing fields,
nulls, drafts and dangling references. These tests run on the embedded engine's library alone,
so they hold wherever the suite runs.

    FOLIO_PROPERTY_EXAMPLES=2000 .venv/bin/pytest tests/test_embedded.py   # a larger budget
"""

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mongomock_motor import AsyncMongoMockClient

from models.articles import NEWEST_CREATED, NEWEST_PUBLISHED
from models.comments import NEWEST_COMMENTS
from models.favorites import NEWEST_FAVORITED
from service.analytics.queries import (
    author_stats_pipeline,
    day_labels,
    overview_pipeline,
    tag_trends_pipeline,
    week_labels,
    window_start,
)
from service.articles.reads import (
    LIST_FIELDS,
    article_by_slug_pipeline,
    article_page_pipeline,
    counts_per_article_pipeline,
)
from service.articles.visibility import status_condition
from service.comments.queries import comment_pipeline, comments_page_pipeline, visible_comments
from service.contract.cursors import after_condition, keyset_cursor
from service.engine.client import text_search_stages
from service.engine.embedded import EmbeddedCollection, install, mongomock_collection
from service.engine.planner import Query, split_pipeline
from service.favorites.queries import favorites_count_pipeline, favorites_page_pipeline
from service.search.queries import search_pipeline

EXAMPLES = int(os.environ.get("FOLIO_PROPERTY_EXAMPLES", "150"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Few distinct instants and values, so that sorts meet ties and filters meet matches.
INSTANTS = [NOW - timedelta(days=d, milliseconds=ms) for d in (0, 1, 9, 40) for ms in (0, 7)]
TAGS = ["a", "b", "c", "d"]
USER_IDS = [ObjectId(f"65a0000000000000000000{n:02d}") for n in range(6)]
ARTICLE_IDS = [ObjectId(f"65b0000000000000000000{n:02d}") for n in range(30)]


def maybe(strategy: st.SearchStrategy, missing: bool = True) -> st.SearchStrategy:
    """A value, null, or (with `missing`) no field at all (the marker `...`)."""
    options = [strategy, st.none()]
    return st.one_of(*options, st.just(...)) if missing else st.one_of(*options)


def document(**fields: Any) -> dict[str, Any]:
    """A document without the fields drawn as missing."""
    return {key: value for key, value in fields.items() if value is not ...}


@st.composite
def articles(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Articles with random visibility, tags, authors (some dangling), counts and meta."""
    count = draw(st.integers(0, len(ARTICLE_IDS)))
    ids = draw(st.permutations(ARTICLE_IDS))[:count]  # stored in an order unlike `_id`'s
    return [
        document(
            _id=article_id,
            slug=f"s{draw(st.integers(0, 40))}-{n}",
            title=draw(st.sampled_from(["Dragons", "dragons here", "Cats", ""])),
            description="d",
            body=draw(st.sampled_from(["about dragons", "nothing", "DRAGONS!"])),
            tag_list=draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
            # Beanie stores PydanticObjectId, a subclass; raw writes store ObjectId.
            author_id=draw(st.sampled_from([PydanticObjectId, ObjectId]))(
                draw(st.sampled_from([*USER_IDS, ObjectId("65c000000000000000000000")]))),
            favorites_count=draw(st.integers(0, 3)),
            status=draw(st.sampled_from(["published", "draft"])),
            published_at=draw(maybe(st.sampled_from(INSTANTS))),
            created_at=draw(st.sampled_from(INSTANTS)),
            updated_at=draw(st.sampled_from(INSTANTS)),
            meta=draw(maybe(st.dictionaries(st.sampled_from(["series", "n"]),
                                            st.sampled_from(["x", "y", 1, 2]), max_size=2))),
        )
        for n, article_id in enumerate(ids)
    ]


@st.composite
def datasets(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """Users, articles, favorite edges (some to missing articles) and comments."""
    users = [
        document(_id=user_id, username=f"u{n}", bio=draw(maybe(st.just("bio"))),
                 image=None, created_at=draw(st.sampled_from(INSTANTS)), password_hash="x")
        for n, user_id in enumerate(draw(st.permutations(USER_IDS)))
    ]
    edges = draw(st.lists(st.tuples(st.sampled_from(USER_IDS), st.sampled_from(ARTICLE_IDS)),
                          unique=True, max_size=40))
    favorites = [
        {"_id": ObjectId(), "user_id": user, "article_id": article,
         "created_at": draw(st.sampled_from(INSTANTS)), "schema_version": 1}
        for user, article in edges
    ]
    comments = [
        {"_id": n, "article_id": draw(st.sampled_from(ARTICLE_IDS)), "body": "c",
         "author_id": draw(st.sampled_from(USER_IDS)), "created_at": draw(st.sampled_from(INSTANTS)),
         **draw(st.sampled_from([{}, {"moderation": {"hidden": True, "reason": "spam"}},
                                 {"moderation": None}]))}
        for n in range(draw(st.integers(0, 15)))
    ]
    return {"users": users, "articles": draw(articles()), "favorites": favorites,
            "comments": comments}


def article_matches(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """A list filter as `resolve_filters` builds one, and its order."""
    condition, sort = status_condition(draw(st.sampled_from(["published", "draft", "scheduled"])),
                                       NOW)
    match = dict(condition)
    if draw(st.booleans()):
        match["tag_list"] = draw(st.sampled_from(TAGS))
    author = draw(st.sampled_from([None, "one", "many"]))
    if author == "one":
        match["author_id"] = draw(st.sampled_from(USER_IDS))
    elif author == "many":
        match["author_id"] = {"$in": draw(st.lists(st.sampled_from(USER_IDS), max_size=3))}
    if draw(st.booleans()):
        match["meta.series"] = {"$in": draw(st.lists(st.sampled_from(["x", "y", 1]), min_size=1))}
    return match, sort


def cursor_after(draw: st.DrawFn, sort: list[tuple[str, int]], rows: list[dict[str, Any]]
                 ) -> dict[str, Any] | None:
    """A keyset condition after a random position: mostly a stored row's, so ties are met."""
    if not draw(st.booleans()):
        return None
    usable = [row for row in rows if all(isinstance(row.get(f), (datetime, ObjectId))
                                         for f, _ in sort)]
    if usable and draw(st.booleans()):
        last = draw(st.sampled_from(usable))
    else:
        last = {field: draw(st.sampled_from(ARTICLE_IDS if field == "_id" else INSTANTS))
                for field, _ in sort}
    return after_condition(keyset_cursor(sort, last), sort)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """Random data, and one of Folio's pipelines on it with the collection it runs on."""
    data = draw(datasets())
    return (data, *pipelines(draw, data))


def pipelines(draw: st.DrawFn, data: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """One of Folio's pipelines with random arguments, and the collection it runs on."""
    kind = draw(st.sampled_from([
        "page", "by_slug", "favorites", "favorites_narrowed", "favorites_count", "edge_counts",
        "comments", "search", "tag_trends", "author_stats", "overview",
    ]))
    offset, limit = draw(st.integers(0, 12)), draw(st.integers(1, 12))
    if kind == "page":
        match, sort = article_matches(draw)
        after = cursor_after(draw, sort, data["articles"])
        return "articles", article_page_pipeline(match, offset=offset, limit=limit, sort=sort,
                                                 after=after)
    if kind == "by_slug":
        return "articles", article_by_slug_pipeline(f"s{draw(st.integers(0, 40))}-0",
                                                    draw(st.sampled_from(USER_IDS)))
    user = draw(st.sampled_from(USER_IDS))
    if kind == "favorites":
        return "favorites", favorites_page_pipeline(
            user, None, fields=LIST_FIELDS, offset=offset, limit=limit, after=cursor_after(draw, NEWEST_FAVORITED, data["favorites"]))
    if kind == "favorites_narrowed":
        match, _ = article_matches(draw)
        return "favorites", favorites_page_pipeline(
            user, match, fields=LIST_FIELDS, offset=offset, limit=limit, after=cursor_after(draw, NEWEST_FAVORITED, data["favorites"]),
            scan_cap=draw(st.integers(1, 40)))
    if kind == "favorites_count":
        match, _ = article_matches(draw)
        return "favorites", favorites_count_pipeline(user, match, scan_cap=draw(st.integers(1, 40)))
    if kind == "edge_counts":
        ids = draw(st.lists(st.sampled_from(ARTICLE_IDS), max_size=5))
        return "favorites", counts_per_article_pipeline(ids)
    if kind == "comments":
        viewer = draw(st.one_of(st.none(), st.just(user)))
        match = visible_comments(draw(st.sampled_from(ARTICLE_IDS)), viewer)
        if draw(st.booleans()):
            return "comments", comment_pipeline(match, draw(st.integers(0, 15)))
        after = None
        if draw(st.booleans()):  # after a stored comment (ties met) or anywhere
            last = draw(st.sampled_from(data["comments"])) if data["comments"] else {
                "created_at": draw(st.sampled_from(INSTANTS)), "_id": draw(st.integers(0, 15))}
            after = after_condition(keyset_cursor(NEWEST_COMMENTS, last), NEWEST_COMMENTS)
        return "comments", comments_page_pipeline(match, offset=offset, limit=limit, after=after)
    live = status_condition("published", NOW)[0]
    if kind == "search":
        stages = text_search_stages(draw(st.sampled_from(["dragons", "cat", "x"])), live,
                                    embedded=True)
        return "articles", search_pipeline(stages, offset=offset, limit=limit)
    since = window_start(45, NOW)
    if kind == "tag_trends":  # on rollups, which these data do not hold: read as empty
        return "tag_days", tag_trends_pipeline(
            since.strftime("%Y-%m-%d"), NOW.strftime("%Y-%m-%d"), week_labels(since, NOW))
    if kind == "author_stats":
        return "articles", author_stats_pipeline(user, NOW)
    days = day_labels(since, NOW)
    return "daily_stats", overview_pipeline(days[0], days[-1])


async def loaded(data: dict[str, list[dict[str, Any]]]) -> Any:
    """A fresh embedded database holding the data."""
    database = AsyncMongoMockClient()["planner"]
    for name, documents in data.items():
        if documents:
            await database[name].insert_many([dict(d) for d in documents])
    return database


@PROPERTY
@given(scenario=scenarios())
def test_planned_aggregations_equal_mongomocks_own(scenario):
    data, collection, pipeline = scenario

    async def both_ways() -> tuple[list[Any], list[Any]]:
        database = await loaded(data)
        plain = await database[collection].aggregate(runnable_by_mongomock(pipeline)).to_list(None)
        planned = await EmbeddedCollection(database[collection]).aggregate(pipeline).to_list(None)
        return plain, planned

    plain, planned = asyncio.run(both_ways())
    assert exactly(planned) == exactly(plain)


def runnable_by_mongomock(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same pipeline with each concise correlated `$lookup` (which mongomock cannot run)
    as a plain join, its `$match` moved after the `$unwind` under the joined field. Its
    `$project` goes: in Folio's pipelines an outer `$project` of the same fields follows."""
    plain: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    for stage in pipeline:
        lookup = stage.get("$lookup")
        if lookup and "pipeline" in lookup:
            inner = lookup["pipeline"]
            plain.append({"$lookup": {k: v for k, v in lookup.items() if k != "pipeline"}})
            moved = [{"$match": {f"{lookup['as']}.{field}": condition
                                 for field, condition in part["$match"].items()}}
                     for part in inner if "$match" in part]
            continue
        plain.append(stage)
        if "$unwind" in stage and moved:
            plain += moved
            moved = []
    return plain


def exactly(documents: Any) -> str:
    """Documents as text that keeps key order and tells 1, 1.0 and True apart (`==` does not)."""
    return json.dumps(documents, default=repr)


@st.composite
def finds(draw: st.DrawFn) -> dict[str, Any]:
    """A `find` on articles as Folio and its tools issue them: filter, order, window, fields."""
    match, sort = article_matches(draw)
    return {
        "filter": match,
        "projection": draw(st.sampled_from([None, {"slug": 1}, {"body": 0}, dict(LIST_FIELDS),
                                            {"slug": 1, "_id": 0}])),
        "sort": draw(st.sampled_from([None, NEWEST_PUBLISHED, NEWEST_CREATED, [("_id", 1)],
                                      [("favorites_count", -1), ("slug", 1)]])),
        "skip": draw(st.integers(0, 10)),
        "limit": draw(st.integers(0, 10)),
    }


@PROPERTY
@given(data=datasets(), query=finds(), chained=st.booleans())
def test_planned_finds_equal_mongomocks_own(data, query, chained):
    async def both_ways() -> tuple[list[Any], list[Any]]:
        database, installed = await loaded(data), await loaded(data)
        install(installed.articles)  # mongomock's own find, matching through the planner
        results = []
        for articles in (database.articles, EmbeddedCollection(database.articles),
                         installed.articles):
            if chained:  # find(...).sort(...).skip(...).limit(...), as scripts page through
                cursor = articles.find(query["filter"], query["projection"])
                if query["sort"]:
                    cursor = cursor.sort(query["sort"])
                cursor = cursor.skip(query["skip"]).limit(query["limit"])
            else:
                cursor = articles.find(query["filter"], query["projection"], sort=query["sort"],
                                       skip=query["skip"], limit=query["limit"])
            results.append([document async for document in cursor])
        counted = [await articles.count_documents(query["filter"])
                   for articles in (database.articles, installed.articles)]
        assert counted[0] == counted[1]
        return results[0], results[1:]

    plain, planned = asyncio.run(both_ways())
    assert [exactly(found) for found in planned] == [exactly(plain)] * 2


# --- split_pipeline, on its own ----------------------------------------------------------


def test_the_leading_match_sort_skip_limit_and_inclusion_project_become_one_query():
    pipeline = [{"$match": {"a": 1}}, {"$sort": {"b": -1}}, {"$skip": 5}, {"$limit": 10},
                {"$project": {"b": 1}}, {"$lookup": {"from": "x"}}]
    query, rest = split_pipeline(pipeline)
    assert query == Query({"a": 1}, [("b", -1)], 5, 10, {"b": 1})
    assert rest == [{"$lookup": {"from": "x"}}]


def test_a_limit_before_a_skip_ends_the_query_there():
    # $limit then $skip keeps documents limit - skip, which find's skip/limit cannot express.
    query, rest = split_pipeline([{"$match": {}}, {"$limit": 10}, {"$skip": 5}])
    assert (query.skip, query.limit) == (0, 10) and rest == [{"$skip": 5}]


@pytest.mark.parametrize("projection", [{"b": 0}, {"b": "$c"}, {"b": {"$size": "$c"}}, {}])
def test_projections_that_compute_or_exclude_stay_in_the_pipeline(projection):
    query, rest = split_pipeline([{"$match": {}}, {"$project": projection}])
    assert query.projection is None and rest == [{"$project": projection}]


def test_a_pipeline_not_led_by_match_still_pushes_its_sort_and_window():
    query, rest = split_pipeline([{"$sort": {"a": 1}}, {"$limit": 3}, {"$group": {"_id": 1}}])
    assert query == Query({}, [("a", 1)], 0, 3, None) and rest == [{"$group": {"_id": 1}}]


async def test_a_page_copies_only_its_own_documents(monkeypatch):
    # The point of the planner: sorting and slicing happen before the copy.
    database = await loaded({"articles": [{"_id": n, "n": n} for n in range(50)]})
    import mongomock.collection as mongomock_collection

    copied = []
    original = mongomock_collection._copy_field
    monkeypatch.setattr(mongomock_collection, "_copy_field",
                        lambda obj, container: copied.append(obj) or original(obj, container))
    planned = EmbeddedCollection(database.articles)
    page = await planned.aggregate([{"$match": {}}, {"$sort": {"n": -1}}, {"$limit": 3}]).to_list(None)
    assert [d["n"] for d in page] == [49, 48, 47]
    assert len([obj for obj in copied if isinstance(obj, dict) and "n" in obj]) == 3


def test_a_mongomock_layout_the_planner_does_not_know_is_left_plain():
    # Another mongomock-motor version: the adapter must fall back, not break.
    class Unknown:
        pass

    assert mongomock_collection(Unknown()) is None
    database = AsyncMongoMockClient()["planner"]
    assert mongomock_collection(database.articles) is not None


async def test_full_ties_keep_their_stored_order_under_a_window():
    # Sorted on a key many documents share (and one lacks), with a limit: a stable order.
    documents = [{"_id": n, "x": 1} for n in range(8)] + [{"_id": 8}]
    database = await loaded({"articles": documents})
    pipeline = [{"$match": {}}, {"$sort": {"x": -1}}, {"$limit": 5}]
    plain = await database.articles.aggregate(pipeline).to_list(None)
    planned = await EmbeddedCollection(database.articles).aggregate(pipeline).to_list(None)
    assert [d["_id"] for d in planned] == [d["_id"] for d in plain] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("pipeline", [
    [{"$match": {}}, {"$limit": 0}],
    [{"$match": {}}, {"$project": {"a.b": 1}}],
    [{"$match": {}}, {"$sort": {"n": 1}}, {"$project": {"n": 1}}],
], ids=["limit-0", "dotted-project", "project-key-order"])
async def test_stages_find_cannot_express_answer_as_mongomock_does(pipeline):
    documents = [{"_id": n, "n": -n, "a": [{"b": 1, "c": 2}, {"c": 3}, 5]} for n in range(3)]
    database = await loaded({"articles": documents})
    try:
        plain = exactly(await database.articles.aggregate(pipeline).to_list(None))
    except Exception as error:  # mongomock refuses $limit 0, as MongoDB does
        plain = type(error).__name__
    try:
        planned = exactly(
            await EmbeddedCollection(database.articles).aggregate(pipeline).to_list(None))
    except Exception as error:
        planned = type(error).__name__
    assert planned == plain


@pytest.mark.parametrize("options", [
    {"sort": [("$natural", -1)]}, {"sort": {"n": 1}}, {"skip": -1}, {"limit": -2},
], ids=["natural", "dict-sort", "negative-skip", "negative-limit"])
async def test_finds_the_planner_cannot_express_run_plain(options):
    database = await loaded({"articles": [{"_id": n, "n": -n} for n in range(4)]})
    outcomes = []
    for articles in (database.articles, EmbeddedCollection(database.articles)):
        try:
            outcomes.append(exactly([d async for d in articles.find({}, None, **options)]))
        except Exception as error:
            outcomes.append(type(error).__name__)
    assert outcomes[1] == outcomes[0]


async def test_a_correlated_lookup_on_any_field_joins_each_document_its_own_matches():
    # Issue 21's viewer edges: the embedded adapter batches the concise correlated form into
    # one query; each document must get exactly what a per-document join gives it.
    from service.engine.embedded import _lookup_correlated, _lookup_each

    viewer, other = ObjectId(), ObjectId()
    articles = [{"_id": n, "author_id": n % 3} for n in range(6)] + [{"_id": 6}]
    edges = [{"_id": ObjectId(), "user_id": viewer, "article_id": n} for n in (0, 2, 5)] + [
        {"_id": ObjectId(), "user_id": other, "article_id": n} for n in (0, 1)]
    database = await loaded({"favorites": edges})
    raw = mongomock_collection(database.favorites).database
    options = {"from": "favorites", "localField": "_id", "foreignField": "article_id",
               "pipeline": [{"$match": {"user_id": viewer}}, {"$limit": 1},
                            {"$project": {"_id": 1}}], "as": "mine"}
    batched = _lookup_correlated(raw, options, [dict(a) for a in articles])
    each = _lookup_each(raw, options, [dict(a) for a in articles])
    assert batched == each
    assert [bool(a["mine"]) for a in batched] == [True, False, True, False, False, True, False]
    planned = await EmbeddedCollection(database.favorites).aggregate(
        [{"$match": {"user_id": other}}, {"$lookup": {**options, "from": "favorites",
                                                      "localField": "article_id"}}]
    ).to_list(None)
    assert [bool(d["mine"]) for d in planned] == [True, False]


async def test_the_adapter_leaves_the_projections_it_is_given_as_they_were(app, client):
    """Embedded only: mongomock adds `_id` to a projection dict it is given; the adapter hands
    it a copy, so Folio's module-level projections (LIST_FIELDS) stay as declared, and the
    pipelines printed in docs/pipelines.md do not change with the tests run before."""
    from models import Article
    from service.articles.reads import LIST_FIELDS
    from service.engine import collection
    from tests.factories import create_article, register

    await create_article(client, await register(client))  # mongomock projects found documents
    declared = dict(LIST_FIELDS)
    articles = collection(Article)
    await articles.find_one({}, LIST_FIELDS)
    await articles.find_one({}, projection=LIST_FIELDS)
    await articles.find({}, LIST_FIELDS).to_list(None)
    await articles.find({}, LIST_FIELDS, sort=[("published_at", -1)], limit=2).to_list(None)
    await articles.find({}, LIST_FIELDS, sort={"published_at": -1}).to_list(None)  # runs plain
    await articles.find({}, LIST_FIELDS, batch_size=5).to_list(None)  # an option it passes on
    assert LIST_FIELDS == declared
