"""Hostile bodies, request ids and logs, security headers, health probes and database outages."""

import json

import pytest
from mongomock.collection import Collection as MockCollection
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from service.engine import client as engine_adapter
from service.engine import embedded
from service.web.middleware import json_depth_exceeds
from tests.factories import create_article, register

# --- bodies -------------------------------------------------------------------------------


async def test_a_body_over_one_megabyte_answers_413_before_anything_is_parsed(client):
    jake = await register(client)
    huge = {"article": {"title": "T", "description": "D", "body": "x" * 1_100_000}}
    response = await client.post("/api/articles", json=huge, headers=jake.headers)
    assert response.status_code == 413
    assert response.json() == {"errors": {"body": ["must be at most 1048576 bytes"]}}
    assert (await client.get("/api/articles")).json()["articlesCount"] == 0


async def test_a_chunked_body_over_the_limit_answers_413_too(client):
    async def chunks():
        for _ in range(40):
            yield b"x" * 32_768

    response = await client.post(
        "/api/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize("depth", [33, 5_000, 200_000])
async def test_deeply_nested_json_is_refused_cheaply_with_422(client, depth):
    body = "[" * depth + "]" * depth
    response = await client.post(
        "/api/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["must nest at most 32 levels"]}}


async def test_deep_meta_inside_the_limit_reaches_the_meta_rules(client):
    jake = await register(client)
    meta = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    response = await client.post(
        "/api/articles",
        json={"article": {"title": "T", "description": "D", "body": "B", "meta": meta}},
        headers=jake.headers,
    )
    assert response.status_code == 422
    assert "meta.a.b.c" in response.json()["errors"]


def test_json_depth_ignores_brackets_inside_strings():
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[["}', 3)
    assert json_depth_exceeds(b'{"a": [[[1]]]}', 3)
    assert not json_depth_exceeds(b'{"a": [[1]]}', 3)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[["}', 2)
    assert json_depth_exceeds(b"[[[", 2)  # unclosed, but already too deep


async def test_an_unterminated_string_full_of_escapes_is_refused_as_bad_json(client):
    body = b'{"user": "' + b'\\"' * 300_000  # once took minutes in a backtracking regex
    response = await client.post(
        "/api/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["is not valid JSON"]}}


# --- request ids, logs, headers ----------------------------------------------------------


async def test_every_response_carries_a_request_id_and_security_headers(client):
    response = await client.get("/api/tags")
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    docs = await client.get("/docs")
    assert docs.headers["content-security-policy"].startswith("default-src 'self';")
    assert docs.headers["x-content-type-options"] == "nosniff"


async def test_a_well_formed_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    kept = await client.get("/api/tags", headers={"X-Request-ID": "trace-1234abcd"})
    assert kept.headers["x-request-id"] == "trace-1234abcd"
    replaced = await client.get("/api/tags", headers={"X-Request-ID": "bad id\r\nx: y"})
    assert replaced.headers["x-request-id"] != "bad id\r\nx: y"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_each_request_logs_one_json_line_without_secrets(client, caplog):
    jake = await register(client)
    caplog.clear()
    with caplog.at_level("INFO", logger="folio.access"):
        response = await client.put(
            "/api/user", json={"user": {"password": "new-secret-password"}}, headers=jake.headers
        )
    [line] = [r.getMessage() for r in caplog.records if r.name == "folio.access"]
    entry = json.loads(line)
    assert entry == {
        "event": "request", "method": "PUT", "route": "users:update", "status": 200,
        "duration_ms": entry["duration_ms"], "request_id": response.headers["x-request-id"],
    }
    assert "new-secret-password" not in caplog.text and jake.token not in caplog.text


# --- health and outages -------------------------------------------------------------------


async def test_liveness_and_readiness_probes(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok", "database": "ok"}


async def test_readiness_answers_503_when_the_database_cannot_be_reached(client, monkeypatch):
    async def unreachable(engine):
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr("service.health.router.ping", unreachable)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"errors": {"database": ["is unavailable; try again shortly"]}}
    assert (await client.get("/healthz")).status_code == 200


@pytest.fixture
def outage(monkeypatch):
    """Make the embedded engine fail like an unreachable server until `recover()` is called."""
    originals = {}

    def fail(*args, **kwargs):
        raise AutoReconnect("connection refused")

    class Outage:
        def start(self):
            for name in ("find", "find_one", "aggregate", "insert_one", "update_one",
                         "find_one_and_update", "distinct", "delete_one"):
                originals[name] = getattr(MockCollection, name)
                monkeypatch.setattr(MockCollection, name, fail)
            # The adapter's planner (service/engine/embedded.py) reads the store through this instead.
            originals["run_query"] = embedded.run_query
            monkeypatch.setattr(embedded, "run_query", fail)

        def recover(self):
            for name, original in originals.items():
                monkeypatch.setattr(embedded if name == "run_query" else MockCollection, name,
                                    original)

    return Outage()


async def test_every_endpoint_answers_503_during_an_outage_and_recovers_after(client, outage, settings):
    if not settings.embedded:
        pytest.skip("the outage is simulated on the embedded engine")
    jake = await register(client)
    article = await create_article(client, jake, tagList=["t"])
    outage.start()
    requests = [
        client.get("/api/articles"), client.get("/api/tags"),
        client.get(f"/api/articles/{article['slug']}"),
        client.get("/api/user", headers=jake.headers),
        client.post("/api/users/login", json={"user": {"email": jake.email, "password": "x" * 9}}),
        client.post(f"/api/articles/{article['slug']}/favorite", headers=jake.headers),
        client.get("/api/search", params={"q": "x"}),
        client.get("/api/analytics/overview"),
    ]
    for request in requests:
        response = await request
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.json() == {"errors": {"database": ["is unavailable; try again shortly"]}}
    outage.recover()
    assert (await client.get("/api/articles")).json()["articlesCount"] == 1
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"]["favoritesCount"] == 0


def test_real_mongodb_clients_fail_fast_rather_than_hanging():
    from service.config import Settings

    client = engine_adapter.build_client(
        Settings(mongodb_url="mongodb://127.0.0.1:1", jwt_secret="s" * 32)
    )
    options = client.options
    assert options.server_selection_timeout == 3
    # One budget per operation (timeoutMS), which PyMongo also sends to MongoDB as maxTimeMS.
    assert options.timeout == 10
    client.close()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ExecutionTimeout("operation exceeded time limit", 50, {"code": 50}), 504),
        (NetworkTimeout("timed out", errors={"timeout": True}), 504),
        (ServerSelectionTimeoutError("no servers"), 503),
        (AutoReconnect("connection refused"), 503),
    ],
    ids=["server-stopped-it", "client-deadline", "no-server", "connection-lost"],
)
async def test_out_of_time_answers_504_and_unreachable_503(client, monkeypatch, error, status):
    # Embedded engine: the driver's errors are raised by hand, as MongoDB would cause them.
    async def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr("service.tags.router.queries.all_tags", failing)
    response = await client.get("/api/tags")
    assert response.status_code == status
    assert list(response.json()["errors"]) == ["database"]
    assert ("retry-after" in response.headers) == (status == 503)


async def test_another_driver_error_is_a_500_with_a_request_id(client, monkeypatch):
    async def failing(*args, **kwargs):
        raise OperationFailure("bad query", 2)

    monkeypatch.setattr("service.tags.router.queries.all_tags", failing)
    response = await client.get("/api/tags")
    assert response.status_code == 500
    assert "request id" in response.json()["errors"]["server"][0]


async def test_a_failed_counter_update_takes_the_favorite_edge_back(client, monkeypatch):
    from service.articles import counters
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    url = f"/api/articles/{article['slug']}/favorite"
    original = counters.move_counter

    async def broken(article_id, counter, delta, session=None):
        raise AutoReconnect("lost the primary")

    monkeypatch.setattr(counters, "move_counter", broken)
    assert (await client.post(url, headers=anna.headers)).status_code == 503
    monkeypatch.setattr(counters, "move_counter", original)
    retried = await client.post(url, headers=anna.headers)
    assert retried.json()["article"]["favoritesCount"] == 1
    monkeypatch.setattr(counters, "move_counter", broken)
    assert (await client.delete(url, headers=anna.headers)).status_code == 503
    monkeypatch.setattr(counters, "move_counter", original)
    assert (await client.get(url.removesuffix("/favorite"), headers=anna.headers)).json()[
        "article"]["favorited"] is True
    assert (await client.delete(url, headers=anna.headers)).json()["article"]["favoritesCount"] == 0


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                    "1900-01-01T00:00:00Z"])
async def test_publish_times_out_of_range_answer_422(client, moment):
    jake = await register(client)
    response = await client.post("/api/articles", headers=jake.headers, json={"article": {
        "title": "T", "description": "D", "body": "B", "publishAt": moment}})
    assert response.status_code == 422
    assert "publishAt" in response.json()["errors"]


async def test_huge_comment_ids_answer_422_not_500(client):
    jake = await register(client)
    article = await create_article(client, jake)
    response = await client.delete(f"/api/articles/{article['slug']}/comments/{2**64}",
                                   headers=jake.headers)
    assert response.status_code == 422


@pytest.mark.parametrize("image", ["javascript:alert(1)", "data:text/html,x", "//evil.example/x"])
async def test_profile_images_must_be_web_urls(client, image):
    jake = await register(client)
    response = await client.put("/api/user", json={"user": {"image": image}}, headers=jake.headers)
    assert response.status_code == 422
    assert "image" in response.json()["errors"]


async def test_a_favorite_is_one_transaction_where_the_server_has_them(app, client, settings,
                                                                       monkeypatch):
    # Wire tier and MongoDB: mongoeco runs transactions although its `hello` names no replica
    # set, so the test says it has them. A failed counter update aborts the transaction: the
    # edge is rolled back by the server, with no compensating write of ours.
    if settings.embedded:
        pytest.skip("the embedded engine has no transactions")
    from models import Favorite
    from service.articles import counters
    from service.engine.client import collection

    app.state.engine.transactions = True
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    url = f"/api/articles/{article['slug']}/favorite"
    original = counters.move_counter

    async def broken(article_id, counter, delta, session=None):
        assert session is not None  # inside the transaction
        raise OperationFailure("simulated failure after the edge was written", 2)

    monkeypatch.setattr(counters, "move_counter", broken)
    assert (await client.post(url, headers=anna.headers)).status_code == 500
    assert await collection(Favorite).count_documents({}) == 0
    monkeypatch.setattr(counters, "move_counter", original)
    assert (await client.post(url, headers=anna.headers)).json()["article"]["favoritesCount"] == 1
    assert (await client.delete(url, headers=anna.headers)).json()["article"]["favoritesCount"] == 0


def test_a_mongodb_deployment_never_loads_the_embedded_engine():
    # Any engine: a fresh interpreter, as production starts. mongomock and mongomock-motor
    # are the embedded engine's; an incompatible release of theirs must not take MongoDB down.
    import subprocess
    import sys

    program = (
        "import sys\n"
        "import service.main\n"
        "service.main.create_app()\n"
        "from service.engine import client as db\n"
        "db.build_client(db.Settings(mongodb_url='mongodb://127.0.0.1:1', jwt_secret='s' * 32)"
        ").close()\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in "
        "('mongomock', 'mongomock_motor') "
        "or name in ('service.engine.embedded', 'service.engine.planner')))\n"
    )
    env = {"FOLIO_MONGODB_URL": "mongodb://127.0.0.1:1", "FOLIO_JWT_SECRET": "s" * 32,
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                          text=True, timeout=60, cwd=engine_adapter.__file__.rsplit("/service/", 1)[0])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
