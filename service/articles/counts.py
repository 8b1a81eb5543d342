"""`articlesCount` without counting on every request: a short-lived count per filter.

Counting the matches of a list is linear in their number (at a million live articles, a scan of
the whole `published_at` range on every unfiltered request). So a count is kept for
COUNT_TTL_SECONDS per filter: a page served within that time skips the count and reads only its
own rows. Every article write clears the counts at once; an article reaching its scheduled
instant shows within the TTL.

The analytics answers are kept the same way (`kept`), so they are cleared by the same writes.
(The tag list needs no cache: it reads counts the writes keep, service/tags/counting.py.)

Two stores, one interface (`lookup`, `put`, `forget`, `clear`, all awaited):

- CountCache, in process memory (no FOLIO_REDIS_URL): writes through this process clear it;
  other processes see a change within the TTL.
- SharedCountCache, in Redis: every process reads the same answers, and a write through any
  process reaches all of them at once, by versioned keys (see SharedCountCache). While Redis
  cannot answer (the breaker is open), each process falls back to its own CountCache.

Both invalidate by scope: an article write clears every answer, one user's favorite write only
the answers of that user's favorites lists (`favorites of <id>`), so a steady stream of
favorites does not stop the other counts from being kept.
"""

import copy
import logging
import re
import secrets
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import bson
from bson.errors import BSONError

from service.engine import Engine, current_engine
from service.observability import metrics

if TYPE_CHECKING:
    from service.web.shared_store import SharedStore

log = logging.getLogger("folio.cache")
T = TypeVar("T")
COUNT_TTL_SECONDS = 10.0
MAX_FILTERS = 1_000
# Scopes whose last write the in-process cache remembers (see CountCache._forgotten_floor).
MAX_SCOPES = 10_000
# One user's favorites lists form a scope: their favorite writes forget only its keys.
FAVORITES_SCOPE = "favorites of "
_SCOPE = re.compile(re.escape(FAVORITES_SCOPE) + r"\S+")


