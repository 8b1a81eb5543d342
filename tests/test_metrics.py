"""GET /metrics: scraped after real traffic and read with prometheus-client's own parser.

The metrics are process-wide (one registry per process, as prometheus-client has it), so each
test compares a scrape before its traffic with one after.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.main import create_app
from tests.conftest import client_for, make_settings, serving
from tests.factories import create_article, register

ROOT = Path(__file__).resolve().parent.parent
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# Commands that are not one of the API's round trips (README: Bounded round trips).
NOT_ROUND_TRIPS = {"getMore", "killCursors", "endSessions"}


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    """Scrape /metrics and parse it."""
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample moved between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


async def test_requests_are_counted_by_route_template_and_status_never_by_path(client):
    before = await scrape(client)
    jake = await register(client)
    article = await create_article(client, jake, title="Metrics are not paths")
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200
    assert (await client.get("/api/articles/no-such-article")).status_code == 404
    assert (await client.get("/no/such/path-xyz")).status_code == 404
    assert (await client.request("BREW", "/api/tags")).status_code == 405
    after = await scrape(client)

    requests = "folio_http_requests_total"
    one = {"method": "GET", "route": "/api/articles/{slug}"}
    assert delta(before, after, requests, status="200", **one) == 1
    assert delta(before, after, requests, status="404", **one) == 1
    assert delta(before, after, requests, method="POST", route="/api/articles", status="201") == 1
    assert delta(before, after, requests, method="POST", route="/api/users", status="201") == 1
    assert delta(before, after, requests, method="GET", route="unmatched", status="404") == 1
    # A client's made-up method is one fixed label, not a label per method.
    assert delta(before, after, requests, method="other", route="/api/tags", status="405") == 1
    # The latency histogram carries the same labels, with a count per answer.
    histogram = "folio_http_request_duration_seconds_count"
    assert delta(before, after, histogram, status="200", **one) == 1
    assert value(after, "folio_http_request_duration_seconds_bucket", le="+Inf", **one) >= 1

    # Every route label this traffic produced (other tests' apps add routes of their own).
    routes = {dict(labels)["route"] for name, labels in after
              if name == requests and after[(name, labels)] > before.get((name, labels), 0)}
    assert not any(article["slug"] in route or "no-such" in route or "path-xyz" in route
                   for route in routes)
    schema_paths = set(client._transport.app.openapi()["paths"])  # type: ignore[attr-defined]
    known = schema_paths | {"unmatched", "/metrics", "/", "/docs", "/redoc", "/openapi.json"}
    assert routes <= known | {r for r in routes if r.startswith("/static-offline-docs")}


async def test_in_flight_requests_pool_and_process_metrics_are_reported(client, settings):
    await register(client)  # the driver opens a pooled connection for it (on a server)
    samples = await scrape(client)
    if not settings.embedded:
        assert value(samples, "folio_db_pool_connections") >= 1
        assert value(samples, "folio_db_pool_connections_checked_out") >= 0
    # The scrape itself is in flight while it is answered.
    assert value(samples, "folio_http_requests_in_flight") >= 1
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        assert ("process_cpu_seconds_total", frozenset()) in samples
        assert ("process_resident_memory_bytes", frozenset()) in samples


async def test_database_operations_are_counted_by_collection_and_command(client, settings):
    jake = await register(client)
    before = await scrape(client)
    article = await create_article(client, jake)
    after_write = await scrape(client)
    assert delta(before, after_write, "folio_db_operations_total",
                 collection="articles", command="insert", outcome="ok") == 1
    assert delta(before, after_write, "folio_db_operation_duration_seconds_count",
                 collection="articles", command="insert") == 1

    # An anonymous read of one article is one round trip once its author's profile is kept
    # (README; the first read also reads the author), and is counted as one.
    await client.get(f"/api/articles/{article['slug']}")
    after_write = await scrape(client)
    await client.get(f"/api/articles/{article['slug']}")
    after_read = await scrape(client)
    moved = {
        (dict(labels)["collection"], dict(labels)["command"]):
            after_read[(name, labels)] - after_write.get((name, labels), 0)
        for name, labels in after_read
        if name == "folio_db_operations_total" and after_read[(name, labels)] != after_write.get(
            (name, labels), 0)
    }
    round_trips = sum(n for (_, command), n in moved.items() if command not in NOT_ROUND_TRIPS)
    assert round_trips == 1, moved
    assert delta(after_write, after_read, "folio_db_operations_total", collection="articles") >= 1


async def test_rate_limit_rejections_are_counted_by_scope():
    app = create_app(make_settings(rate_limit_login_per_address="2/minute"))
    async with serving(app):
        async with client_for(app) as client:
            before = await scrape(client)
            login = {"user": {"email": "nobody@example.com", "password": "wrong-password"}}
            statuses = [(await client.post("/api/users/login", json=login)).status_code
                        for _ in range(3)]
            after = await scrape(client)
    assert statuses == [401, 401, 429]
    assert delta(before, after, "folio_rate_limit_rejections_total", scope="login") == 1
    assert delta(before, after, "folio_http_requests_total",
                 route="/api/users/login", status="429") == 1


async def test_cache_hits_and_misses_are_counted_by_cache(client):
    jake = await register(client)
    await create_article(client, jake, tagList=["metrics"])
    before = await scrape(client)
    for _ in range(2):
        assert (await client.get("/api/articles")).status_code == 200
        assert (await client.get("/api/analytics/overview")).status_code == 200
    after = await scrape(client)
    lookups = "folio_cache_lookups_total"
    assert delta(before, after, lookups, cache="counts", result="miss") == 1
    assert delta(before, after, lookups, cache="counts", result="hit") == 1
    assert delta(before, after, lookups, cache="analytics", result="miss") == 1
    assert delta(before, after, lookups, cache="analytics", result="hit") == 1


def test_other_caches_report_through_the_same_hooks():
    from prometheus_client import REGISTRY

    from service.observability import metrics

    def hits() -> float:
        return REGISTRY.get_sample_value(
            "folio_cache_lookups_total", {"cache": "example", "result": "hit"}) or 0

    start = hits()
    metrics.cache_hit("example")
    metrics.cache_miss("example")
    assert hits() == start + 1


async def test_metrics_need_the_bearer_token_when_one_is_set():
    app = create_app(make_settings(metrics_token="scrape-secret-1234"))
    async with serving(app):
        async with client_for(app) as client:
            missing = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            other_scheme = await client.get(
                "/metrics", headers={"Authorization": "Token scrape-secret-1234"})
            right = await client.get(
                "/metrics", headers={"Authorization": "Bearer scrape-secret-1234"})
    for refused in (missing, wrong, other_scheme):
        assert refused.status_code == 401
        assert refused.json() == {"errors": {"token": ["a valid metrics token is required"]}}
        assert refused.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200
    assert "folio_http_requests_total" in right.text


async def test_metrics_are_open_without_a_token_and_outside_the_api_and_its_schema(client, app):
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/api/metrics")).status_code == 404
    assert "/metrics" not in app.openapi()["paths"]


def test_a_blank_token_means_no_token():
    assert make_settings(metrics_token="  ").metrics_token is None


def _run(script: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


TRAFFIC = """
    import asyncio, sys
    import httpx
    from asgi_lifespan import LifespanManager
    from service.main import create_app
    from tests.conftest import make_settings

    async def main(requests, scrape):
        app = create_app(make_settings())
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for _ in range(requests):
                    assert (await client.get("/healthz")).status_code == 200
                if scrape:
                    print((await client.get("/metrics")).text)

    asyncio.run(main(int(sys.argv[1]), sys.argv[2] == "scrape"))
