"""With FOLIO_REDIS_URL, rate limits and the kept counts and analytics live in a real Redis
(redis-server, started here or by .ci/run), shared by every process; without it nothing imports
redis; and with Redis stopped mid-run, requests still answer (no 500).

The processes here are app instances and caches in this test process; `test_multi_process.py`
runs two real uvicorn processes."""

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from models import Article
from service.articles.counts import SharedCountCache, count_key, counts
from service.config import Settings
from service.engine.client import collection
from service.main import create_app
from service.web import shared_store as shared_module
from service.web.ratelimit import RateLimits
from service.web.shared_store import BREAK_SECONDS, SharedStore
from tests import oplog
from tests.conftest import make_settings, serving
from tests.factories import PASSWORD, article_fields, create_article, favorite, register
from tests.servers import ROOT, redis_server, stop


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The run's Redis: FOLIO_TEST_REDIS_URL (.ci/run starts one), else a server of our own."""
    given = os.environ.get("FOLIO_TEST_REDIS_URL")
    if given:
        yield given
        return
    with redis_server() as (_, url):
        yield url


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen, str]]:
    """A redis-server for this test alone, which the test may stop."""
    with redis_server() as running:
        yield running


async def client_of(app: FastAPI, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 4711))
    return httpx.AsyncClient(transport=transport, base_url="http://folio.test")


@pytest.fixture
async def shared_app(redis_url: str) -> AsyncIterator[FastAPI]:
    """The app with FOLIO_REDIS_URL set (its keys under its own test database's name)."""
    async with serving(create_app(make_settings(redis_url=redis_url))) as app:
        yield app


