"""The engine's client: the only module that builds a database client or knows which engine runs.

Folio runs on a real MongoDB (through Motor) or, with no configuration, on the in-process
mongomock-motor engine. Everything that must differ between the two lives in service/engine/;
transactions and deadlines are in transactions.py, the command metrics in monitoring.py.
"""

import logging
import re
import sys
from dataclasses import dataclass
from typing import Any

import pymongo
from beanie import Document, init_beanie
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import UpdateOne
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from models import DOCUMENT_MODELS
from models.articles import SEARCH_WEIGHTS, use_text_index
from models.events import use_retention
from service.config import Settings
from service.engine.monitoring import (
    CommandMetrics,
    PoolMetrics,
    _measure_embedded,
    _MeasuredEmbeddedCollection,
)

log = logging.getLogger("folio.db")


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
    use_retention(settings.event_retention_days)
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
        from service.engine.bucket import create_bucket_indexes

        await create_bucket_indexes(_current)
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
