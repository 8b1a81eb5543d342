"""The application factory, and `app` for `uvicorn service.main:app`."""

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError

from service.api import API_ROUTERS, EVENT_CONSUMERS
from service.articles import announcing
from service.articles.counts import share_counts
from service.config import Settings, get_settings, settings_problem
from service.contract.errors import install_error_handlers
from service.deletion import Deletions
from service.deletion.sweeper import pending, run_sweeper
from service.engine import Engine, drift_report, open_engine
from service.events.drain import Drain
from service.feeds.router import router as feeds_router
from service.health.router import router as health_router
from service.moderation.sweeps import finish_sweeps, sweep_forever
from service.notifications.live import Hub
from service.observability import metrics
from service.observability.telemetry import (
    install_error_reporting,
    install_tracing,
    shutdown_tracing,
)
from service.tags.counting import SWEEP_BATCH, catch_up
from service.tags.counting import sweep_forever as count_due_tags
from service.users.credentials import build_security
from service.users.roles import bootstrap_admins
from service.web.apidocs import install_redoc
from service.web.middleware import BodyGuard, RequestContext, RequestDeadline, TrailingSlash
from service.web.ratelimit import RateLimits
from service.web.routing import include_flat
from service.webhooks.sender import run_sender

DESCRIPTION = """
Folio serves the [RealWorld](https://github.com/gothinkster/realworld) "Conduit" API from MongoDB.
Authenticate with `Authorization: Token <jwt>` (or `Bearer <jwt>`), using the token that
registration and login return. Every error answers `{"errors": {"<field>": ["<message>"]}}`.
"""


def _stderr_logger(name: str, pattern: str) -> None:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(pattern))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def configure_logging() -> None:
    """Send Folio's log lines to stderr once: one JSON object per request, readable text else."""
    _stderr_logger("folio", "%(levelname)s:     %(name)s: %(message)s")
    _stderr_logger("folio.access", "%(message)s")


log = logging.getLogger("folio.startup")
StartupTask = Callable[[FastAPI, Engine], Awaitable[None]]


