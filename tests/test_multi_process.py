"""Two real uvicorn processes on one database server and one real Redis behave as one service.

The shared database is the tier's server (FOLIO_TEST_MONGODB_URL: the wire tier's mongoeco
in CI, `.ci/wire-tier`, or a real MongoDB); the embedded engine lives inside one process, so
this test skips there. Redis is a redis-server of the test's own (it stops it mid-run). Each
process is `uvicorn service.main:app` on its own port, so every request names the process that
serves it; both are stopped by their process ids.
"""

import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from service.main import create_app
from tests.conftest import REAL_MONGODB_URL, TEST_SECRET, make_settings, serving
from tests.factories import PASSWORD
from tests.servers import free_port, redis_server, running, stop, uvicorn_command

pytestmark = pytest.mark.skipif(
    REAL_MONGODB_URL is None,
    reason="needs a database server both processes share (the wire tier, `bash .ci/wire-tier`, "
    "or FOLIO_TEST_MONGODB_URL); the embedded engine lives inside one process",
)
WRITES_PER_MINUTE = 5


@contextmanager
def two_processes(database: str, redis_url: str) -> Iterator[list[httpx.Client]]:
    """Two `uvicorn service.main:app` processes on the same database and Redis, and a client
    for each."""
    assert REAL_MONGODB_URL is not None
    env = {
        "FOLIO_MONGODB_URL": REAL_MONGODB_URL,
        "FOLIO_DATABASE": database,
        "FOLIO_JWT_SECRET": TEST_SECRET,
        "FOLIO_REDIS_URL": redis_url,
        "FOLIO_RATE_LIMIT_WRITES_PER_USER": f"{WRITES_PER_MINUTE}/minute",
        "FOLIO_ARGON2_TIME_COST": "1",
        "FOLIO_ARGON2_MEMORY_COST_KIB": "8",
        "FOLIO_ARGON2_PARALLELISM": "1",
    }
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            port = free_port()
            stack.enter_context(running(uvicorn_command("service.main:app", port), port, env))
            clients.append(stack.enter_context(
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)))
        yield clients


def register(client: httpx.Client, name: str) -> dict[str, str]:
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    response = client.post("/api/users", json={"user": user})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Token {response.json()['user']['token']}"}


def new_article(client: httpx.Client, headers: dict[str, str], n: int) -> httpx.Response:
    article = {"title": f"Article {n}", "description": "d", "body": "b", "tagList": [f"tag{n}"]}
    return client.post("/api/articles", json={"article": article}, headers=headers)


def articles_count(client: httpx.Client) -> int:
    response = client.get("/api/articles")
    assert response.status_code == 200, response.text
    return response.json()["articlesCount"]


async def test_two_processes_share_rate_limits_and_counts_and_survive_redis_stopping():
    settings = make_settings()
    numbers = itertools.count(1)
    # The database synced as `folio db sync` would (and dropped afterwards) by an app here.
    async with serving(create_app(settings)):
        with redis_server() as (redis_process, redis_url), \
                two_processes(settings.database, redis_url) as (a, b):
            jake = register(a, "jake")

            # A write through one process shows in the other's count and tags at once,
            # though the other keeps its count (10 s) between writes.
            assert articles_count(b) == 0
            assert articles_count(b) == 0
            assert new_article(a, jake, next(numbers)).status_code == 201
            assert articles_count(b) == 1
            assert b.get("/api/tags").json()["tags"] == ["tag1"]
            assert new_article(b, jake, next(numbers)).status_code == 201
            assert articles_count(a) == 2

            # N writes per minute in total across both processes, not 2N.
            anna = register(b, "anna")
            statuses = {"a": [], "b": []}
            for attempt in range(2 * WRITES_PER_MINUTE):
                name, client = ("a", a) if attempt % 2 == 0 else ("b", b)
                statuses[name].append(new_article(client, anna, next(numbers)).status_code)
            every = statuses["a"] + statuses["b"]
            assert every.count(201) == WRITES_PER_MINUTE, statuses
            assert every.count(429) == WRITES_PER_MINUTE, statuses
            assert 429 in statuses["a"] and 429 in statuses["b"]  # each refused some
            assert articles_count(a) == 2 + WRITES_PER_MINUTE

            # Redis stops while both serve: every request still answers, none with a 500.
            stop(redis_process)
            answers = []
            for client in (a, b, a, b):
                answers += [
                    client.get("/api/articles"),
                    client.get("/api/tags"),
                    client.get("/api/analytics/overview"),
                    client.post("/api/users/login", json={
                        "user": {"email": "anna@example.com", "password": PASSWORD}}),
                    new_article(client, anna, next(numbers)),  # past her limit: fails open
                ]
            assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 201] * 4
            # The caches fall back to the database: still no stale count anywhere.
            assert new_article(a, jake, next(numbers)).status_code == 201
            assert articles_count(b) == articles_count(a) == 2 + WRITES_PER_MINUTE + 4 + 1
