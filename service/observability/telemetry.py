"""Optional tracing (OpenTelemetry) and error reporting (Sentry), each off unless configured.

- `OTEL_EXPORTER_OTLP_ENDPOINT` set, with the `otel` extra installed: FastAPI and PyMongo spans
  are exported over OTLP (gRPC, or HTTP with `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`).
- `FOLIO_SENTRY_DSN` set, with the `sentry` extra installed: unhandled errors go to Sentry,
  every event first scrubbed by `scrub_event` (passwords and their hashes, tokens, request
  bodies).

Unset, neither package is imported at all (the OpenTelemetry SDK, its exporters and its
instrumentations; `sentry_sdk`). Set without the extra, the server starts and says so once.
"""

import logging
import os
import re
from typing import Any

from service.config import Settings

log = logging.getLogger("folio.telemetry")

# Requests that would only add noise to traces: probes and scrapes.
UNTRACED_URLS = "/healthz,/readyz,/metrics"


# --- OpenTelemetry -------------------------------------------------------------------------

def _otlp_exporter(settings: Settings) -> Any:
    """The OTLP span exporter for the configured endpoint (gRPC unless HTTP is asked for)."""
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc")
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The HTTP exporter adds /v1/traces only to an endpoint it reads from the environment.
        return OTLPSpanExporter(endpoint=f"{settings.otel_endpoint.rstrip('/')}/v1/traces")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcSpanExporter,
    )

    return GrpcSpanExporter(endpoint=settings.otel_endpoint)


def install_tracing(app: Any, settings: Settings) -> Any | None:
    """Trace every request (FastAPI) and database command (PyMongo); the tracer provider, or
    None when tracing is off or the `otel` extra is missing.

    The provider is Folio's own (not made global), so nothing else in the process starts
    exporting. PyMongo's instrumentation is process-wide: it traces clients created after it,
    so this runs before the lifespan opens the database. `shutdown_tracing` undoes it.
    """
    if not settings.otel_endpoint:
        return None
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the `otel` extra is not installed "
                    "(pip install 'folio[otel]'): no spans are exported")
        return None
    name = os.environ.get("OTEL_SERVICE_NAME") or "folio"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(settings)))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS)
    PymongoInstrumentor().instrument(tracer_provider=provider)
    log.info("Tracing to %s", settings.otel_endpoint)
    return provider


def shutdown_tracing(provider: Any | None) -> None:
    """Export the spans still queued and stop tracing PyMongo (at the end of the lifespan)."""
    if provider is None:
        return
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    PymongoInstrumentor().uninstrument()
    provider.shutdown()


# --- Sentry --------------------------------------------------------------------------------

FILTERED = "[Filtered]"
# A key whose value is never sent, compared lower-cased without `_` and `-`: passwords and
# their hashes, tokens and secrets, credentials, cookies and sessions, and bodies.
SENSITIVE_KEY_PARTS = ("password", "passwd", "hash", "token", "secret", "authorization",
                       "cookie", "session", "jwt", "apikey", "credential", "dsn")
SENSITIVE_KEYS = frozenset({"body", "rawbody", "json"})
# In any text: a JWT, an argon2 hash, an Authorization value, and `key=value` / `"key": value`
# pairs whose key names a secret (query strings, reprs of models, JSON).
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
ARGON2 = re.compile(r"\$argon2(?:id|i|d)\$[^\s\"')}\]]+")
AUTH_VALUE = re.compile(r"\b(Token|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
SECRET_PAIR = re.compile(
    r"""(["']?[\w-]*(?:password|passwd|secret|token|hash|jwt|api[_-]?key)[\w-]*["']?\s*[=:]\s*)"""
    r"""(?!\[Filtered\])(?:"[^"]*"|'[^']*'|[^\s,&;)}\]]+)""",
    re.IGNORECASE,
)


# A header's name in a [name, value] pair, as text or as the repr of ASGI's bytes (b'cookie').
HEADER_NAME = re.compile(r"""^b?['"]?([A-Za-z0-9_-]{1,64})['"]?$""")


def _sensitive(key: str) -> bool:
    plain = key.lower().replace("_", "").replace("-", "")
    return plain in SENSITIVE_KEYS or any(part in plain for part in SENSITIVE_KEY_PARTS)


def scrub_text(text: str) -> str:
    """Text with every token, hash and `password=...` it holds replaced by [Filtered]."""
    text = JWT.sub(FILTERED, ARGON2.sub(FILTERED, text))  # first: a hash holds `,` and `=`
    text = AUTH_VALUE.sub(lambda match: f"{match.group(1)} {FILTERED}", text)
    return SECRET_PAIR.sub(lambda match: f"{match.group(1)}{FILTERED}", text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: FILTERED if isinstance(key, str) and _sensitive(key) and value[key]
                not in (None, "", [], {}) else _scrub(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        if len(value) == 2 and isinstance(value[0], str):
            name = HEADER_NAME.match(value[0])
            if name and _sensitive(name.group(1)):
                return [value[0], FILTERED]  # a header as a [name, value] pair
        return [_scrub(inner) for inner in value]
    return value


def scrub_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """Sentry's `before_send`: the event without secrets or request bodies.

    The request's body (`data`) is dropped whatever it holds; every other field is walked:
    values under sensitive keys (passwords, hashes, tokens, Authorization, cookies, bodies)
    are replaced, and any text has its JWTs, argon2 hashes and `password=...` pairs replaced.
    """
    request = event.get("request")
    if isinstance(request, dict) and "data" in request:
        request = {**request, "data": FILTERED}
        event = {**event, "request": request}
    return _scrub(event)


def install_error_reporting(settings: Settings) -> bool:
    """Send unhandled errors to Sentry when FOLIO_SENTRY_DSN is set; whether it is on."""
    if settings.sentry_dsn is None:
        return False
    try:
        import sentry_sdk
    except ImportError:
        log.warning("FOLIO_SENTRY_DSN is set but the `sentry` extra is not installed "
                    "(pip install 'folio[sentry]'): errors are not reported")
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        before_send=scrub_event,
        send_default_pii=False,  # no user ids, addresses, cookies or headers Sentry would add
        max_request_body_size="never",  # bodies are never read; scrub_event drops any left
    )
    return True
