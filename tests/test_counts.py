"""articlesCount from a short-lived count per filter: reused, cleared by writes, stale by TTL."""

from datetime import UTC, datetime

from models import Article
from service.articles import counts as counts_module
from service.articles.counts import count_key
from service.engine.client import collection
from tests import oplog
from tests.factories import create_article, favorite, register


def counted(log) -> bool:
    return any(op.name == "count_documents" for op in log.details)


async def test_a_fresh_count_is_reused_and_only_the_page_is_read(client):
    jake = await register(client)
    for _ in range(3):
        await create_article(client, jake)
    with oplog.recording() as first:
        one = (await client.get("/api/articles", params={"limit": 1})).json()
    with oplog.recording() as second:
        two = (await client.get("/api/articles", params={"limit": 1, "offset": 1})).json()
    assert counted(first) and not counted(second)
    assert one["articlesCount"] == two["articlesCount"] == 3
    assert one["articles"][0]["slug"] != two["articles"][0]["slug"]


async def test_writes_in_this_process_clear_the_counts(client):
    jake = await register(client)
    await create_article(client, jake)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1
    second = await create_article(client, jake)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 2
    await client.delete(f"/api/articles/{second['slug']}", headers=jake.headers)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1


async def test_changes_from_elsewhere_show_within_the_ttl(client, monkeypatch):
    jake = await register(client)
    article = await create_article(client, jake)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1
    copy = await collection(Article).find_one({"slug": article["slug"]})
    copy.pop("_id")
    await collection(Article).insert_one({**copy, "slug": "written-by-another-process"})
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1  # still fresh
    later = counts_module.time.monotonic() + counts_module.COUNT_TTL_SECONDS + 1
    monkeypatch.setattr(counts_module.time, "monotonic", lambda: later)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 2


def test_the_count_key_ignores_the_moving_instant_of_visibility():
    early = {"tag_list": "x", "published_at": {"$lte": datetime(2026, 1, 1, tzinfo=UTC)}}
    late = {"published_at": {"$lte": datetime(2026, 1, 2, tzinfo=UTC)}, "tag_list": "x"}
    assert count_key(early) == count_key(late)
    assert count_key(early) != count_key({**early, "tag_list": "y"})


async def test_a_page_shorter_than_its_limit_tells_the_total_without_a_count(client):
    """Issue 21: the last page reached by offset holds the rest of the matches."""
    jake = await register(client)
    for _ in range(3):
        await create_article(client, jake, tagList=["few"])
    for params, total in (({"limit": 5}, 3), ({"limit": 2, "offset": 2}, 3)):
        await counts_module.counts().clear()
        with oplog.recording() as log:
            answer = (await client.get("/api/articles", params={"tag": "few", **params})).json()
        assert answer["articlesCount"] == total and not counted(log), params
    for params in ({"limit": 3}, {"limit": 2, "offset": 5}):  # full, or empty past the end
        await counts_module.counts().clear()
        with oplog.recording() as log:
            answer = (await client.get("/api/articles", params={"tag": "few", **params})).json()
        assert answer["articlesCount"] == 3 and counted(log), params
    cursor = (await client.get("/api/articles", params={"tag": "few", "limit": 2})).json()[
        "nextCursor"]
    await counts_module.counts().clear()
    with oplog.recording() as log:  # a cursor says nothing of the pages before it
        answer = (await client.get("/api/articles",
                                   params={"tag": "few", "limit": 2, "cursor": cursor})).json()
    assert len(answer["articles"]) == 1 and answer["articlesCount"] == 3 and counted(log)


def test_the_page_reads_only_the_page_and_the_count_is_its_own_operation():
    from service.articles.reads import article_page_pipeline

    pipeline = article_page_pipeline({"tag_list": "x"}, offset=20, limit=10)
    assert "$facet" not in repr(pipeline) and "$count" not in repr(pipeline)
    assert pipeline[0] == {"$match": {"tag_list": "x"}}
    assert pipeline[2:4] == [{"$skip": 20}, {"$limit": 10}]


