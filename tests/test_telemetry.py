"""Optional tracing (OpenTelemetry) and error reporting (Sentry): off and unimported unless
configured; spans exported when on; secrets scrubbed from every Sentry event."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from service.main import create_app
from service.observability import telemetry
from service.observability.telemetry import FILTERED, scrub_event, scrub_text
from tests.conftest import client_for, make_settings, serving
from tests.factories import create_article, register

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL_PACKAGES = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation",
                     "sentry_sdk")


def test_without_configuration_neither_the_otel_sdk_nor_sentry_is_imported():
    """FastAPI itself imports opentelemetry-api (its no-op API); the SDK, the exporters, the
    instrumentations and sentry_sdk stay out of the process unless configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLIO_", "OTEL_"))}
    script = f"""
        import sys
        import service.main
        app = service.main.create_app()
        loaded = sorted(name for name in sys.modules if name.startswith({OPTIONAL_PACKAGES!r}))
        print(",".join(loaded))
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


async def test_with_an_endpoint_fastapi_and_pymongo_spans_are_exported(monkeypatch):
    pytest.importorskip("opentelemetry.sdk", reason="the `otel` extra is not installed")
    pytest.importorskip("opentelemetry.instrumentation.fastapi",
                        reason="the `otel` extra is not installed")
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    monkeypatch.setattr(telemetry, "_otlp_exporter", lambda settings: exporter)
    settings = make_settings(otel_endpoint="http://127.0.0.1:4317")
    app = create_app(settings)
    assert app.state.tracer_provider is not None
    async with serving(app):
        assert PymongoInstrumentor().is_instrumented_by_opentelemetry
        async with client_for(app) as client:
            jake = await register(client)
            article = await create_article(client, jake)
            assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200  # probes are not traced
    # The lifespan's end flushed the batch and stopped tracing PyMongo for later clients.
    assert not PymongoInstrumentor().is_instrumented_by_opentelemetry
    spans = exporter.get_finished_spans()
    routes = {span.attributes.get("http.route") for span in spans}
    assert "/api/articles/{slug}" in routes
    assert "/healthz" not in routes
    assert all(article["slug"] not in span.name for span in spans)
    assert {span.resource.attributes["service.name"] for span in spans} == {"folio"}
    if not settings.embedded:  # the embedded engine sends no driver commands to trace
        assert any(span.attributes.get("db.system") == "mongodb" for span in spans)


def test_an_endpoint_without_the_extra_starts_and_warns(monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_otel(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("opentelemetry.instrumentation"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    with caplog.at_level("WARNING", logger="folio.telemetry"):
        app = create_app(make_settings(otel_endpoint="http://127.0.0.1:4317"))
    assert app.state.tracer_provider is None
    assert "the `otel` extra is not installed" in caplog.text


# --- Sentry: scrubbing ----------------------------------------------------------------------

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NmYxIiwic2lkIjoiYWJjIn0."
       "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg")
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
PASSWORD = "correct horse battery staple"


def realistic_event() -> dict:
    """An event as sentry-sdk's FastAPI and logging integrations build one, full of secrets."""
    return {
        "event_id": "5f3e8c1a9b2d4e6f8a0b1c2d3e4f5a6b",
        "level": "error",
        "logger": "folio.errors",
        "logentry": {
            "message": "unhandled error on %s %s (request %s)",
            "params": ["POST", "/api/users/login", "3f2a"],
        },
        "request": {
            "url": "http://folio.test/api/users/login",
            "method": "POST",
            "query_string": f"token={JWT}&page=2",
            "headers": {"Authorization": f"Token {JWT}", "Content-Type": "application/json",
                        "Cookie": "session=abc123"},
            "cookies": {"session": "abc123"},
            "data": {"user": {"email": "jake@example.com", "password": PASSWORD}},
        },
        "exception": {"values": [{
            "type": "RuntimeError",
            "value": f"could not verify password={PASSWORD!r} against {HASH}",
            "stacktrace": {"frames": [{
                "function": "authenticate",
                "module": "service.users.queries",
                "context_line": "    if not passwords.verify(user.password_hash, password):",
                "vars": {
                    "email": "'jake@example.com'",
                    "password": repr(PASSWORD),
                    "user": f"User(username='jake', password_hash='{HASH}', sessions=[...])",
                    "body": f"LoginUserRequest(user=LoginUser(email='jake@example.com', "
                            f"password='{PASSWORD}'))",
                    "token": JWT,
                },
            }]},
        }]},
        "breadcrumbs": {"values": [
            {"category": "httpx", "data": {"url": "http://x/", "headers": [
                ["authorization", f"Bearer {JWT}"], ["accept", "*/*"]]}},
            {"category": "log", "message": f"issued {JWT} for jake"},
        ]},
        "extra": {"settings": {"jwt_secret": "s" * 40, "database": "folio"}},
    }


