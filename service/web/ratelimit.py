"""Rate limits (the `limits` library, moving windows): in process memory, or shared in Redis.

Without FOLIO_REDIS_URL the counters live in this process: exact for one process, but N
processes each count on their own and admit N times the rate. With it, the `limits` library's
Redis storage keeps them in Redis (its own Lua scripts, on the pool `service/web/shared_store.py` built),
so every process draws on one budget.

When Redis cannot answer, FOLIO_RATE_LIMIT_FAIL_OPEN decides: admit the request (the default;
the outage is logged) or refuse every rate-limited request with 503 and Retry-After. Either
way no request waits longer than one Redis timeout, and while the breaker is open not even that.
"""

import logging
import time
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from service.config import Settings
from service.contract.errors import TooManyRequests, Unavailable

if TYPE_CHECKING:
    from service.web.shared_store import SharedStore

log = logging.getLogger("folio.ratelimit")


def redis_storage(shared: "SharedStore") -> Storage:
    """The `limits` Redis storage on the shared pool (redis-py's asyncio client)."""
    from limits.aio.storage import RedisStorage

    return RedisStorage(
        "async+redis://", implementation="redispy", connection_pool=shared.pool,
        key_prefix=f"{shared.prefix}limits", wrap_exceptions=True,
    )


class RateLimits:
    """The configured limits and the counters behind them."""

    def __init__(self, settings: Settings, shared: "SharedStore | None" = None) -> None:
        self._shared = shared
        storage = MemoryStorage() if shared is None else redis_storage(shared)
        self._limiter = MovingWindowRateLimiter(storage)
        self.enabled = settings.rate_limits_enabled
        self.fail_open = settings.rate_limit_fail_open
        self.login_per_address = parse(settings.rate_limit_login_per_address)
        self.login_per_account = parse(settings.rate_limit_login_per_account)
        self.register_per_address = parse(settings.rate_limit_register_per_address)
        self.register_per_account = parse(settings.rate_limit_register_per_account)
        self.writes_per_user = parse(settings.rate_limit_writes_per_user)

    async def check(self, limit: RateLimitItem, scope: str, key: str) -> None:
        """Refuse (429) when the limit is already used up, without counting this request."""
        if self.enabled and self._reachable():
            try:
                admitted = await self._limiter.test(limit, scope, key)
            except StorageError as error:
                return self._unreachable(error)
            if not admitted:
                await self.hit(limit, scope, key)

    async def hit(self, limit: RateLimitItem, scope: str, key: str) -> None:
        """Count one request against a limit; TooManyRequests with Retry-After past it."""
        if not self.enabled or not self._reachable():
            return
        try:
            if await self._limiter.hit(limit, scope, key):
                return
            window = await self._limiter.get_window_stats(limit, scope, key)
        except StorageError as error:
            return self._unreachable(error)
        retry_after = max(1, int(window.reset_time - time.time()) + 1)
        raise TooManyRequests(scope, f"too many requests; retry in {retry_after} s", retry_after)

    def _reachable(self) -> bool:
        """Whether to ask the storage at all: always in memory; in Redis unless its breaker
        is open, in which case this request is admitted or refused as configured."""
        if self._shared is None or self._shared.available():
            return True
        self._fall_back()
        return False

    def _unreachable(self, error: StorageError) -> None:
        assert self._shared is not None
        self._shared.failed(error.storage_error)
        self._fall_back()

    def _fall_back(self) -> None:
        """Fail open (return: the request goes on) or closed (503, Retry-After)."""
        if not self.fail_open:
            raise Unavailable(
                "rate", "cannot be checked right now; try again shortly", retry_after=5
            )