@pytest.fixture
async def shared_client(shared_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_of(shared_app) as client:
        yield client


def another_process(app: FastAPI) -> SharedCountCache:
    """The count cache another process of the same deployment holds: its own Redis client."""
    return SharedCountCache(SharedStore(app.state.settings))


def counted(log) -> bool:
    return any(op.name == "count_documents" for op in log.details)


# --- Without Redis ------------------------------------------------------------------------

def test_without_a_redis_url_redis_is_never_imported():
    script = textwrap.dedent("""
        import asyncio, sys
        import httpx
        from asgi_lifespan import LifespanManager
        from service.main import create_app
        from tests.conftest import make_settings

        async def main():
            app = create_app(make_settings(mongodb_url=None))
            async with LifespanManager(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    user = {"username": "jake", "email": "jake@example.com",
                            "password": "jakejakejake"}
                    assert (await client.post("/api/users", json={"user": user})).status_code == 201
                    assert (await client.get("/api/articles")).status_code == 200
                    assert (await client.get("/api/tags")).status_code == 200
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("redis", "coredis"))
            print("loaded:", loaded)
            assert not loaded

        asyncio.run(main())
    """)
    env = {key: value for key, value in os.environ.items()
           if key not in ("FOLIO_REDIS_URL", "FOLIO_TEST_MONGODB_URL")}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded: []" in result.stdout


def test_a_redis_url_must_name_redis():
    with pytest.raises(ValidationError, match="FOLIO_REDIS_URL must start with redis://"):
        make_settings(redis_url="http://localhost:6379")
    assert make_settings(redis_url="").redis_url is None
    assert make_settings(redis_url="rediss://cache.example.com:6380/2").redis_url
    defaults = Settings.model_fields
    assert defaults["redis_url"].default is None
    assert defaults["rate_limit_fail_open"].default is True


# --- Shared state ----------------------------------------------------------------------------

async def test_rate_limits_are_one_budget_across_processes(redis_url):
    settings = make_settings(redis_url=redis_url, rate_limit_writes_per_user="5/minute")
    stores = [SharedStore(settings), SharedStore(settings)]  # two processes, one Redis
    limits = [RateLimits(settings, store) for store in stores]
    admitted = 0
    for attempt in range(10):
        try:
            await limits[attempt % 2].hit(limits[0].writes_per_user, "writes", "jake")
            admitted += 1
        except Exception as refused:
            assert getattr(refused, "status_code", None) == 429
    assert admitted == 5  # not 10
    for store in stores:
        await store.close()


# One article a page: a full page does not show the total itself, so the count is used.
ONE = {"limit": 1}


async def test_a_count_is_shared_and_a_write_elsewhere_clears_it_at_once(shared_app, shared_client):
    jake = await register(shared_client)
    await create_article(shared_client, jake)
    with oplog.recording() as first:
        assert (await shared_client.get("/api/articles", params=ONE)).json()["articlesCount"] == 1
    with oplog.recording() as second:
        assert (await shared_client.get("/api/articles", params=ONE)).json()["articlesCount"] == 1
    assert counted(first) and not counted(second)

    # Another process finds the same count in Redis.
    elsewhere = another_process(shared_app)
    match = {"published_at": {"$lte": "<instant>"}}
    known, _ = await elsewhere.lookup(count_key(match))
    assert known == 1

    # It writes an article (straight to the database here) and clears, as its writes do.
    stored = await collection(Article).find_one({})
    stored.pop("_id")
    await collection(Article).insert_one({**stored, "slug": "written-by-another-process"})
    assert (await shared_client.get("/api/articles", params=ONE)).json()["articlesCount"] == 1  # kept
    await elsewhere.clear()
    assert (await shared_client.get("/api/articles", params=ONE)).json()["articlesCount"] == 2  # at once


async def test_a_count_computed_across_a_write_elsewhere_is_never_used(shared_app):
    cache, elsewhere = counts(), another_process(shared_app)
    assert isinstance(cache, SharedCountCache)
    _, since = await cache.lookup("some filter")
    await elsewhere.clear()  # a write lands while the count is computed
    await cache.put("some filter", 41, since)
    assert (await cache.lookup("some filter"))[0] is None
    _, since = await cache.lookup("some filter")
    await cache.put("some filter", 42, since)
    assert (await elsewhere.lookup("some filter"))[0] == 42
    await shared_app.state.shared.client.set(f"{shared_app.state.shared.prefix}count:junk", b"?")
    assert (await cache.lookup("junk"))[0] is None  # not an entry: computed afresh, no 500


async def test_a_favorite_forgets_only_that_users_lists(shared_app, shared_client):
    jake, anna = await register(shared_client), await register(shared_client)
    first, second = await create_article(shared_client, jake), await create_article(shared_client, jake)
    await favorite(shared_client, anna, first["slug"])
    favorites = {"favorited": anna.username}
    assert (await shared_client.get("/api/articles", params=favorites)).json()["articlesCount"] == 1
    await shared_client.get("/api/articles")
    await favorite(shared_client, anna, second["slug"])
    with oplog.recording() as log:
        assert (await shared_client.get("/api/articles")).json()["articlesCount"] == 2
    assert not counted(log)  # the global count was kept across her favorite
    assert (await shared_client.get("/api/articles", params=favorites)).json()["articlesCount"] == 2


async def test_analytics_come_back_from_redis_unchanged_and_tags_read_their_counts(shared_app, shared_client):
    jake = await register(shared_client)
    await create_article(shared_client, jake, tagList=["dragons", "eggs"])
    urls = ["/api/analytics/tags", "/api/analytics/overview",
            f"/api/analytics/authors/{jake.username}"]
    computed = [(await shared_client.get(url)).json() for url in urls]
    with oplog.recording() as log:
        again = [(await shared_client.get(url)).json() for url in urls]
        assert (await shared_client.get("/api/tags")).json() == {"tags": ["dragons", "eggs"]}
    assert again == computed
    # The three analytics answers from Redis; the tag list keeps nothing, it reads the counts.
    assert log.operations == [("tags", "aggregate")]
    kept = await shared_app.state.shared.client.keys(f"{shared_app.state.shared.prefix}count:*")
    assert len(kept) >= 3
    await create_article(shared_client, jake, tagList=["wyverns"])
    assert "wyverns" in (await shared_client.get("/api/tags")).json()["tags"]


# --- Redis stopped mid-run -------------------------------------------------------------------

async def test_with_redis_stopped_requests_still_answer_and_limits_fail_open(
    own_redis, monkeypatch, caplog
):
    process, url = own_redis
    monkeypatch.setattr(shared_module, "BREAK_SECONDS", 0.3)
    app = create_app(make_settings(redis_url=url, rate_limit_writes_per_user="3/minute"))
    async with serving(app), await client_of(app) as client:
        jake = await register(client)
        for _ in range(3):
            await create_article(client, jake, tagList=["kept"])
        refused = await client.post("/api/articles", json={"article": article_fields()},
                                    headers=jake.headers)
        assert refused.status_code == 429
        assert (await client.get("/api/articles")).json()["articlesCount"] == 3  # now kept

        stop(process)
        with caplog.at_level(logging.WARNING, logger="folio.redis"):
            answers = [
                await client.get("/api/articles"),
                await client.get("/api/tags"),
                await client.get("/api/analytics/overview"),
                await client.post("/api/articles", json={"article": article_fields()},
                                  headers=jake.headers),  # past the limit: admitted (fail open)
                await client.post("/api/users/login", json={
                    "user": {"email": jake.email, "password": PASSWORD}}),
            ]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 201, 200]
        assert "Redis unreachable" in caplog.text and "rate limits admit" in caplog.text
        # The caches fall back to this process's memory, which its write cleared: it shows at once.
        assert (await client.get("/api/articles")).json()["articlesCount"] == 4