def count_key(match: dict[str, Any]) -> str:
    """The filter's identity, with its instants (the moving `now` of visibility) left out."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(inner) for key, inner in sorted(value.items())}
        if isinstance(value, list):
            return [plain(inner) for inner in value]
        return "<instant>" if isinstance(value, datetime) else value

    return repr(plain(match))


def scope_of(key: str) -> str | None:
    """The scope a key belongs to (`favorites of <user id>`), or None."""
    found = _SCOPE.match(key)
    return found.group(0) if found else None


def cache_name(key: str) -> str:
    """Which cache a key belongs to, for the hit and miss metrics: analytics or counts."""
    return "analytics" if key.startswith("analytics:") else "counts"


def observed(key: str, found: Any) -> Any:
    """Count a look-up as a hit or a miss of its cache (metrics), and pass the answer on."""
    if found is None:
        metrics.cache_miss(cache_name(key))
    else:
        metrics.cache_hit(cache_name(key))
    return found


class CountCache:
    """Counts by filter key, each valid for COUNT_TTL_SECONDS, in this process's memory.

    An answer computed across a write that can change it is not kept (it may predate the
    write). Which writes those are follows the scopes, as in SharedCountCache: `clear` (an
    article write) refuses every answer computed across it, `forget` (one user's favorites)
    only the answers of that user's scope. So a favorite does not cost any other list its
    count, however steady the favorites are.
    """

    def __init__(self) -> None:
        self._counts: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        # A stamp is the tick current at `lookup`; every forget/clear moves the tick on and
        # notes, per scope (and globally), the tick of its last write.
        self._tick = 0
        self._cleared = 0
        self._forgotten: OrderedDict[str, int] = OrderedDict()  # oldest write first
        # The newest tick dropped from `_forgotten` (bounded by MAX_SCOPES): a scope not
        # listed may have been written up to then, so older stamps are refused for it.
        self._forgotten_floor = 0

    async def lookup(self, key: str) -> tuple[Any, Any]:
        """A count still fresh (or None), and the stamp to `put` a new one with."""
        found = self._counts.get(key)
        fresh = found is not None and found[0] >= time.monotonic()
        return observed(key, found[1] if fresh else None), self._tick  # type: ignore[index]

    def _written_since(self, key: str, since: int) -> bool:
        """Whether a write that can change `key`'s answer came after the stamp `since`."""
        if self._cleared > since:
            return True
        scope = scope_of(key)
        return scope is not None and self._forgotten.get(scope, self._forgotten_floor) > since

    async def put(self, key: str, total: Any, since: Any) -> None:
        """Remember a count just computed, unless a write to its scope came since `since`."""
        if since is None or self._written_since(key, since):
            return
        self._counts[key] = (time.monotonic() + COUNT_TTL_SECONDS, total)
        self._counts.move_to_end(key)
        while len(self._counts) > MAX_FILTERS:
            self._counts.popitem(last=False)

    async def forget(self, prefix: str) -> None:
        """Forget one scope's counts (`favorites of <id>`: that user's favorites changed)."""
        assert scope_of(prefix) == prefix, f"{prefix!r} is not a scope"
        self._tick += 1
        self._forgotten[prefix] = self._tick
        self._forgotten.move_to_end(prefix)
        while len(self._forgotten) > MAX_SCOPES:
            _, self._forgotten_floor = self._forgotten.popitem(last=False)
        for key in [key for key in self._counts if scope_of(key) == prefix]:
            del self._counts[key]

    async def clear(self) -> None:
        """Forget every count (an article was written)."""
        self._tick += 1
        self._cleared = self._tick
        self._counts.clear()


@dataclass(frozen=True)
class _Local:
    """A stamp of SharedCountCache's in-process fallback (a CountCache tick)."""

    tick: int


class SharedCountCache:
    """The same cache in Redis, shared by every process, invalidated by versioned keys.

    Redis holds a generation tag (`<prefix>gen`), one per scope (`<prefix>gen:favorites of
    <id>`), and each answer (`<prefix>count:<key>`, expiring after COUNT_TTL_SECONDS) stamped
    with the tags current when its computation began. A write replaces a tag with a fresh
    random one (`clear` the global tag, `forget` a scope's); a reader fetches the tags and the
    answer in one MGET and takes the answer only if its stamp still matches. So an answer
    computed across a write, by any process, is never used, with no message to miss and
    nothing to delete. Tags are random rather than counters so that a tag lost to a restart or
    an eviction can never come back to a value some live answer carries.


    While Redis cannot answer (its breaker open, see service/web/shared_store.py), this process keeps
    its answers in its own memory instead (a CountCache, which every write through this process
    clears whether Redis answers or not), so that a cache outage does not turn every request
    into a count on the database. Those answers are used only while the breaker is open.
    """

    def __init__(self, store: "SharedStore") -> None:
        self._store = store
        self._gen = f"{store.prefix}gen"
        self._local = CountCache()

    def _keys(self, key: str) -> tuple[str, str | None, str]:
        scope = scope_of(key)
        scope_gen = f"{self._gen}:{scope}" if scope else None
        return self._gen, scope_gen, f"{self._store.prefix}count:{key}"

    async def lookup(self, key: str) -> tuple[Any, Any]:
        """The shared answer if still current (else None), and the stamp to `put` with.

        With Redis unavailable, this process's own answer and stamp (see the class).
        """
        if not self._store.available():
            return await self._fallback(key)
        gen, scope_gen, entry = self._keys(key)
        names = [gen, entry] if scope_gen is None else [gen, scope_gen, entry]
        try:
            found = await self._store.client.mget(names)
        except self._store.errors as error:
            self._store.failed(error)
            return await self._fallback(key)
        stamp = [(tag or b"").decode() for tag in found[:-1]]
        if found[-1] is None:
            return observed(key, None), stamp
        try:
            kept = bson.decode(found[-1])
            current = kept["stamp"] == stamp
        except (BSONError, KeyError, TypeError):  # not an entry of ours: computed afresh
            return observed(key, None), stamp
        return observed(key, kept["value"] if current else None), stamp

    async def _fallback(self, key: str) -> tuple[Any, Any]:
        """The look-up while Redis cannot answer: in this process's memory."""
        found, since = await self._local.lookup(key)
        return found, _Local(since)

    async def put(self, key: str, total: Any, since: Any) -> None:
        """Share an answer, stamped with the tags read before computing it (or keep it in this
        process, when it was looked up there)."""
        if isinstance(since, _Local):
            await self._local.put(key, total, since.tick)
            return
        if since is None or not self._store.available():
            return
        try:
            encoded = bson.encode({"stamp": since, "value": total})
        except (BSONError, OverflowError, TypeError) as error:  # never for counts and tags
            log.warning("cannot share the answer of %s: %s", key, error)
            return
        try:
            await self._store.client.set(
                self._keys(key)[2], encoded, px=int(COUNT_TTL_SECONDS * 1000)
            )
        except self._store.errors as error:
            self._store.failed(error)

    async def forget(self, prefix: str) -> None:
        """A new tag for one scope (`favorites of <id>`): its answers stop matching."""
        assert scope_of(prefix) == prefix, f"{prefix!r} is not a scope"
        await self._local.forget(prefix)
        # The tag outlives every answer stamped with it, and never repeats after it expires.
        await self._retag(f"{self._gen}:{prefix}", px=int(COUNT_TTL_SECONDS * 6000))

    async def clear(self) -> None:
        """A new global tag: every kept answer, in every process, stops matching."""
        await self._local.clear()
        await self._retag(self._gen)

    async def _retag(self, name: str, px: int | None = None) -> None:
        # Skipped while the breaker is open: answers are kept in process then (cleared by the
        # caller), and what Redis kept before the outage expires within COUNT_TTL_SECONDS.
        if not self._store.available():
            return
        try:
            await self._store.client.set(name, secrets.token_hex(8), px=px)
        except self._store.errors as error:
            self._store.failed(error)


_caches: "weakref.WeakKeyDictionary[Engine, CountCache | SharedCountCache]" = (
    weakref.WeakKeyDictionary()
)


def counts() -> CountCache | SharedCountCache:
    """The count cache of the open engine: in memory, unless `share_counts` put one in Redis."""
    return _caches.setdefault(current_engine(), CountCache())


def share_counts(engine: Engine, store: "SharedStore") -> None:
    """Keep this engine's counts in Redis, shared with every process using it."""
    _caches[engine] = SharedCountCache(store)


async def kept(key: str, compute: Callable[[], Awaitable[T]]) -> T:
    """An answer kept COUNT_TTL_SECONDS under `key`, computed when missing.

    Article writes clear it at once; each caller gets its own copy, so that changing an answer
    cannot change the one kept.
    """
    cached, since = await counts().lookup(key)
    if cached is None:
        cached = await compute()
        await counts().put(key, cached, since)
    return copy.deepcopy(cached)
