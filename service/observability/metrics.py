"""Every Prometheus metric Folio reports, and the small hooks the rest of the code calls.

The metrics are process-wide, as prometheus-client expects: they are defined once, here, on
the library's default registry. Other modules never touch prometheus-client; they call the
hooks (`observe_request`, `db_operation`, `rate_limited`, `cache_hit`, `cache_miss`, the pool
hooks), so a cache or a limiter elsewhere (Redis, say) reports through the same counters.

With PROMETHEUS_MULTIPROC_DIR set before the process starts, prometheus-client keeps each
value in a file there and `/metrics` merges every process's files (its documented multiprocess
mode): counters and histograms add up across workers, and the gauges say how they combine
(`livesum`: the sum over live processes). The directory must be emptied before the server
starts. Process metrics (CPU, memory, open files) are per process and not reported in that
mode, as prometheus-client documents.
"""

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROCESS: Final = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
UNMATCHED: Final = "unmatched"  # the route label of a path no route serves (never the path)
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Request latencies: most answers take a few milliseconds; the budget of one database
# operation is 10 s (FOLIO_OPERATION_TIMEOUT_MS).
REQUEST_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

REQUESTS = Counter(
    "folio_http_requests",  # exposed as folio_http_requests_total
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "folio_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method, route template, status",
    ["method", "route", "status"],
    buckets=REQUEST_BUCKETS,
)
IN_FLIGHT = Gauge(
    "folio_http_requests_in_flight",
    "Requests being answered right now",
    multiprocess_mode="livesum",
)
DB_OPERATIONS = Counter(
    "folio_db_operations",
    "Database operations (round trips), by collection, command and outcome",
    ["collection", "command", "outcome"],
)
DB_SECONDS = Histogram(
    "folio_db_operation_duration_seconds",
    "Time one database operation took, by collection and command",
    ["collection", "command"],
    buckets=DB_BUCKETS,
)
RATE_LIMITED = Counter(
    "folio_rate_limit_rejections",
    "Requests refused with 429 by a rate limit, by limit scope (login, registration, writes)",
    ["scope"],
)
CACHE_LOOKUPS = Counter(
    "folio_cache_lookups",
    "Cache look-ups, by cache (counts, tags, analytics, ...) and result (hit or miss)",
    ["cache", "result"],
)
MEDIA_BYTES = Counter(
    "folio_media_bytes",
    "Bytes of media renditions written to the GridFS bucket and removed from it, by direction "
    "(written, removed): stored bytes are written minus removed",
    ["direction"],
)
MEDIA_UPLOADS = Counter(
    "folio_media_uploads",
    "Media uploads by outcome (stored, too_large, quota, unsupported, invalid)",
    ["outcome"],
)
MEDIA_SERVED = Counter(
    "folio_media_served",
    "Media renditions served, by answer (not_modified: the client's cache was current, full, "
    "partial: a Range); the serving cache's hit ratio is not_modified over all",
    ["answer"],
)
POOL_OPEN = Gauge(
    "folio_db_pool_connections",
    "Connections the MongoDB driver's pools hold open (MongoDB only)",
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "folio_db_pool_connections_checked_out",
    "Pooled MongoDB connections in use by an operation right now (MongoDB only)",
    multiprocess_mode="livesum",
)
EVENTS_WRITTEN = Counter(
    "folio_events_written",
    "Events written to the outbox, by type (counted when sent: a retried transaction counts again)",
    ["type"],
)
EVENT_BACKLOG = Gauge(
    "folio_event_backlog",
    "Pending events in the outbox, as the draining process last counted them (capped count)",
    multiprocess_mode="livemostrecent",
)
EVENT_FAILURES = Counter(
    "folio_event_drain_failures",
    "Events a consumer raised on (retried later with backoff), by consumer",
    ["consumer"],
)
EVENTS_HANDLED = Counter(
    "folio_events_handled",
    "Events the drain finished, by outcome (done: every consumer handled it; abandoned: a "
    "consumer kept failing past the last attempt)",
    ["outcome"],
)
NOTIFICATIONS_WRITTEN = Counter(
    "folio_notifications_written",
    "Notifications written by the events consumer, by type (a collapsed repeat is not counted)",
    ["type"],
)
STREAMS_OPEN = Gauge(
    "folio_notification_streams_open",
    "Notification streams (Server-Sent Events) open right now",
    multiprocess_mode="livesum",
)

