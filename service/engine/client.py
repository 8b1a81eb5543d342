"""The engine adapter: the only module that builds a database client or knows which engine runs.

Folio runs on a real MongoDB (through Motor) or, with no configuration, on the in-process
mongomock-motor engine. Everything that must differ between the two lives here.
"""

import asyncio
import contextlib
import contextvars
import functools
import logging
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pymongo
from beanie import Document, init_beanie
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ReturnDocument, UpdateOne, monitoring
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from models import DOCUMENT_MODELS
from models.articles import SEARCH_WEIGHTS, use_text_index
from service.config import Settings
from service.observability import metrics

# mongomock and mongomock-motor (and service/engine/embedded.py, built on them) are imported only on
# the embedded path, inside the functions below: a MongoDB deployment never loads them, so a
# release of theirs that breaks on import cannot take it down (tests/test_reliability.py).

log = logging.getLogger("folio.db")
T = TypeVar("T")

SEARCHED_FIELDS = tuple(SEARCH_WEIGHTS)


TRANSIENT_LABEL = "TransientTransactionError"
UNKNOWN_COMMIT_LABEL = "UnknownTransactionCommitResult"


def database_outage(error: PyMongoError) -> str | None:
    """How an API answer should read a driver error: "unavailable", "busy", "timeout", or None.

    No server reachable (selection timeout, network error, lost primary) is "unavailable": 503.
    Contention is "busy", also 503 with `Retry-After`: every connection of the pool stayed
    checked out (WaitQueueTimeoutError, which PyMongo counts as a timeout, but the server was
    never asked), or a transaction kept meeting write conflicts (TransientTransactionError)
    until the retries of `atomically` ran out. An operation that used up its time budget (the
    server stopped it on `maxTimeMS`, or the client gave up waiting) is "timeout": 504. PyMongo
    marks timeouts with `error.timeout`; a selection timeout is one too, but means no server.
    None is a bug: 500.
    """
    if isinstance(error, ServerSelectionTimeoutError):
        return "unavailable"
    if isinstance(error, WaitQueueTimeoutError) or error.has_error_label(TRANSIENT_LABEL):
        return "busy"
    if error.timeout:
        return "timeout"
    if isinstance(error, ConnectionFailure):
        return "unavailable"
    return None


EMBEDDED_WARNING = (
    "Folio is running on the EMBEDDED in-memory engine: all data is lost when the process stops. "
    "Set FOLIO_MONGODB_URL (and FOLIO_JWT_SECRET) to use MongoDB for persistence."
)


@dataclass(eq=False)  # compared and hashed by identity: per-engine caches key on it
class Engine:
    """An open database: the client, the database handle and which engine serves it."""

    client: Any
    database: AsyncIOMotorDatabase
    embedded: bool
    transactions: bool | None = None  # learnt on first use (supports_transactions)

    def close(self) -> None:
        """Release the client's connections."""
        self.client.close()


class EngineUnavailable(Exception):
    """The configured MongoDB cannot be used: the URL is unusable or no server answers it."""


def _first_line(error: Exception) -> str:
    """The driver's own words, without the topology dump a selection timeout appends."""
    return str(error).split(", Timeout:")[0].split(" (configured timeouts")[0].split("\n")[0]


# --- metrics: database operations and the connection pool ---------------------------------
# On MongoDB they come from PyMongo's command monitoring and pool events, through listeners
# given to each client; on the embedded engine from the adapter, around each collection
# operation. Both report a command by its MongoDB name (`find`, `update`, `findAndModify`, ...).

# Connection set-up and authentication are not operations Folio asked for.
UNCOUNTED_COMMANDS = frozenset({"hello", "isMaster", "ismaster", "saslStart", "saslContinue",
                                "authenticate", "getnonce"})
NO_COLLECTION = "-"  # the collection label of a database-wide command (ping, hello)