def test_scrubbing_removes_passwords_hashes_tokens_and_request_bodies():
    event = realistic_event()
    scrubbed = scrub_event(event, {})
    text = json.dumps(scrubbed)
    for secret in (PASSWORD, HASH, JWT, "abc123", "s" * 40, "c29tZXNhbHQ"):
        assert secret not in text, secret
    assert scrubbed["request"]["data"] == FILTERED
    assert scrubbed["request"]["headers"]["Authorization"] == FILTERED
    assert scrubbed["request"]["headers"]["Content-Type"] == "application/json"
    assert scrubbed["request"]["query_string"] == f"token={FILTERED}&page=2"
    frame = scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert frame["vars"]["password"] == FILTERED and frame["vars"]["body"] == FILTERED
    assert frame["vars"]["email"] == "'jake@example.com'"
    assert frame["function"] == "authenticate"
    # What is left still tells what happened.
    assert scrubbed["request"]["url"] == "http://folio.test/api/users/login"
    assert scrubbed["exception"]["values"][0]["type"] == "RuntimeError"
    assert scrubbed["breadcrumbs"]["values"][1]["message"] == f"issued {FILTERED} for jake"
    assert scrubbed["extra"]["settings"]["database"] == "folio"
    assert event == realistic_event()  # the input is left as it was


@pytest.mark.parametrize("text, expected", [
    (f"Authorization: Token {JWT}", f"Authorization: Token {FILTERED}"),
    ("Bearer abc.def-ghi", f"Bearer {FILTERED}"),
    (f'{{"password": "{PASSWORD}", "email": "a@b.c"}}', f'{{"password": {FILTERED}, "email": "a@b.c"}}'),
    (f"new_password='x1' passwordHash={HASH}", f"new_password={FILTERED} passwordHash={FILTERED}"),
    ("nothing secret here, just /api/articles/how-to", "nothing secret here, just /api/articles/how-to"),
])
def test_scrubbing_text(text, expected):
    assert scrub_text(text) == expected


def test_with_a_dsn_sentry_starts_with_the_scrubber_and_without_bodies(monkeypatch):
    sentry_sdk = pytest.importorskip("sentry_sdk", reason="the `sentry` extra is not installed")
    options: dict = {}
    monkeypatch.setattr(sentry_sdk, "init", lambda **given: options.update(given))
    dsn = "https://public@o0.ingest.sentry.invalid/1"
    assert telemetry.install_error_reporting(make_settings(sentry_dsn=dsn))
    assert options["dsn"] == dsn
    assert options["before_send"] is scrub_event
    assert options["send_default_pii"] is False
    assert options["max_request_body_size"] == "never"
    assert not telemetry.install_error_reporting(make_settings())


def test_a_real_sentry_event_from_an_unhandled_error_reaches_the_transport_scrubbed():
    """sentry-sdk's own pipeline, in a subprocess (its client is process-wide): a 500 during a
    login is captured, and what would be sent holds neither the password nor a token."""
    pytest.importorskip("sentry_sdk", reason="the `sentry` extra is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLIO_", "OTEL_"))}
    script = f"""
        import asyncio, json
        import httpx, sentry_sdk
        from asgi_lifespan import LifespanManager
        from sentry_sdk.transport import Transport
        from service.main import create_app
        from service.users import queries
        from tests.conftest import make_settings

        sent = []

        class Keep(Transport):
            def capture_envelope(self, envelope):
                sent.extend(item.payload.json for item in envelope.items if item.payload.json)

        real_init = sentry_sdk.init
        sentry_sdk.init = lambda **options: real_init(transport=Keep, **options)

        async def authenticate(passwords, *, email, password):
            raise RuntimeError("argon2 verification failed")  # the password is a local here

        queries.authenticate = authenticate

        async def main():
            app = create_app(make_settings(sentry_dsn="https://public@o0.ingest.sentry.invalid/1"))
            async with LifespanManager(app):
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    login = {{"user": {{"email": "jake@example.com", "password": {PASSWORD!r}}}}}
                    answer = await client.post("/api/users/login", json=login,
                                               headers={{"Authorization": "Token {JWT}",
                                                        "Cookie": "session=cookie-secret-77"}})
                    assert answer.status_code == 500, answer.text
            sentry_sdk.flush()
            print(json.dumps(sent))

        asyncio.run(main())
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout.strip().splitlines()[-1])
    assert events, "sentry captured nothing"
    text = json.dumps(events)
    assert "argon2 verification failed" in text  # the error itself is reported
    for secret in (PASSWORD, JWT, "cookie-secret-77"):
        assert secret not in text, secret
    assert '"vars"' in text  # frames' local variables are sent (scrubbed), the password among them
