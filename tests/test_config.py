"""Configuration: the embedded default, the rules for a real MongoDB, and start-up messages."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings
from service.engine.client import EMBEDDED_WARNING

ROOT = Path(__file__).resolve().parent.parent


def clean_settings(**values: object) -> Settings:
    """Settings from these values alone, ignoring the test process's environment."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_no_configuration_means_the_embedded_engine_with_a_random_secret():
    first, second = clean_settings(), clean_settings()
    assert first.embedded and first.mongodb_url is None
    assert first.jwt_secret is not None and len(first.jwt_secret.get_secret_value()) >= 32
    assert first.jwt_secret.get_secret_value() != second.jwt_secret.get_secret_value()


def test_a_real_mongodb_without_a_secret_is_refused_with_a_clear_message():
    with pytest.raises(ValidationError, match="FOLIO_JWT_SECRET must be set"):
        clean_settings(mongodb_url="mongodb://db:27017")


def test_a_short_secret_is_refused():
    with pytest.raises(ValidationError, match="at least 32 characters"):
        clean_settings(mongodb_url="mongodb://db:27017", jwt_secret="short")


def test_a_url_that_is_not_mongodb_is_refused():
    with pytest.raises(ValidationError, match="must start with mongodb://"):
        clean_settings(mongodb_url="postgres://db/folio")


def test_srv_urls_and_comma_separated_origins_are_accepted():
    settings = clean_settings(
        mongodb_url="mongodb+srv://cluster.example.net", jwt_secret="s" * 32,
        cors_origins="https://a.example, https://b.example",
    )
    assert not settings.embedded
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_settings_are_read_from_folio_environment_variables(monkeypatch):
    monkeypatch.setenv("FOLIO_DATABASE", "blog")
    monkeypatch.setenv("FOLIO_JWT_TTL_MINUTES", "15")
    settings = Settings()
    assert (settings.database, settings.jwt_ttl_minutes) == ("blog", 15)


def test_server_refuses_to_start_against_mongodb_without_a_secret():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env["FOLIO_MONGODB_URL"] = "mongodb://localhost:1"
    result = subprocess.run(
        [sys.executable, "-c", "from service.main import app"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "Folio cannot start: FOLIO_JWT_SECRET must be set" in result.stderr
    assert "Traceback" not in result.stderr


async def test_embedded_start_up_says_data_lives_in_memory_only(app, caplog, settings):
    if not settings.embedded:
        pytest.skip("only the embedded engine warns")
    from asgi_lifespan import LifespanManager

    from service.main import create_app

    with caplog.at_level("WARNING", logger="folio.db"):
        async with LifespanManager(create_app(settings)):
            pass
    assert EMBEDDED_WARNING in caplog.text
    assert "in-memory" in EMBEDDED_WARNING and "FOLIO_MONGODB_URL" in EMBEDDED_WARNING


async def test_cors_allows_only_the_configured_origins():
    from asgi_lifespan import LifespanManager

    from service.main import create_app
    from tests.conftest import client_for, make_settings

    app = create_app(make_settings(cors_origins="http://localhost:4100"))
    async with LifespanManager(app):
        async with client_for(app) as client:
            preflight = {"Access-Control-Request-Method": "POST"}
            allowed = await client.options(
                "/api/users", headers={"Origin": "http://localhost:4100", **preflight}
            )
            refused = await client.options(
                "/api/users", headers={"Origin": "http://evil.example", **preflight}
            )
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:4100"
    assert "access-control-allow-origin" not in refused.headers


def test_a_settings_problem_names_the_variable_to_fix(monkeypatch):
    from service.config import settings_problem

    monkeypatch.setenv("FOLIO_ARGON2_TIME_COST", "0")
    monkeypatch.setenv("FOLIO_JWT_TTL_MINUTES", "a week")
    with pytest.raises(ValidationError) as raised:
        Settings()
    problem = settings_problem(raised.value)
    assert "FOLIO_ARGON2_TIME_COST: Input should be greater than or equal to 1" in problem
    assert "FOLIO_JWT_TTL_MINUTES: Input should be a valid integer" in problem