class CommandMetrics(monitoring.CommandListener):
    """Times every command a client sends, by collection and command (one per round trip)."""

    def __init__(self) -> None:
        self._collections: dict[tuple[Any, int], str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Remember which collection the command names until it finishes."""
        name = event.command_name
        if name in UNCOUNTED_COMMANDS:
            return
        target = event.command.get("collection" if name == "getMore" else name)
        collection = target if isinstance(target, str) else NO_COLLECTION
        self._collections[(event.connection_id, event.request_id)] = collection

    def _finished(self, event: Any, ok: bool) -> None:
        collection = self._collections.pop((event.connection_id, event.request_id), None)
        if collection is not None:
            metrics.db_operation(collection, event.command_name, event.duration_micros / 1e6, ok)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Count it, with the driver's own measure of its duration."""
        self._finished(event, True)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Count it as failed."""
        self._finished(event, False)


class PoolMetrics(monitoring.ConnectionPoolListener):
    """Follows the driver's pools: connections open, and connections checked out."""

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        """A connection opened."""
        metrics.pool_connection_opened()

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        """A connection closed."""
        metrics.pool_connection_closed()

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        """An operation took a connection."""
        metrics.pool_checked_out()

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        """An operation gave its connection back."""
        metrics.pool_checked_in()

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        """Nothing to count."""

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        """Nothing to count."""

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        """Nothing to count: each connection it drops reports its own close."""

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        """Nothing to count: each connection reports its own close."""

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        """Nothing to count (counted when created)."""

    def connection_check_out_started(self, event: monitoring.ConnectionCheckOutStartedEvent) -> None:
        """Nothing to count."""

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        """Nothing to count."""


# The embedded engine's operations, by mongomock-motor's method name, and the MongoDB command
# each one is (what the driver would send).
EMBEDDED_COMMANDS = {
    "find": "find", "find_one": "find", "aggregate": "aggregate",
    "count_documents": "aggregate", "estimated_document_count": "count", "distinct": "distinct",
    "insert_one": "insert", "insert_many": "insert", "update_one": "update",
    "update_many": "update", "replace_one": "update", "delete_one": "delete",
    "delete_many": "delete", "find_one_and_update": "findAndModify",
    "find_one_and_delete": "findAndModify", "find_one_and_replace": "findAndModify",
    "bulk_write": "bulkWrite",
}  # fmt: skip
_embedded_depth = 0  # mongomock calls itself (find_one runs find): only the outermost counts


def _call_measured(collection: str, command: str, operation: Callable[..., T], *args: Any,
                   **kwargs: Any) -> T:
    """Call `operation`, counted and timed as one embedded-engine round trip."""
    global _embedded_depth
    if _embedded_depth:
        return operation(*args, **kwargs)
    _embedded_depth += 1
    started, ok = time.perf_counter(), False
    try:
        result = operation(*args, **kwargs)
        ok = True
        return result
    finally:
        _embedded_depth -= 1
        metrics.db_operation(collection, command, time.perf_counter() - started, ok)


def _measured(raw: Any, method: str, command: str) -> Callable[..., Any]:
    """The mongomock collection's `method`, counted and timed on every call.

    The method is looked up on the class at each call, so that whatever replaces it there
    later (a test simulating an outage) still runs.
    """
    kind, collection = type(raw), raw.name

    @functools.wraps(getattr(kind, method))
    def measured(*args: Any, **kwargs: Any) -> Any:
        return _call_measured(collection, command, getattr(kind, method), raw, *args, **kwargs)

    return measured


def _measure_embedded(motor_collection: Any) -> None:
    """Count and time each operation of one embedded collection (its mongomock instance).

    A `find` is timed as the call that builds its cursor: mongomock reads when it is iterated.
    """
    from service.engine.embedded import mongomock_collection

    raw = mongomock_collection(motor_collection)
    if raw is None or hasattr(raw, "_folio_measured"):
        return
    raw._folio_measured = True
    for method, command in EMBEDDED_COMMANDS.items():
        setattr(raw, method, _measured(raw, method, command))


class _MeasuredEmbeddedCollection:
    """The adapter's planner (service/engine/embedded.py's EmbeddedCollection), each read measured."""

    def __init__(self, planned: Any) -> None:
        self._planned = planned
        self._name = planned._raw.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._planned, name)

    def aggregate(self, pipeline: list[dict[str, Any]], **options: Any) -> Any:
        """As EmbeddedCollection.aggregate, counted as one `aggregate`."""
        return _call_measured(self._name, "aggregate", self._planned.aggregate, pipeline,
                              **options)

    def find(self, filter: dict[str, Any] | None = None, projection: Any = None,
             **options: Any) -> Any:
        """As EmbeddedCollection.find, counted as one `find`."""
        return _call_measured(self._name, "find", self._planned.find, filter, projection,
                              **options)


