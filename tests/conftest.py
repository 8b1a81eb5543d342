"""Test fixtures: a fresh database per test, and an async client running the app's lifespan.

With FOLIO_TEST_MONGODB_URL set, every test runs against that server, each in its own throwaway
database; otherwise on the embedded engine. Three engines, three tiers:

- embedded: no URL. mongomock-motor in process.
- wire: a URL and FOLIO_TEST_ENGINE=wire. mongoeco's wire-protocol server through Motor
  (`.ci/wire-tier`); it is not MongoDB (docs/engines.md).
- mongodb: a URL to a real MongoDB 7 or 8 (FOLIO_TEST_ENGINE unset, or `mongodb`).

Tests say which engines their expectation holds for, with markers:
`realmongo` (only a real MongoDB can check it), `embedded_only(reason)` (the embedded engine's
behaviour, not MongoDB's) and `not_on_wire(reason)` (the wire server differs from MongoDB there).
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from scripts.dbtools import sync
from service.config import Settings
from service.main import create_app
from tests import oplog

REAL_MONGODB_URL = os.environ.get("FOLIO_TEST_MONGODB_URL") or None
TEST_ENGINE = "embedded" if REAL_MONGODB_URL is None else (
    os.environ.get("FOLIO_TEST_ENGINE") or "mongodb"
)
# 64 bytes: long enough for HS512 too, so tests that sign with other HMAC algorithms use a key
# of the proper length (PyJWT's InsecureKeyLengthWarning is an error here, pyproject.toml).
TEST_SECRET = "test-secret-" + "x" * 52
# mongoeco's comparisons ignore BSON type order: drafts (published_at: null) match
# {published_at: {$lte: now}} there, never on MongoDB. Expectations about drafts skip the tier.
WIRE_NULL_DATES = pytest.mark.not_on_wire(
    "mongoeco matches null in {published_at: {$lte: now}}, so drafts show (docs/engines.md)"
)

oplog.install()


def pytest_configure(config: pytest.Config) -> None:
    """Refuse an engine name the tiers do not know, rather than run the wrong expectations."""
    if TEST_ENGINE not in ("embedded", "wire", "mongodb"):
        raise pytest.UsageError(f"FOLIO_TEST_ENGINE={TEST_ENGINE!r}: use wire or mongodb")


def _reason(item: pytest.Item, marker: str) -> str:
    found = item.get_closest_marker(marker)
    return str(found.args[0]) if found is not None and found.args else marker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip each test on the engines its expectation does not hold for, saying why."""
    for item in items:
        if "realmongo" in item.keywords and TEST_ENGINE != "mongodb":
            item.add_marker(pytest.mark.skip(reason="needs a real MongoDB (FOLIO_TEST_MONGODB_URL)"))
        if "embedded_only" in item.keywords and TEST_ENGINE != "embedded":
            item.add_marker(pytest.mark.skip(
                reason=f"the embedded engine's behaviour: {_reason(item, 'embedded_only')}"))
        if "not_on_wire" in item.keywords and TEST_ENGINE == "wire":
            item.add_marker(pytest.mark.skip(
                reason=f"the wire server differs from MongoDB: {_reason(item, 'not_on_wire')}"))


def release_apps() -> None:
    """Let the apps a test built be collected.

    FastAPI memoises what it learns about each endpoint in module-level caches of 4,096
    entries (`fastapi.dependencies.models`), keyed by the endpoint function; the endpoints
    FastAPI builds for each app (/docs, /redoc, /openapi.json) close over that app, so the
    caches kept the last ~1,000 apps of the suite alive, ~1.3 GB, freed only by a long
    garbage collection at exit.
    """
    import fastapi.dependencies.models as memoised

    for value in vars(memoised).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.fixture(autouse=True)
def _release_apps_after_each_test() -> Iterator[None]:
    """Clear FastAPI's endpoint caches once the test's apps are done with (see release_apps)."""
    yield
    release_apps()


def make_settings(**overrides: object) -> Settings:
    """Settings for one test: cheap password hashing and a private database."""
    values: dict[str, object] = {
        "mongodb_url": REAL_MONGODB_URL,
        "database": f"folio_test_{uuid.uuid4().hex[:12]}",
        "jwt_secret": TEST_SECRET,
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 8,
        "argon2_parallelism": 1,
        # The drain's background passes would mix their operations with what a test counts
        # (round trips, index coverage); tests/test_events*.py run it where they need it.
        "event_drain_in_api": False,
        # Each app's webhook sender polls for deliveries it was not told of; at the default
        # (1 s) its query would land inside the round trips other tests count. Its own work
        # wakes it at once; tests that need the poll set it (tests/test_webhook_delivery.py).
        "webhook_poll_seconds": 60,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_deletion_write_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Account deletions finish at once: no other process holds a 30 s confirmation of a
    token here (tests/test_account_deletion.py restores a window where it tests one)."""
    from service.deletion import accounts as deletion

    monkeypatch.setattr(deletion, "WRITE_WINDOW_SECONDS", 0)


@pytest.fixture
def settings() -> Settings:
    """This test's settings."""
    return make_settings()


@asynccontextmanager
async def serving(application: FastAPI) -> AsyncIterator[FastAPI]:
    """Run an app's lifespan; on a server, sync its database first and drop it afterwards."""
    settings = application.state.settings
    async with LifespanManager(application):
        if not settings.embedded:
            # On MongoDB the API builds no indexes; `folio db sync` does, as in production.
            await sync(application.state.engine)
        yield application
        if not settings.embedded:
            await application.state.engine.client.drop_database(settings.database)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running, on a synced database that is dropped afterwards."""
    async with serving(create_app(settings)) as application:
        yield application


@asynccontextmanager
async def client_for(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a running app in-process."""
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as http:
        yield http


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    async with client_for(app) as http:
        yield http
