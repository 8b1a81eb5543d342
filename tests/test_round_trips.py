"""Database round trips per request stay bounded, whatever the page size (no N+1)."""

import pytest

from service.articles.counts import counts
from service.users.authors import forget_authors
from tests import oplog
from tests.factories import create_article, favorite, follow, register


@pytest.fixture
async def populated(client):
    """A reader who follows three authors and has favorited some of their 30 articles."""
    reader = await register(client)
    authors = [await register(client) for _ in range(3)]
    slugs = []
    for i in range(30):
        article = await create_article(client, authors[i % 3], tagList=["common", f"t{i % 4}"])
        slugs.append(article["slug"])
    for author in authors:
        await follow(client, reader, author.username)
    for slug in slugs[::3]:
        await favorite(client, reader, slug)
    return reader, authors


async def operations_for(client, url, params, headers=None) -> int:
    """Issue one request and count the database operations it caused, in the worst case: with
    no recent `articlesCount` kept, so that lists count their matches too, and no author's
    profile kept, so that article answers read their authors too."""
    await counts().clear()
    forget_authors()
    with oplog.recording() as log:
        response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return len(log)


@pytest.mark.parametrize(
    "filters",
    [{}, {"tag": "common"}, {"author": "user"}, {"favorited": "reader"}],
    ids=["all", "tag", "author", "favorited"],
)
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "viewer"])
async def test_article_list_round_trips_do_not_grow_with_page_size(
    client, populated, filters, authenticated
):
    reader, authors = populated
    filters = {
        key: {"author": authors[0].username, "favorited": reader.username}.get(key, value)
        for key, value in filters.items()
    }
    headers = reader.headers if authenticated else None
    small = await operations_for(client, "/api/articles", {**filters, "limit": 2}, headers)
    large = await operations_for(client, "/api/articles", {**filters, "limit": 20}, headers)
    # page + authors + count (+ owners for author/favorited), signed in or not: the viewer's
    # favorite and follow edges are joined in the page's own read (issue 21), the authors read
    # in one `$in`. A page shorter than its limit (the author's 10 articles at limit 20) is the
    # last one and tells the count itself. (The favorites list joins its authors itself.)
    assert large <= small <= 4


async def test_signed_in_pages_join_the_viewer_edges_in_their_own_read(client, populated):
    """Issue 21: no separate `$in` query on favorites or follows for a page's viewer flags."""
    reader, authors = populated
    for url, params in (("/api/articles", {"limit": 20}), ("/api/articles", {"tag": "common"}),
                        ("/api/articles", {"favorited": reader.username}),
                        ("/api/articles/feed", {"limit": 20})):
        await counts().clear()
        with oplog.recording() as log:
            answer = await client.get(url, params=params, headers=reader.headers)
        assert answer.status_code == 200, answer.text
        assert ("favorites", "find") not in log.operations, (url, params)
        assert ("follows", "find") not in log.operations or url.endswith("feed"), (url, params)
        articles = answer.json()["articles"]
        flags = {a["favorited"] for a in articles}
        assert flags == ({True} if "favorited" in params else {True, False}), (url, params)
        assert all(a["author"]["following"] for a in articles)  # the reader follows all three


async def test_feed_round_trips_do_not_grow_with_page_size(client, populated):
    reader, _ = populated
    first = await operations_for(client, "/api/articles/feed", {"limit": 2}, reader.headers)
    small = await operations_for(client, "/api/articles/feed", {"limit": 2}, reader.headers)
    large = await operations_for(client, "/api/articles/feed", {"limit": 20}, reader.headers)
    # the user, whom they follow, the page (with favorites), its authors, the count
    assert first == 5
    # The follow list is kept per follow version (issue 21): the user, the page, its authors,
    # the count.
    assert small == large == 4


def author_reads(log: oplog.OperationLog) -> list[oplog.Operation]:
    """The reads of authors' profiles by `_id` in a log."""
    return [op for op in log.details if op.collection == "users"
            and isinstance((op.filter or {}).get("_id"), dict) and "$in" in op.filter["_id"]]