def build_client(settings: Settings, **client_options: Any) -> Any:
    """Build the Motor client for a real MongoDB, or the embedded engine when no URL is set.

    A MongoDB client reports its commands and its pool to the metrics (service/observability/metrics.py).
    """
    if settings.embedded:
        from mongomock_motor import AsyncMongoMockClient

        return AsyncMongoMockClient()
    options: dict[str, Any] = {
        "appname": "folio",
        "uuidRepresentation": "standard",
        "serverSelectionTimeoutMS": settings.server_selection_timeout_ms,
        "connectTimeoutMS": settings.server_selection_timeout_ms,
        "event_listeners": [CommandMetrics(), PoolMetrics(),
                            *client_options.pop("event_listeners", [])],
    }
    if settings.operation_timeout_ms:
        # A whole-operation budget (client-side operation timeout): each command carries
        # maxTimeMS, so a slow query stops on the server too instead of running on after the
        # client gave up. It replaces socketTimeoutMS. The tools run without one (0).
        options["timeoutMS"] = settings.operation_timeout_ms
    try:
        return AsyncIOMotorClient(settings.mongodb_url, **{**options, **client_options})
    except (ConfigurationError, ValueError, TypeError) as error:  # a +srv URL's DNS, options
        raise EngineUnavailable(f"FOLIO_MONGODB_URL is not usable: {_first_line(error)}") from None


def _unreachable(settings: Settings, error: Exception) -> EngineUnavailable:
    seconds = settings.server_selection_timeout_ms / 1000
    return EngineUnavailable(f"cannot reach MongoDB within {seconds:g} s: {_first_line(error)}")


async def _ping(client: Any, settings: Settings) -> None:
    """Reach the server within FOLIO_SERVER_SELECTION_TIMEOUT_MS; EngineUnavailable if not.

    With timeoutMS set, PyMongo waits for a server for as long as the operation's budget
    allows and no longer applies serverSelectionTimeoutMS; this budget makes start-up and the
    tools' checks fail as fast as that setting says.
    """
    try:
        with pymongo.timeout(settings.server_selection_timeout_ms / 1000):
            await client.admin.command("ping")
    except PyMongoError as error:
        if database_outage(error) is None:
            raise
        raise _unreachable(settings, error) from None


async def check_reachable(settings: Settings) -> None:
    """Ping the configured MongoDB once; EngineUnavailable if it cannot be used."""
    if settings.embedded:
        return
    client = build_client(settings)
    try:
        await _ping(client, settings)
    finally:
        client.close()


# The engine that `open_engine` connected last: Beanie binds models process-wide the same way.
_current: Engine | None = None


async def create_indexes(model: type[Document], engine: "Engine | None" = None) -> int:
    """Create a model's declared indexes (a no-op for those that exist); how many it declares.

    On the embedded engine each goes through `create_index` with its options: mongomock's
    `create_indexes` drops `partialFilterExpression`, which would make a partial unique index
    (one open report per user and target) unique over every document.
    """
    indexes = getattr(model.Settings, "indexes", [])
    motor_collection = model.get_motor_collection()
    if not (engine or current_engine()).embedded:
        if indexes:
            await motor_collection.create_indexes(indexes)
        return len(indexes)
    for index in indexes:
        options = dict(index.document)
        await motor_collection.create_index(list(options.pop("key").items()), **options)
    return len(indexes)


async def open_engine(settings: Settings, **client_options: Any) -> Engine:
    """Connect and bind every Beanie model; on the embedded engine, create the indexes too.

    On MongoDB the API never builds indexes: a build on a large collection would hold start-up
    (and every process would crash-loop), and a changed index would fail every process with
    IndexOptionsConflict. `folio db sync` owns them; start-up only reports drift.
    EngineUnavailable when the URL is unusable or no server answers it in time.
    """
    global _current
    use_text_index(settings.search_scope)
    client = build_client(settings, **client_options)
    database = client[settings.database]
    try:
        if not settings.embedded:
            await _ping(client, settings)
        # Beanie never builds indexes: `folio db sync` does on MongoDB, create_indexes here.
        await init_beanie(database=database, document_models=DOCUMENT_MODELS, skip_indexes=True)
    except EngineUnavailable:
        client.close()
        raise
    _current = Engine(client=client, database=database, embedded=settings.embedded)
    if settings.embedded:
        from service.engine.embedded import install as install_planner

        for model in DOCUMENT_MODELS:
            await create_indexes(model, _current)
            install_planner(model.get_motor_collection())
            _measure_embedded(model.get_motor_collection())
        log.warning(EMBEDDED_WARNING)
    else:
        log.info("Folio is using MongoDB database %r", settings.database)
    return _current


# Index options the embedded engine accepts and does not keep (mongomock's index_information
# leaves them out): drift in them can be seen only on a server that records them.
EMBEDDED_UNRECORDED_INDEX_OPTIONS = frozenset(
    {"collation", "weights", "default_language", "language_override"}
)