async def test_with_redis_stopped_and_fail_closed_rate_limited_requests_answer_503(own_redis):
    process, url = own_redis
    app = create_app(make_settings(redis_url=url, rate_limit_fail_open=False))
    async with serving(app), await client_of(app) as client:
        jake = await register(client)
        stop(process)
        refused = await client.post("/api/articles", json={"article": article_fields()},
                                    headers=jake.headers)
        assert refused.status_code == 503
        assert refused.json() == {
            "errors": {"rate": ["cannot be checked right now; try again shortly"]}}
        assert int(refused.headers["retry-after"]) >= 1
        assert (await client.get("/api/articles")).status_code == 200  # reads are not limited


async def test_the_breaker_spares_requests_the_wait_and_redis_is_used_again_after(
    own_redis, monkeypatch
):
    """The breaker's clock is the test's: on a loaded machine five requests can take longer
    than any short BREAK_SECONDS, which would close the breaker in the middle of them."""
    from types import SimpleNamespace

    process, url = own_redis
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    now = [1_000.0]
    monkeypatch.setattr(shared_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    app = create_app(make_settings(redis_url=url))
    async with serving(app), await client_of(app) as client:
        store = app.state.shared
        stop(process)
        calls = []
        original = store.client.mget

        async def mget(*args, **kwargs):
            calls.append(args)
            return await original(*args, **kwargs)

        monkeypatch.setattr(store.client, "mget", mget)
        for _ in range(5):
            assert (await client.get("/api/articles")).status_code == 200
        assert len(calls) == 1  # the first found Redis gone; the others did not ask

        with redis_server(port):  # Redis is back on the same port
            now[0] += BREAK_SECONDS - 0.1
            await client.get("/api/articles")
            assert len(calls) == 1  # the breaker is still open
            now[0] += 0.2  # ... and now it has closed
            await client.get("/api/articles")
            await client.get("/api/articles")
            assert len(calls) == 3
            assert await store.client.keys(f"{store.prefix}count:*")


async def test_start_up_with_redis_unreachable_logs_and_serves(monkeypatch, caplog):
    from tests.servers import free_port

    app = create_app(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    with caplog.at_level(logging.WARNING, logger="folio.redis"):
        async with serving(app), await client_of(app) as client:
            jake = await register(client)
            await create_article(client, jake)
            assert (await client.get("/api/articles")).json()["articlesCount"] == 1
    assert "Redis unreachable" in caplog.text


async def test_a_redis_that_never_answers_costs_one_short_timeout():
    import socket
    import time

    with socket.socket() as silent:  # accepts connections (the backlog) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        app = create_app(make_settings(redis_url=f"redis://127.0.0.1:{port}/0",
                                       redis_timeout_ms=100))
        async with serving(app), await client_of(app) as client:
            store = app.state.shared
            waits = 0
            asked = store.available

            def counting_available() -> bool:
                nonlocal waits
                open_to_redis = asked()
                waits += open_to_redis  # each time Redis is asked, it may cost one timeout
                return open_to_redis

            store.available = counting_available
            jake = await register(client)
            store._closed_until = 0.0  # the start-up ping opened the breaker: start closed
            started = time.monotonic()
            for _ in range(5):
                assert (await client.get("/api/articles")).status_code == 200
                await create_article(client, jake)
            elapsed = time.monotonic() - started
        # Not a timed test: the breaker bounds how often Redis is asked (each costing at most
        # one short timeout): once per BREAK_SECONDS of the run, not on every request.
        assert waits <= 2 * (1 + int(elapsed // BREAK_SECONDS)), (waits, elapsed)


async def test_with_redis_unreachable_counts_are_kept_in_process_and_writes_clear_them():
    # While the breaker is open, each process keeps its answers in its own memory: a cache
    # outage must not turn every list into a count on the database.
    from tests.servers import free_port

    app = create_app(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    async with serving(app), await client_of(app) as client:
        jake = await register(client)
        await create_article(client, jake)
        with oplog.recording() as first:
            assert (await client.get("/api/articles", params=ONE)).json()["articlesCount"] == 1
        with oplog.recording() as second:
            assert (await client.get("/api/articles", params=ONE)).json()["articlesCount"] == 1
        assert counted(first) and not counted(second)
        await create_article(client, jake)  # a write through this process clears them at once
        assert (await client.get("/api/articles", params=ONE)).json()["articlesCount"] == 2
        with oplog.recording() as tags:
            await client.get("/api/tags")
            await client.get("/api/tags")
        # The tag list reads only the counts its writes keep, Redis or not.
        assert [op.collection for op in tags.details] == ["tags", "tags"]