def joins_users(pipeline: list[dict]) -> bool:
    """Whether a pipeline joins `users`."""
    return any(stage.get("$lookup", {}).get("from") == "users" for stage in pipeline)


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "viewer"])
async def test_article_answers_take_their_authors_from_the_kept_profiles(
    client, populated, authenticated
):
    """Issue 21: a page or an article names its authors without a `$lookup` on `users`; those
    not kept are read in one `$in` on `_id`, and a second answer reads none."""
    reader, authors = populated
    headers = reader.headers if authenticated else None
    slug = (await client.get("/api/articles", params={"limit": 1})).json()["articles"][0]["slug"]
    for url, params in (("/api/articles", {"limit": 20}), (f"/api/articles/{slug}", {})):
        forget_authors()
        with oplog.recording() as cold:
            first = await client.get(url, params=params, headers=headers)
        with oplog.recording() as warm:
            again = await client.get(url, params=params, headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        assert len(author_reads(cold)) == 1 and not author_reads(warm), url
        assert not any(joins_users(op.pipeline) for op in cold.details if op.pipeline), url
        names = {a["author"]["username"] for a in first.json().get("articles", [])}
        assert names <= {author.username for author in authors}


async def test_the_feed_reads_the_follow_list_again_once_a_follow_moves_it(client, populated):
    reader, authors = populated
    other = await register(client)
    await create_article(client, other)
    feed = "/api/articles/feed"
    await client.get(feed, headers=reader.headers)
    with oplog.recording() as log:
        await client.get(feed, headers=reader.headers)
    assert ("follows", "find") not in log.operations
    await follow(client, reader, other.username)
    with oplog.recording() as log:
        answer = (await client.get(feed, headers=reader.headers)).json()
    assert ("follows", "find") in log.operations
    assert answer["articles"][0]["author"]["username"] == other.username
    assert answer["articlesCount"] == 31
    unfollowed = await client.delete(f"/api/profiles/{other.username}/follow",
                                     headers=reader.headers)
    assert unfollowed.status_code == 200
    answer = (await client.get(feed, headers=reader.headers)).json()
    assert other.username not in {a["author"]["username"] for a in answer["articles"]}
    assert answer["articlesCount"] == 30


async def test_comment_list_round_trips_do_not_grow_with_comment_count(client, populated):
    reader, authors = populated
    article = (await client.get("/api/articles", params={"limit": 1})).json()["articles"][0]
    url = f"/api/articles/{article['slug']}/comments"
    await client.post(url, json={"comment": {"body": "one"}}, headers=authors[0].headers)
    few = await operations_for(client, url, {}, reader.headers)
    for author in authors * 3:
        await client.post(url, json={"comment": {"body": "more"}}, headers=author.headers)
    many = await operations_for(client, url, {}, reader.headers)
    assert few == many <= 4  # the article, the page, its authors ($in), following ($in)


async def test_comment_pages_single_comments_and_edits_take_a_fixed_number_of_round_trips(
    client, populated
):
    reader, authors = populated
    slug = (await client.get("/api/articles", params={"limit": 1})).json()["articles"][0]["slug"]
    url = f"/api/articles/{slug}/comments"
    for n in range(12):
        await client.post(url, json={"comment": {"body": f"c{n}"}}, headers=authors[n % 3].headers)
    cursor = (await client.get(url, params={"limit": 2})).json()["nextCursor"]
    for params in ({"limit": 2}, {"limit": 10}, {"limit": 2, "offset": 4},
                   {"limit": 2, "cursor": cursor}):
        # The article (its counters give the total), the page, one $in for its authors; signed
        # in, one count of the reader's own hidden comments (a tiny partial index; a first
        # page holding every comment needs none) and one $in query for `following`.
        assert await operations_for(client, url, params, reader.headers) == 5, params
        assert await operations_for(client, url, params) == 3, params
    comment = (await client.get(url, params={"limit": 1})).json()["comments"][0]
    one = f"{url}/{comment['id']}"
    assert await operations_for(client, one, {}) == 2  # the article, the comment with its author
    assert await operations_for(client, one, {}, reader.headers) == 3  # + following
    author = next(a for a in authors if a.username == comment["author"]["username"])
    etag = (await client.get(one)).headers["etag"]
    with oplog.recording() as log:
        response = await client.put(one, json={"comment": {"body": "edited"}},
                                    headers={**author.headers, "If-Match": etag})
    assert response.status_code == 200, response.text
    assert len(log) == 4  # the user, the article, the comment, the conditional write


async def test_a_comment_page_is_one_indexed_read_and_one_in_for_authors(client, populated):
    """Issue 18, point 7: the total comes from the article already loaded (never a count of
    its comments), and authors from one `$in` (no `$lookup` per comment)."""
    reader, authors = populated
    slug = (await client.get("/api/articles", params={"limit": 1})).json()["articles"][0]["slug"]
    url = f"/api/articles/{slug}/comments"
    for n in range(6):
        await client.post(url, json={"comment": {"body": f"c{n}"}}, headers=authors[n % 3].headers)
    cursor = (await client.get(url, params={"limit": 2})).json()["nextCursor"]
    for params in ({"limit": 2}, {"limit": 2, "offset": 2}, {"limit": 2, "cursor": cursor}):
        for headers in (None, reader.headers):
            await counts().clear()
            with oplog.recording() as log:
                answer = await client.get(url, params=params, headers=headers)
            assert answer.json()["commentsCount"] >= 6
            on_comments = [op for op in log.details if op.collection == "comments"]
            pages = [op for op in on_comments if op.name == "aggregate"]
            assert len(pages) == 1 and "$lookup" not in repr(pages[0].pipeline)
            # (on the wire a count is an aggregation whose `$match` holds its filter)
            counted = [op.filter if op.filter is not None else op.pipeline[0]["$match"]
                       for op in on_comments if op.name == "count_documents"]
            # Only a signed-in reader's own hidden comments are counted (`hidden_by_author`).
            assert all(f.get("moderation") == {"$exists": True} for f in counted), counted
            assert len(counted) == (0 if headers is None else 1)
            assert [op.name for op in log.details if op.collection == "users"] == ["find"]


async def test_single_article_and_tags_round_trips(client, populated):
    reader, _ = populated
    slug = (await client.get("/api/articles", params={"limit": 1})).json()["articles"][0]["slug"]
    # the article, and its author when its profile is not kept (operations_for: never)
    assert await operations_for(client, f"/api/articles/{slug}", {}) == 2
    # Signed in, the viewer's favorite and follow edges are joined in the same read (issue 21).
    assert await operations_for(client, f"/api/articles/{slug}", {}, reader.headers) == 2
    assert await operations_for(client, "/api/tags", {}) == 1


@pytest.mark.not_on_wire("mongoeco has no $text")
async def test_search_round_trips_do_not_grow_with_page_size(client, populated):
    reader, _ = populated
    params = {"q": "article"}
    small = await operations_for(client, "/api/search", {**params, "limit": 2}, reader.headers)
    large = await operations_for(client, "/api/search", {**params, "limit": 20}, reader.headers)
    assert small == large == 3  # the $facet page + counts, then one $in query per viewer flag


async def test_each_analytics_answer_is_a_fixed_number_of_pipelines(client, populated):
    _, authors = populated
    assert await operations_for(client, "/api/analytics/tags", {"days": 365}) == 1
    author = f"/api/analytics/authors/{authors[0].username}"
    # the author, a follower count, the stats pipeline (comments come from each article's counter)
    assert await operations_for(client, author, {}) == 3
    # the daily rollups, and the number of accounts from collection metadata
    assert await operations_for(client, "/api/analytics/overview", {"days": 90}) == 2


async def test_private_lists_stay_within_the_authenticated_budget(client, populated):
    reader, _ = populated
    for status in ("draft", "scheduled"):
        for params in ({"status": status}, {"status": status, "author": reader.username}):
            small = await operations_for(client, "/api/articles", {**params, "limit": 2}, reader.headers)
            large = await operations_for(client, "/api/articles", {**params, "limit": 20}, reader.headers)
            assert small == large <= 5


async def write_operations(client, method: str, url: str, headers) -> int:
    with oplog.recording() as log:
        response = await client.request(method, url, headers=headers)
    assert response.status_code == 200, response.text
    return len(log)


async def test_favorites_and_follows_take_a_bounded_number_of_round_trips(client, populated):
    # Four for the write; then a favorite moves the analytics rollups (its article's day and
    # tags, two writes sent together), a follow the reader's follow version (one).
    reader, authors = populated
    slug = (await client.get("/api/articles", params={"author": authors[1].username,
                                                       "limit": 1})).json()["articles"][0]["slug"]
    favorite_url = f"/api/articles/{slug}/favorite"
    follow_url = f"/api/profiles/{authors[1].username}/follow"
    await client.get("/api/articles", params={"status": "draft"}, headers=reader.headers)
    for method, url in (("DELETE", favorite_url), ("POST", favorite_url),
                        ("POST", favorite_url), ("DELETE", favorite_url),
                        ("DELETE", follow_url), ("POST", follow_url), ("POST", follow_url)):
        # A new favorite also reads its actor's username and writes its `article.favorited`
        # event (two more); a new follow writes its `profile.followed` (one more, within six).
        # A favorite's article brings its author, read when the profile is not kept (+1; the
        # worst case here, as in `operations_for`).
        forget_authors()
        budget = 8 if (method, url) == ("POST", favorite_url) else 6
        budget += url == favorite_url
        assert await write_operations(client, method, url, reader.headers) <= budget, (method, url)