def create_app(
    settings: Settings | None = None,
    *,
    startup_tasks: Sequence[StartupTask] = (),
    shutdown_tasks: Sequence[StartupTask] = (),
) -> FastAPI:
    """Build the app; the lifespan opens the database, runs any start-up tasks (demo data), and
    on the way out any shutdown tasks (saving an export) before it closes the database."""
    settings = settings or get_settings()
    configure_logging()
    shared = None
    if settings.redis_url:  # imported only then: without Redis, `redis` is never loaded
        try:
            from service.web.shared_store import SharedStore
        except ImportError as error:
            raise RuntimeError(
                f"FOLIO_REDIS_URL is set but {error.name} is not installed: "
                "pip install 'folio[redis]'"
            ) from None
        shared = SharedStore(settings)
    install_error_reporting(settings)  # only with FOLIO_SENTRY_DSN

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await open_engine(settings)
        app.state.engine = engine
        if shared is not None:
            share_counts(engine, shared)
            if await shared.ping():
                log.info("Folio shares rate limits and caches through Redis")
        await bootstrap_admins(settings.admins)
        for name, lines in (await drift_report()).items():
            for line in lines:
                log.warning("index drift in %s: %s; run `folio db sync`", name, line)
        for task in startup_tasks:
            await task(app, engine)
        # Reports that a moderation action resolved but a stopped process did not finish
        # marking: now, and periodically (every batch is idempotent; see moderation/sweeps).
        await finish_sweeps()  # one indexed read when there are none
        sweeping = asyncio.create_task(sweep_forever(first_after=True))
        # Scheduled articles that went live while no process ran get their tags counted (one
        # bounded pass), then each process sweeps every FOLIO_TAG_SWEEP_SECONDS.
        await catch_up(SWEEP_BATCH, engine=engine)
        counting = asyncio.create_task(count_due_tags(engine, settings.tag_sweep_seconds))
        # Scheduled articles announced when they go live: the same kind of due-sweep, at the
        # same interval (service/articles/announcing.py); one bounded pass first.
        await announcing.announce_due(announcing.SWEEP_BATCH, announcing.announcements(engine))
        announcer = asyncio.create_task(
            announcing.sweep_forever(engine, settings.tag_sweep_seconds))
        # The event drain: every process runs one, and the one holding the lease drains
        # (service/events/drain.py); off when `folio worker` drains instead.
        drain = Drain(EVENT_CONSUMERS, poll_seconds=settings.event_poll_seconds)
        app.state.event_drain = drain
        draining = (asyncio.create_task(drain.run()) if settings.event_drain_in_api else None)
        # Webhook deliveries: each process claims due ones (a lease each), woken at once by
        # deliveries it queued and polling every FOLIO_WEBHOOK_POLL_SECONDS for the rest (webhooks/sender.py).
        sending_stop = asyncio.Event()
        sending = asyncio.create_task(run_sender(sending_stop, settings))
        # Article and account deletions go on in the background, a bounded pass now and then
        # every FOLIO_DELETION_SWEEP_SECONDS, the first at once if a stopped process left some
        # (two indexed reads tell); each piece of work is claimed, so processes never run one
        # twice. Started last, so that its interval counts from the end of start-up.
        sweeper = asyncio.create_task(
            run_sweeper(settings.deletion_sweep_seconds, start_now=await pending())
        )
        app.state.deletion_sweeper = sweeper
        try:
            yield
            for task in shutdown_tasks:
                await task(app, engine)
        finally:
            app.state.notification_hub.close()  # open streams end their answers
            # Each loop stops where it is: the sweeper's claims are released or lapse (any
            # process's next pass resumes), and the drain releases its lease (another process
            # takes over).
            for task in (sweeper, sweeping, counting, announcer, draining):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            sending_stop.set()  # attempts in flight are cancelled; their claims lapse
            with contextlib.suppress(asyncio.CancelledError):
                await sending
            engine.close()
            if shared is not None:
                await shared.close()
            shutdown_tracing(app.state.tracer_provider)
            metrics.process_exiting()

    # Swagger UI and ReDoc served from the fastapi-offline package, never from a CDN, so /docs
    # and /redoc work on a machine with no internet (ReDoc through service/web/apidocs.py).
    app = FastAPIOffline(
        title="Folio",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        redoc_url=None,
    )
    install_redoc(app)
    app.state.settings = settings
    app.state.security = build_security(settings)
    # Routers below the deletion room start deletions through this, not by importing it.
    app.state.deletions = Deletions()
    app.state.shared = shared
    app.state.rate_limits = RateLimits(settings, shared)
    app.state.notification_hub = Hub(
        settings.notification_streams_per_user, settings.notification_streams_per_process
    )
    install_error_handlers(app)
    app.router.redirect_slashes = False  # TrailingSlash serves both forms; no absolute redirects
    # Added innermost first: the request context wraps everything, including CORS answers.
    # The deadline starts once the body is in: a slow upload does not use up the database's time.
    app.add_middleware(RequestDeadline, seconds=settings.operation_timeout_ms / 1000)
    app.add_middleware(TrailingSlash)
    app.add_middleware(
        BodyGuard, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth,
        streamed=frozenset({"/api/media"}),  # uploads stream under FOLIO_MEDIA_MAX_BYTES
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,  # tokens travel in a header, never in cookies
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Requested-With", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "ETag"],
        )
    app.add_middleware(RequestContext)
    # One flat table of routes, not nested routers: FastAPI walks an included router's branch
    # on every request (service/web/routing.py).
    for router in API_ROUTERS:
        include_flat(app, router, "/api")
    include_flat(app, health_router)
    include_flat(app, feeds_router)  # /feeds/articles.atom: where feed readers look, not /api
    # Outermost of all, so a span covers the whole request; only with OTEL_EXPORTER_OTLP_ENDPOINT.
    app.state.tracer_provider = install_tracing(app, settings)

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, str]:
        return {"name": "Folio", "api": "/api", "docs": "/docs"}

    return app


def _settings_or_exit() -> Settings:
    """Read settings, turning a configuration mistake into one clear line instead of a trace."""
    try:
        return get_settings()
    except ValidationError as error:
        sys.exit(f"Folio cannot start: {settings_problem(error)}")


def __getattr__(name: str) -> FastAPI:
    """`service.main:app` for uvicorn, built on first use rather than at import.

    Importing this module (tests, `folio serve`'s own factory) then builds no second app and
    reads no settings; uvicorn's lookup of `app` builds it once.
    """
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    application = create_app(_settings_or_exit())
    globals()["app"] = application
    return application
