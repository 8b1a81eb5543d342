"""Test fixtures: a fresh database per test, and an async client running the app's lifespan.

With FOLIO_TEST_MONGODB_URL set, every test runs against that real MongoDB, each in its own
throwaway database; otherwise on the embedded engine.
"""

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from service.config import Settings
from service.main import create_app
from tests import oplog

REAL_MONGODB_URL = os.environ.get("FOLIO_TEST_MONGODB_URL") or None
TEST_SECRET = "test-secret-" + "x" * 32

oplog.install()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests that need a real MongoDB when none is configured."""
    if REAL_MONGODB_URL:
        return
    skip = pytest.mark.skip(reason="needs FOLIO_TEST_MONGODB_URL (a real MongoDB)")
    for item in items:
        if "realmongo" in item.keywords:
            item.add_marker(skip)


def make_settings(**overrides: object) -> Settings:
    """Settings for one test: cheap password hashing and a private database."""
    values: dict[str, object] = {
        "mongodb_url": REAL_MONGODB_URL,
        "database": f"folio_test_{uuid.uuid4().hex[:12]}",
        "jwt_secret": TEST_SECRET,
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 8,
        "argon2_parallelism": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings() -> Settings:
    """This test's settings."""
    return make_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running; a real database is dropped afterwards."""
    application = create_app(settings)
    async with LifespanManager(application):
        yield application
        if not settings.embedded:
            await application.state.engine.client.drop_database(settings.database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as http:
        yield http
