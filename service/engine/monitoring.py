"""What the engine reports to the metrics: each command's time and outcome, and the pool's
connections.

On MongoDB the driver's listeners report them; on the embedded engine, which has no driver, the
collection methods are wrapped instead (only the outermost call counts).
"""

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pymongo import monitoring

from service.observability import metrics

T = TypeVar("T")


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
    """The embedded engine's collection (service/engine/embedded.py), each read measured."""

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