"""


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """Two processes share PROMETHEUS_MULTIPROC_DIR; a scrape in the second counts both."""
    directory = tmp_path / "prometheus"
    directory.mkdir()  # emptied before the processes start, as prometheus-client requires
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLIO_", "OTEL_"))}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)

    def run(requests: int, scrape: bool) -> str:
        script = f"import sys; sys.argv = ['x', '{requests}', '{'scrape' if scrape else ''}']\n"
        return _run(script + textwrap.dedent(TRAFFIC), env)

    run(3, scrape=False)  # the first process answers 3 and exits
    samples = parse(run(2, scrape=True))  # the second answers 2, then scrapes
    health = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(samples, "folio_http_requests_total", **health) == 5
    assert value(samples, "folio_http_request_duration_seconds_count", **health) == 5
    # The live gauge sums live processes only: the first one left when it shut down.
    assert value(samples, "folio_http_requests_in_flight") == 1
    # prometheus-client's documented limit: no per-process collectors in this mode.
    assert not any(name.startswith("process_") for name, _ in samples)
    assert any(directory.iterdir())


def test_folio_serve_and_the_dockerfile_turn_uvicorns_access_log_off(monkeypatch):
    """Folio writes its own JSON line per request; uvicorn's would log each request twice."""
    from typer.testing import CliRunner

    from scripts import cli
    from tests.servers import free_port

    started: dict[str, object] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **options: started.update(options))
    env: dict[str, str | None] = dict.fromkeys(
        ["FOLIO_MONGODB_URL", "FOLIO_DEMO", "FOLIO_LOAD", "FOLIO_SAVE"])  # unset
    result = CliRunner().invoke(cli.app, ["serve", "--port", str(free_port())], env=env)
    assert result.exit_code == 0, result.output
    assert started["access_log"] is False
    command = (ROOT / "Dockerfile").read_text().split("CMD", 1)[1]
    assert "--no-access-log" in command
    assert "--no-access-log" in (ROOT / "README.md").read_text()
