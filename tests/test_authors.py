"""The authors' profiles each process keeps for article answers (service/users/authors.py).

Both engines: the cache sits above the driver, and these tests change profiles through the
API or through the application's own engine.
"""

import pytest

from service.users import authors
from service.users.authors import forget_author, kept_authors
from tests import oplog
from tests.factories import create_article, register


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(authors, "time", fake)
    return fake


async def article_authors(client, slug: str) -> list[dict]:
    """The `author` of the article in a list page and in its own answer."""
    listed = (await client.get("/api/articles", params={"limit": 5})).json()["articles"]
    single = (await client.get(f"/api/articles/{slug}")).json()["article"]
    return [next(a["author"] for a in listed if a["slug"] == slug), single["author"]]


async def test_a_profile_change_through_the_api_shows_at_once(client, clock):
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    assert {a["bio"] for a in await article_authors(client, slug)} == {None}  # now kept
    changed = await client.put("/api/user", json={"user": {"bio": "new bio", "username": "renamed"}},
                               headers=author.headers)
    assert changed.status_code == 200, changed.text
    for shown in await article_authors(client, slug):
        assert (shown["username"], shown["bio"]) == ("renamed", "new bio")


async def test_a_change_behind_the_api_shows_once_the_profile_expires(app, client, clock):
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    await article_authors(client, slug)
    await app.state.engine.database.users.update_one({"username": author.username},
                                                      {"$set": {"bio": "edited by hand"}})
    clock.now += authors.AUTHOR_TTL_SECONDS - 1
    assert {a["bio"] for a in await article_authors(client, slug)} == {None}
    clock.now += 2
    assert {a["bio"] for a in await article_authors(client, slug)} == {"edited by hand"}


async def test_authors_not_kept_are_read_in_one_query_and_then_kept(client, clock):
    writers = [await register(client) for _ in range(3)]
    for writer in writers:
        await create_article(client, writer)
    authors.forget_authors()
    with oplog.recording() as cold:
        await client.get("/api/articles")
    with oplog.recording() as warm:
        await client.get("/api/articles")
    assert [op.name for op in cold.details if op.collection == "users"] == ["find"]
    assert not [op for op in warm.details if op.collection == "users"]


async def test_a_read_that_overlaps_a_forget_keeps_nothing(app, client, clock, monkeypatch):
    author = await register(client)
    await create_article(client, author)
    user_id = (await app.state.engine.database.users.find_one({"username": author.username}))["_id"]
    authors.forget_authors()
    real = authors.collection

    class Racing:
        """The `users` read, with a profile write landing while it is in flight."""

        def __init__(self, model):
            self.inner = real(model)

        def find(self, *args, **kwargs):
            cursor = self.inner.find(*args, **kwargs)

            async def rows():
                forget_author(user_id)
                async for row in cursor:
                    yield row
            return rows()

    monkeypatch.setattr(authors, "collection", Racing)
    assert user_id in await kept_authors([user_id])  # answered, but not kept
    monkeypatch.setattr(authors, "collection", real)
    with oplog.recording() as log:
        await kept_authors([user_id])
    assert [op.collection for op in log.details] == ["users"]


async def test_the_kept_profiles_are_bounded(client, clock, monkeypatch):
    monkeypatch.setattr(authors, "KEPT_AUTHORS", 2)
    for _ in range(3):
        await create_article(client, await register(client))
    authors.forget_authors()
    await client.get("/api/articles")
    assert len(authors._store().profiles) == 2


async def test_an_article_whose_author_is_gone_is_left_out(app, client, clock):
    gone, stays = await register(client), await register(client)
    slug = (await create_article(client, gone))["slug"]
    await create_article(client, stays)
    await app.state.engine.database.users.delete_one({"username": gone.username})
    authors.forget_authors()
    listed = (await client.get("/api/articles")).json()["articles"]
    assert [a["author"]["username"] for a in listed] == [stays.username]
    assert (await client.get(f"/api/articles/{slug}")).status_code == 404
