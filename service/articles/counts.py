"""`articlesCount` without counting on every request: a short-lived count per filter.

Counting the matches of a list is linear in their number (at a million live articles, a scan of
the whole `published_at` range on every unfiltered request). So a count is kept for
COUNT_TTL_SECONDS per filter and per process: a page served within that time skips the count and
reads only its own rows. Every article write in this process clears the counts at once; other
processes see a change within the TTL, and so does an article reaching its scheduled instant.

The tag list (`GET /api/tags`, a scan of every live article) is kept the same way, under
TAGS_KEY, so it is cleared by the same writes.
"""

import copy
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from service import metrics
from service.db import Engine, current_engine

T = TypeVar("T")
COUNT_TTL_SECONDS = 10.0
MAX_FILTERS = 1_000
TAGS_KEY = "<all live tags>"


def count_key(match: dict[str, Any]) -> str:
    """The filter's identity, with its instants (the moving `now` of visibility) left out."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(inner) for key, inner in sorted(value.items())}
        if isinstance(value, list):
            return [plain(inner) for inner in value]
        return "<instant>" if isinstance(value, datetime) else value

    return repr(plain(match))


def cache_name(key: str) -> str:
    """Which cache a key belongs to, for the hit and miss metrics: tags, analytics or counts."""
    if key == TAGS_KEY:
        return "tags"
    return "analytics" if key.startswith("analytics:") else "counts"


class CountCache:
    """Counts by filter key, each valid for COUNT_TTL_SECONDS."""

    def __init__(self) -> None:
        self._counts: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        # Moves on every forget/clear: an answer computed across one is not kept (it may
        # predate the write that caused it).
        self.generation = 0

    def get(self, key: str) -> Any:
        """A count still fresh, or None (counted as a hit or a miss of its cache)."""
        found = self._counts.get(key)
        if found is None or found[0] < time.monotonic():
            metrics.cache_miss(cache_name(key))
            return None
        metrics.cache_hit(cache_name(key))
        return found[1]

    def put(self, key: str, total: Any, since: int | None = None) -> None:
        """Remember a count just computed (unless a write came since generation `since`)."""
        if since is not None and since != self.generation:
            return
        self._counts[key] = (time.monotonic() + COUNT_TTL_SECONDS, total)
        self._counts.move_to_end(key)
        while len(self._counts) > MAX_FILTERS:
            self._counts.popitem(last=False)

    def forget(self, prefix: str) -> None:
        """Forget the counts whose keys start with `prefix` (one user's favorites changed)."""
        self.generation += 1
        for key in [key for key in self._counts if key.startswith(prefix)]:
            del self._counts[key]

    def clear(self) -> None:
        """Forget every count (an article was written)."""
        self.generation += 1
        self._counts.clear()


_caches: "weakref.WeakKeyDictionary[Engine, CountCache]" = weakref.WeakKeyDictionary()


def counts() -> CountCache:
    """The count cache of the open engine."""
    return _caches.setdefault(current_engine(), CountCache())


async def kept(key: str, compute: Callable[[], Awaitable[T]]) -> T:
    """An answer kept COUNT_TTL_SECONDS per process under `key`, computed when missing.

    This process's article writes clear it at once; each caller gets its own copy, so that
    changing an answer cannot change the one kept.
    """
    cached = counts().get(key)
    if cached is None:
        since = counts().generation
        cached = await compute()
        counts().put(key, cached, since)
    return copy.deepcopy(cached)
