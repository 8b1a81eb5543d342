"""Redis, when FOLIO_REDIS_URL is set: the one client every process shares state through.

This is the only module that builds a Redis client (redis-py's asyncio client), and it is
imported only when a URL is configured: without one, nothing here runs and `redis` is never
imported. Rate limits (`service/web/ratelimit.py`, through the `limits` library's Redis storage) and
the count, tag and analytics caches (`service/articles/counts.py`) use the same connection pool.

A dead Redis must not stall requests, so every command has a short timeout
(FOLIO_REDIS_TIMEOUT_MS) and no retries, and a failure opens a breaker: for BREAK_SECONDS every
caller is told at once that Redis is unavailable (caches fall back to each process's memory,
rate limits fail open or closed) instead of each request waiting for its own timeout. The next call after that
tries Redis again.
"""

import logging
import time

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.config import Settings

log = logging.getLogger("folio.redis")
BREAK_SECONDS = 2.0


class SharedStore:
    """The Redis connection pool, with key names per database and a breaker."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        seconds = settings.redis_timeout_ms / 1000
        self.pool = redis.ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=seconds,
            socket_connect_timeout=seconds,
            retry=Retry(NoBackoff(), 0),  # redis-py retries 3 times by default: fail fast
        )
        self.client = redis.Redis(connection_pool=self.pool)
        # Several deployments (and every test) may share one Redis: keys carry the database.
        self.prefix = f"folio:{settings.database}:"
        self._closed_until = 0.0
        self._fallback = "counts and analytics are kept in this process only, and " + (
            "rate limits admit every request" if settings.rate_limit_fail_open
            else "rate-limited requests answer 503")

    errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
    """What a command raises when Redis cannot answer (refused, reset, timed out)."""

    def available(self) -> bool:
        """False while the breaker is open (Redis failed less than BREAK_SECONDS ago)."""
        return time.monotonic() >= self._closed_until

    def failed(self, error: BaseException) -> None:
        """Note a failure: open the breaker, and say so (once per opening) with what falls back."""
        if self.available():
            log.warning("Redis unreachable (%s: %s); for the next %g s %s",
                        type(error).__name__, error, BREAK_SECONDS, self._fallback)
        self._closed_until = time.monotonic() + BREAK_SECONDS

    async def ping(self) -> bool:
        """Whether Redis answers now (start-up logs a warning if not; it starts anyway)."""
        try:
            await self.client.ping()
        except self.errors as error:
            self.failed(error)
            return False
        return True

    async def close(self) -> None:
        """Release the connections."""
        await self.client.aclose()
        await self.pool.disconnect()
