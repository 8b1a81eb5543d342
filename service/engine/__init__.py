"""The engine adapter: the only room that knows which engine runs (MongoDB through Motor, or the
embedded mongomock engine). The rest of service/, and scripts/, import this package, never its
modules; only the tests (to patch them) and tools/profile_request.py (which profiles the embedded
engine itself) reach into the modules.

- client.py: the engine (`Engine`, `open_engine`, `current_engine`), `collection(Model)`,
  text search, collection validators, and what tells an outage apart.
- transactions.py: request deadlines, `atomically` (transactions and their retries), leases.
- monitoring.py: command and pool metrics, on both engines.
- indexes.py: the declared indexes against the live ones (drift, renames).
- bucket.py: the GridFS bucket `media` (the driver's GridFS on MongoDB, the same layout written
  directly on the embedded engine), and its declared indexes.
- embedded.py, planner.py: the embedded engine; imported only when it runs, never here.
"""

from service.engine.bucket import (
    MediaBucket,
    StoredFile,
    bucket_index_information,
    bucket_indexes,
    create_bucket_indexes,
    media_bucket,
)
from service.engine.client import (
    EMBEDDED_WARNING,
    Engine,
    EngineUnavailable,
    apply_validator,
    build_client,
    check_reachable,
    collection,
    create_collection,
    create_indexes,
    current_engine,
    database_outage,
    open_engine,
    ping,
    supports_transactions,
    text_search_stages,
    unrecorded_index_options,
    upsert_each,
)
from service.engine.indexes import (
    changed_indexes,
    declared_indexes,
    drift_report,
    index_drift,
    renamed_indexes,
)
from service.engine.transactions import (
    atomically,
    deadline,
    detached,
    lease_update,
    own_budget,
    seconds_left,
    shared_by_processes,
    take_lease,
)

__all__ = [
    "apply_validator",
    "atomically",
    "bucket_index_information",
    "bucket_indexes",
    "create_bucket_indexes",
    "build_client",
    "changed_indexes",
    "check_reachable",
    "collection",
    "create_collection",
    "create_indexes",
    "current_engine",
    "database_outage",
    "deadline",
    "declared_indexes",
    "detached",
    "drift_report",
    "EMBEDDED_WARNING",
    "Engine",
    "EngineUnavailable",
    "index_drift",
    "lease_update",
    "media_bucket",
    "MediaBucket",
    "open_engine",
    "own_budget",
    "ping",
    "renamed_indexes",
    "seconds_left",
    "shared_by_processes",
    "StoredFile",
    "supports_transactions",
    "take_lease",
    "text_search_stages",
    "unrecorded_index_options",
    "upsert_each",
]
