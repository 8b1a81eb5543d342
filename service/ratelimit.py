"""Rate limits, kept in process memory (the `limits` library, moving windows).

One process counts exactly. With several processes or hosts each keeps its own counts, so the
effective limit is multiplied by their number; a shared store (Redis, via `limits`) is the
remedy, see the README.
"""

import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from service.config import Settings
from service.errors import TooManyRequests


class RateLimits:
    """The configured limits and the counters behind them."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.enabled = settings.rate_limits_enabled
        self.login_per_address = parse(settings.rate_limit_login_per_address)
        self.login_per_account = parse(settings.rate_limit_login_per_account)
        self.register_per_address = parse(settings.rate_limit_register_per_address)
        self.register_per_account = parse(settings.rate_limit_register_per_account)
        self.writes_per_user = parse(settings.rate_limit_writes_per_user)

    async def check(self, limit: RateLimitItem, scope: str, key: str) -> None:
        """Refuse (429) when the limit is already used up, without counting this request."""
        if self.enabled and not await self._limiter.test(limit, scope, key):
            await self.hit(limit, scope, key)

    async def hit(self, limit: RateLimitItem, scope: str, key: str) -> None:
        """Count one request against a limit; TooManyRequests with Retry-After past it."""
        if not self.enabled:
            return
        if not await self._limiter.hit(limit, scope, key):
            window = await self._limiter.get_window_stats(limit, scope, key)
            retry_after = max(1, int(window.reset_time - time.time()) + 1)
            raise TooManyRequests(scope, f"too many requests; retry in {retry_after} s", retry_after)