def unrecorded_index_options() -> frozenset[str]:
    """Index options the open engine does not report back, so drift checks cannot see them."""
    return EMBEDDED_UNRECORDED_INDEX_OPTIONS if current_engine().embedded else frozenset()


def current_engine() -> Engine:
    """The open engine; raises if none was opened."""
    if _current is None:
        raise RuntimeError("no database engine is open")
    return _current


def text_search_stages(
    query: str, conditions: dict[str, Any], *, embedded: bool | None = None
) -> list[dict[str, Any]]:
    """Match articles for a search and order them by relevance, as well as this engine can.

    MongoDB uses the weighted `text_search` index and orders by text score. The embedded engine
    cannot run `$text`, so it matches the escaped text case-insensitively in title, description
    and body, newest first.
    """
    if embedded is None:
        embedded = current_engine().embedded
    if not embedded:
        return [
            {"$match": {"$text": {"$search": query}, **conditions}},
            {"$sort": {"score": {"$meta": "textScore"}, "published_at": -1, "_id": -1}},
        ]
    pattern = {"$regex": re.escape(query), "$options": "i"}
    return [
        {"$match": {"$or": [{field: pattern} for field in SEARCHED_FIELDS], **conditions}},
        {"$sort": {"published_at": -1, "_id": -1}},
    ]


async def ping(engine: Engine) -> None:
    """Reach the server once; raises ConnectionFailure when it cannot be reached."""
    if not engine.embedded:
        await engine.client.admin.command("ping")


def collection(model: type[Document]) -> AsyncIOMotorCollection:
    """The raw collection behind a model, for pipelines and atomic updates.

    On the embedded engine its `aggregate` and `find` first run the leading stages as one
    query that reads only the page, as MongoDB's planner does (see service/engine/embedded.py).
    """
    raw = model.get_motor_collection()
    mock = sys.modules.get("mongomock_motor")  # never loaded on MongoDB: nothing to check
    if mock is not None and isinstance(raw, mock.AsyncMongoMockCollection):
        from service.engine.embedded import EmbeddedCollection, mongomock_collection

        if mongomock_collection(raw) is not None:
            return _MeasuredEmbeddedCollection(EmbeddedCollection(raw))  # type: ignore[return-value]
    return raw


async def supports_transactions(engine: Engine) -> bool:
    """Whether multi-document transactions are available: a replica set or sharded MongoDB.

    Asked once per engine (a `hello`), then remembered.
    """
    if engine.embedded:
        return False
    if engine.transactions is None:
        hello = await engine.client.admin.command("hello")
        engine.transactions = "setName" in hello or hello.get("msg") == "isdbgrid"
    return engine.transactions


# --- one deadline per request, and transactions retried within it --------------------------

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


async def detached(work: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run `work(*args)` outside the request that started it: none of its deadline applies.

    For work that goes on after the answer (a FastAPI background task runs in the request's
    own context): it runs in a task of its own, from a fresh context, under each operation's
    own budget (the client's `timeoutMS`).
    """
    task = asyncio.get_running_loop().create_task(work(*args), context=contextvars.Context())
    await task


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


async def upsert_each(
    target: Any, changes: list[tuple[dict[str, Any], dict[str, Any]]], session: Any = None
) -> None:
    """Apply `(filter, update)` upserts in order, in the caller's transaction if any.

    One `bulkWrite` round trip on MongoDB. The embedded engine runs one update each: its
    `bulk_write` cannot take the UpdateOne of PyMongo 4.9+ (which carries a `sort`).
    """
    if not changes:
        return
    if not current_engine().embedded:
        requests = [UpdateOne(filter_, update, upsert=True) for filter_, update in changes]
        await target.bulk_write(requests, ordered=True, session=session)
        return
    for filter_, update in changes:
        await target.update_one(filter_, update, upsert=True, session=session)


async def create_collection(engine: Engine, name: str, validator: dict[str, Any]) -> bool:
    """Create a collection with its validator (`create`, so no `collMod` is needed); False
    where the engine has no validators (it is created plain)."""
    if engine.embedded:
        await engine.database.create_collection(name)
        return False
    await engine.database.create_collection(
        name, validator=validator, validationLevel="moderate"
    )
    return True


async def apply_validator(engine: Engine, name: str, validator: dict[str, Any]) -> bool:
    """Apply a `$jsonSchema` validator with validationLevel moderate; False where unsupported.

    Moderate: inserts and updates of valid documents are checked, while documents already
    invalid (an older schema version) can still be updated, so rolling deploys keep working.
    """
    if engine.embedded:
        return False
    await engine.database.command(
        {"collMod": name, "validator": validator, "validationLevel": "moderate"}
    )
    return True