# --- Scopes: a favorite forgets only its user's lists (issue 18, point 9) ---------------------


async def _tagged_list(client, tag: str) -> tuple[int, bool]:
    """`articlesCount` of the list by tag, and whether the request counted on the database.

    One article a page: a full page does not show the total itself (a shorter one would).
    """
    with oplog.recording() as log:
        response = await client.get("/api/articles", params={"tag": tag, "limit": 1})
    assert response.status_code == 200, response.text
    return response.json()["articlesCount"], counted(log)


async def test_an_unrelated_favorite_does_not_make_the_next_list_count_again(client):
    jake, anna = await register(client), await register(client)
    await create_article(client, jake, tagList=["dragons"])
    elsewhere = await create_article(client, jake, tagList=["eggs"])
    assert await _tagged_list(client, "dragons") == (1, True)
    await favorite(client, anna, elsewhere["slug"])
    assert await _tagged_list(client, "dragons") == (1, False)


async def test_a_count_computed_across_an_unrelated_favorite_is_kept(app, client, monkeypatch):
    # A favorite anywhere used to move the one generation of the in-process cache, so that
    # every count computed meanwhile was thrown away: under steady favorites, nothing was kept.
    from service.articles import counters, reads
    jake, anna = await register(client), await register(client)
    await create_article(client, jake, tagList=["dragons"])
    elsewhere = await create_article(client, jake, tagList=["eggs"])
    stored = await collection(Article).find_one({"slug": elsewhere["slug"]})
    anna_id = (await app.state.engine.database.users.find_one({"username": anna.username}))["_id"]
    original = reads.collection

    class Racing:
        """The articles collection, with a favorite by another request landing mid-count."""

        def __init__(self, model):
            self._inner = original(model)

        def __getattr__(self, name):
            return getattr(self._inner, name)

        async def count_documents(self, *args, **kwargs):
            total = await self._inner.count_documents(*args, **kwargs)
            await counters.favorite(stored, anna_id)
            return total

    monkeypatch.setattr(reads, "collection",
                        lambda model: Racing(model) if model is Article else original(model))
    assert await _tagged_list(client, "dragons") == (1, True)
    monkeypatch.setattr(reads, "collection", original)
    assert await collection(Article).count_documents({"favorites_count": 1}) == 1  # it landed
    assert await _tagged_list(client, "dragons") == (1, False)  # and the count was kept


async def test_a_favorite_refuses_only_the_answers_of_its_own_scope():
    cache = counts_module.CountCache()
    mine, theirs = "favorites of aaaa", "favorites of bbbb"
    stamps = {key: (await cache.lookup(key))[1]
              for key in ("tag x", mine, f"{mine} tag x", theirs)}
    await cache.forget(mine)  # a favorite by `mine` lands while all four are computed
    for key, since in stamps.items():
        await cache.put(key, 7, since)
    assert [(await cache.lookup(key))[0] for key in stamps] == [7, None, None, 7]

    _, since = await cache.lookup("tag x")
    await cache.clear()  # an article write refuses every answer computed across it
    await cache.put("tag x", 8, since)
    assert (await cache.lookup("tag x"))[0] is None


async def test_the_scopes_remembered_are_bounded_and_forgetting_one_stays_safe(monkeypatch):
    monkeypatch.setattr(counts_module, "MAX_SCOPES", 2)
    cache = counts_module.CountCache()
    _, since = await cache.lookup("favorites of old")
    await cache.forget("favorites of old")  # then pushed out by newer scopes
    await cache.forget("favorites of b")
    await cache.forget("favorites of c")
    assert len(cache._forgotten) == 2
    await cache.put("favorites of old", 1, since)  # computed across its forget: still refused
    assert (await cache.lookup("favorites of old"))[0] is None
    _, since = await cache.lookup("favorites of old")
    await cache.put("favorites of old", 2, since)  # computed after it: kept
    assert (await cache.lookup("favorites of old"))[0] == 2
