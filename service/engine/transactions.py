"""Deadlines, transactions and their retries, and leases: how database work stays bounded in time.

`deadline` runs a request under one budget (`pymongo.timeout`); `atomically` runs a write as one
transaction where the server has them, retried with jittered backoff until that budget ends;
leases (`take_lease`) are held by the server's clock, never a host's.
"""

import asyncio
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pymongo
from beanie import Document
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from service.engine.client import (
    TRANSIENT_LABEL,
    UNKNOWN_COMMIT_LABEL,
    _first_line,
    collection,
    current_engine,
    supports_transactions,
)

log = logging.getLogger("folio.db")
T = TypeVar("T")

# When the current request's database work must be done (time.monotonic()), None outside one.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("folio_deadline",
                                                                         default=None)
# Outside a request (start-up, background work, the tools), the retries of one transaction
# stop after this long: well inside MongoDB's 60 s transactionLifetimeLimitSeconds.
RETRY_LIMIT_SECONDS = 10.0
BACKOFF_FIRST_SECONDS = 0.005  # about one write's time: a hot article's holder is done by then
BACKOFF_MAX_SECONDS = 0.5


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Run a block (one request) under one database deadline, `seconds` from now.

    `pymongo.timeout` sets it for every operation in the block, together: each command gets
    what is left as `maxTimeMS`, and one past it fails with a timeout error instead of
    starting. It is a context variable, so it follows the request's task across awaits, and
    Motor carries it into the thread that runs each operation. `atomically` stops retrying
    at it. None or 0: no deadline (each operation keeps the client's own `timeoutMS`).
    """
    if not seconds:
        yield
        return
    with pymongo.timeout(seconds):
        ends = time.monotonic() + seconds
        current = _deadline.get()
        token = _deadline.set(ends if current is None else min(current, ends))
        try:
            yield
        finally:
            _deadline.reset(token)


def seconds_left() -> float | None:
    """How long the current request's deadline leaves (at least 0), None outside a request."""
    ends = _deadline.get()
    return None if ends is None else max(0.0, ends - time.monotonic())


async def detached(work: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run `work(*args)` outside the request that started it: none of its deadline applies.
    Returns what the work returns.

    For work that goes on after the answer (a FastAPI background task runs in the request's
    own context), or that must not inherit a deadline already spent (a media upload's writes,
    after its body streamed in): it runs in a task of its own, from a fresh context, under each
    operation's own budget (the client's `timeoutMS`) unless it sets a `deadline` of its own.
    """
    task = asyncio.get_running_loop().create_task(work(*args), context=contextvars.Context())
    return await task


async def own_budget(seconds: float | None, work: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run `work(*args)` under a deadline of its own, `seconds` from now, whatever deadline the
    calling request has: for each step of a long-lived answer (a notification stream's polls),
    which must not share the budget of a request that lasts for hours.

    A fresh context drops the request's deadline (`pymongo.timeout` may only narrow it).
    """

    async def bounded() -> T:
        with deadline(seconds):
            return await work(*args)

    return await asyncio.get_running_loop().create_task(bounded(), context=contextvars.Context())


def backoff_seconds(attempt: int) -> float:
    """The pause before retry number `attempt` (0 first): exponential, with full jitter.

    Jitter spreads the retries of transactions that conflicted with each other, so they do
    not meet again on the same hot document at the same moment.
    """
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


async def _pause_or_give_up(attempt: int, stop_at: float, error: PyMongoError) -> None:
    """Sleep before retry number `attempt`, or raise `error` if that would pass `stop_at`."""
    pause = backoff_seconds(attempt)
    if time.monotonic() + pause >= stop_at:
        log.warning("transaction given up after %d attempts: %s", attempt + 1, _first_line(error))
        raise error
    await asyncio.sleep(pause)


def _commit_retryable(error: PyMongoError) -> bool:
    """Whether a failed commit may be sent again: its outcome is unknown, and time is left.

    The driver resends it with w: "majority", so a commit that did apply is not applied twice.
    A commit stopped by maxTimeMS (code 50) or the client's deadline is not retried.
    """
    return (error.has_error_label(UNKNOWN_COMMIT_LABEL) and not error.timeout
            and getattr(error, "code", None) != 50)


async def atomically(work: Callable[[Any | None], Awaitable[T]]) -> T:
    """Run `work(session)` as one transaction where the server has them, else `work(None)`.

    On a replica set either every write in `work` applies or none does. A transaction aborted
    by a TransientTransactionError (a write conflict with another transaction on the same
    document, a failover) runs again, and a commit whose outcome is unknown
    (UnknownTransactionCommitResult) is retried, after a jittered exponential pause, until the
    request's deadline (`deadline`; RETRY_LIMIT_SECONDS outside a request): then the last
    error is raised, and the API answers 503 with `Retry-After`. Motor's `with_transaction`
    instead retries with no pause for 120 s, whatever `timeoutMS` says. Elsewhere (a standalone
    server, the embedded engine) `work` runs as it is and must compensate itself.
    """
    engine = current_engine()
    if not await supports_transactions(engine):
        return await work(None)
    left = seconds_left()
    stop_at = time.monotonic() + (RETRY_LIMIT_SECONDS if left is None else left)
    attempt = 0
    async with await engine.client.start_session() as session:
        while True:
            session.start_transaction()
            try:
                result = await work(session)
                while True:
                    try:
                        await session.commit_transaction()
                        return result
                    except PyMongoError as error:
                        if not _commit_retryable(error):
                            raise
                        await _pause_or_give_up(attempt, stop_at, error)
                        attempt += 1
            except BaseException as error:
                if session.in_transaction:
                    await session.abort_transaction()  # best effort: the driver ignores errors
                if not (isinstance(error, PyMongoError) and error.has_error_label(TRANSIENT_LABEL)):
                    raise
                await _pause_or_give_up(attempt, stop_at, error)
                attempt += 1


def shared_by_processes() -> bool:
    """Whether other processes can write to this database: always on MongoDB; never on the
    embedded engine, whose data lives in this process's memory alone."""
    return not current_engine().embedded


def lease_update(
    match: dict[str, Any], field: str, seconds: float, held: datetime | None, *, embedded: bool
) -> tuple[dict[str, Any], Any]:
    """The filter and update that take a lease stored in `field` for `seconds`, by the
    server's clock: free when unset (null or absent), lapsed, or (with `held`) still ours.

    On MongoDB both sides read `$$NOW` (the same instant on every member, so hosts' clocks
    never decide who holds work): the filter in `$expr`, the new end in an update pipeline.
    The embedded engine evaluates `$$NOW` in neither (mongomock sets null from the pipeline
    and fails the `$expr`); it runs in this process, so this process's clock is its clock.
    """
    free: list[dict[str, Any]] = [{field: None}]
    if held is not None:
        free.append({field: held})
    if embedded:
        now = datetime.now(UTC)
        free.insert(1, {field: {"$lt": now}})
        return {**match, "$or": free}, {"$set": {field: now + timedelta(seconds=seconds)}}
    free.insert(1, {"$expr": {"$lt": [f"${field}", "$$NOW"]}})
    ends = {"$add": ["$$NOW", int(seconds * 1000)]}
    return {**match, "$or": free}, [{"$set": {field: ends}}]


async def take_lease(
    model: type[Document],
    match: dict[str, Any],
    field: str,
    seconds: float,
    held: datetime | None = None,
    projection: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Take (or renew `held`) the lease in `field` of the document `match` finds, by the
    server's clock (see lease_update); the document after, or None if it is held elsewhere
    (or gone). The new end is `document[field]`; the server's time is `seconds` before it."""
    condition, update = lease_update(
        match, field, seconds, held, embedded=current_engine().embedded
    )
    return await collection(model).find_one_and_update(
        condition,
        update,
        projection={**(projection or {}), field: 1},
        return_document=ReturnDocument.AFTER,
    )