# Label children by their values, so a request looks them up in one dict read instead of
# prometheus-client's labels() (string conversion, validation and a lock each time). Methods
# and routes are normalised before they get here, so these stay small.
_request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_db_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
_cache_children: dict[tuple[str, str], Counter] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency; `route` is a template or UNMATCHED."""
    if method not in METHODS:
        method = "other"  # a client chooses the method: never let it choose a label
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        values = (method, route, str(status))
        children = (REQUESTS.labels(*values), REQUEST_SECONDS.labels(*values))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def db_operation(collection: str, command: str, seconds: float, ok: bool = True) -> None:
    """Count one database operation and its latency (the engine adapter calls this)."""
    key = (collection, command, "ok" if ok else "error")
    children = _db_children.get(key)
    if children is None:
        children = (DB_OPERATIONS.labels(*key), DB_SECONDS.labels(collection, command))
        _db_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def event_written(event_type: str) -> None:
    """Count one event written to the outbox."""
    EVENTS_WRITTEN.labels(event_type).inc()


def event_backlog(pending: int) -> None:
    """Set the outbox backlog the drain counted."""
    EVENT_BACKLOG.set(pending)


def event_failed(consumer: str) -> None:
    """Count one event a consumer raised on."""
    EVENT_FAILURES.labels(consumer).inc()


def event_handled(outcome: str) -> None:
    """Count one event the drain finished ("done" or "abandoned")."""
    EVENTS_HANDLED.labels(outcome).inc()


def rate_limited(scope: str) -> None:
    """Count one request refused by the rate limit named `scope`."""
    RATE_LIMITED.labels(scope).inc()


def notification_written(kind: str) -> None:
    """Count one notification written, of this type."""
    NOTIFICATIONS_WRITTEN.labels(kind).inc()


def _cache_lookup(name: str, result: str) -> None:
    child = _cache_children.get((name, result))
    if child is None:
        child = _cache_children[(name, result)] = CACHE_LOOKUPS.labels(name, result)
    child.inc()


def cache_hit(name: str) -> None:
    """A look-up in the cache `name` found a fresh answer."""
    _cache_lookup(name, "hit")


def cache_miss(name: str) -> None:
    """A look-up in the cache `name` found nothing fresh: the answer is computed."""
    _cache_lookup(name, "miss")


def media_bytes_written(size: int) -> None:
    """Count bytes of media stored in the bucket."""
    MEDIA_BYTES.labels("written").inc(size)


def media_bytes_removed(size: int) -> None:
    """Count bytes of media removed from the bucket."""
    MEDIA_BYTES.labels("removed").inc(size)


def media_upload(outcome: str) -> None:
    """Count one media upload by its outcome (stored, too_large, quota, unsupported, invalid)."""
    MEDIA_UPLOADS.labels(outcome).inc()


def media_served(answer: str) -> None:
    """Count one rendition served: not_modified (a cache hit), full or partial."""
    MEDIA_SERVED.labels(answer).inc()


def pool_connection_opened() -> None:
    """The driver opened a pooled connection."""
    POOL_OPEN.inc()


def pool_connection_closed() -> None:
    """The driver closed a pooled connection."""
    POOL_OPEN.dec()


def pool_checked_out() -> None:
    """An operation took a connection from the pool."""
    POOL_CHECKED_OUT.inc()


def pool_checked_in() -> None:
    """An operation gave its connection back."""
    POOL_CHECKED_OUT.dec()


def exposition() -> tuple[bytes, str]:
    """The text a scrape answers, and its content type.

    In multiprocess mode a fresh registry with the MultiProcessCollector reads every process's
    files on each scrape, as prometheus-client documents (the default registry would report
    this process alone).
    """
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """In multiprocess mode, drop this process's live gauges (it is shutting down).

    Counters and histograms stay: what a process counted still counts after it stops.
    """
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


WEBHOOK_ATTEMPTS = Counter(
    "folio_webhook_deliveries",
    "Webhook delivery attempts, by outcome: delivered, retried (failed, another attempt is "
    "due) or failed (the last attempt failed, or the webhook was disabled)",
    ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "folio_webhook_delivery_latency_seconds",
    "Time from an event to its webhook delivery's successful attempt (retries included)",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0),
)
WEBHOOKS_DISABLED = Counter(
    "folio_webhooks_disabled",
    "Webhooks the sender disabled because every attempt failed for a day",
)


def webhook_attempt(outcome: str) -> None:
    """Count one webhook attempt by outcome (delivered, retried, failed)."""
    WEBHOOK_ATTEMPTS.labels(outcome).inc()


def webhook_delivered(latency_seconds: float) -> None:
    """Observe an event's time to delivery."""
    WEBHOOK_LATENCY.observe(max(latency_seconds, 0.0))


def webhook_disabled() -> None:
    """Count one webhook the sender disabled."""
    WEBHOOKS_DISABLED.inc()
