"""Records the database operations a request issues, on either engine.

On the embedded engine it wraps mongomock's collection methods and the adapter's planner
(`service/engine/embedded.py`); only the outermost call counts, since both call mongomock internally. On a real MongoDB it listens to
pymongo's command monitoring. Either way one entry is one round trip to the database.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mongomock.collection import Collection as MockCollection
from pymongo import monitoring

from service.engine.embedded import EmbeddedCollection

MOCK_OPERATIONS = (
    "find", "find_one", "aggregate", "count_documents", "estimated_document_count", "distinct",
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "find_one_and_update", "find_one_and_delete", "find_one_and_replace",
    "bulk_write",
)  # fmt: skip
EMBEDDED_OPERATIONS = ("find", "aggregate")
IGNORED_COMMANDS = {"getMore", "killCursors", "endSessions", "hello", "isMaster", "ping"}


@dataclass
class Operation:
    """One round trip: the collection, the operation, and its filter or pipeline if any."""

    collection: str
    name: str
    filter: dict[str, Any] | None = None
    pipeline: list[dict[str, Any]] | None = None
    key: str | None = None  # for distinct


@dataclass
class OperationLog:
    """The operations recorded while the log was active."""

    details: list[Operation] = field(default_factory=list)

    @property
    def operations(self) -> list[tuple[str, str]]:
        """(collection, operation) pairs, in order."""
        return [(op.collection, op.name) for op in self.details]

    def __len__(self) -> int:
        return len(self.details)


_active: list[OperationLog] = []
_depth = 0


def _record(collection: str, operation: str, args: tuple = (), kwargs: dict | None = None) -> None:
    kwargs = kwargs or {}
    op = Operation(collection, operation)
    if operation == "aggregate":
        op.pipeline = list(args[0]) if args else kwargs.get("pipeline")
    elif operation == "distinct":
        op.key = args[0] if args else kwargs.get("key")
        op.filter = (args[1] if len(args) > 1 else kwargs.get("filter")) or {}
    elif operation not in ("insert_one", "insert_many", "estimated_document_count", "bulk_write"):
        op.filter = (args[0] if args else kwargs.get("filter")) or {}
    for log in _active:
        log.details.append(op)


def _wrap(method_name: str, owner: type = MockCollection) -> None:
    original = getattr(owner, method_name)

    @functools.wraps(original)
    def recording(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        global _depth
        if _depth == 0:
            _record(self.name, method_name, args, kwargs)
        _depth += 1
        try:
            return original(self, *args, **kwargs)
        finally:
            _depth -= 1

    setattr(owner, method_name, recording)


COUNT_STAGE = {"$group": {"_id": 1, "n": {"$sum": 1}}}  # how PyMongo's count_documents counts


def _from_command(name: str, command: dict[str, Any]) -> Operation:
    """The operation a driver command carries, with its filter or pipeline, as recorded above."""
    op = Operation(str(command.get(name)), name)
    if name == "aggregate":
        op.pipeline = list(command.get("pipeline", []))
        if COUNT_STAGE in op.pipeline:
            op.name = "count_documents"
    elif name == "find":
        op.filter = command.get("filter") or {}
    elif name == "distinct":
        op.key, op.filter = command.get("key"), command.get("query") or {}
    elif name == "count" and "query" not in command:
        # PyMongo's estimated_document_count: a count of the collection's metadata, no filter.
        op.name = "estimated_document_count"
    elif name in ("findAndModify", "count"):
        op.filter = command.get("query") or {}
    elif name in ("update", "delete"):
        statements = command.get("updates" if name == "update" else "deletes") or [{}]
        op.filter = statements[0].get("q") or {}
    return op


class _CommandRecorder(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in IGNORED_COMMANDS:
            operation = _from_command(event.command_name, dict(event.command))
            for log in _active:
                log.details.append(operation)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def install() -> None:
    """Hook both engines once per test session."""
    for name in MOCK_OPERATIONS:
        _wrap(name)
    for name in EMBEDDED_OPERATIONS:  # the adapter's planner, which reads the store directly
        _wrap(name, EmbeddedCollection)
    monitoring.register(_CommandRecorder())


@contextmanager
def recording() -> Iterator[OperationLog]:
    """Collect the database operations issued inside the block."""
    log = OperationLog()
    _active.append(log)
    try:
        yield log
    finally:
        _active.remove(log)
