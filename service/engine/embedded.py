"""The embedded engine: runs the planner's plans on mongomock, the one place that touches it.

Only `service/engine/client.py` uses this module, and only on the embedded engine. mongomock
answers `aggregate` by deep-copying every document of the collection and running each stage in
Python, and a `find` by copying every match before it sorts and slices. MongoDB instead reads
only the page. This module does the same on the embedded engine, so that its cost follows the
page rather than the collection, while the query shapes stay the ones MongoDB wants:

- `split_pipeline` (planner.py, pure) takes the leading stages a query can run;
- `run_query` runs them on a mongomock collection, sorting and slicing the stored documents
  before copying only the ones returned (the one place that touches mongomock's internals);
- `EmbeddedCollection` wraps a mongomock-motor collection: `aggregate` and `find` go through
  the two above, every other method goes to the wrapped collection unchanged.

The results are those of the plain path, document for document: `tests/test_embedded.py`
checks that with random pipelines from Folio's own builders on random data.
"""

import heapq
import itertools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from mongomock import aggregate as mongomock_aggregate
from mongomock import filtering, helpers

from service.engine.planner import (
    PUSHABLE_OPTIONS,
    UNSURE,
    Query,
    Sort,
    _kind,
    _Position,
    _single_id,
    compile_filter,
    split_pipeline,
)

T = TypeVar("T")


def _plain(raw: Any) -> Callable[[dict[str, Any]], Iterator[dict[str, Any]]]:
    """mongomock's own matcher of this collection (from before `install`)."""
    return getattr(raw, "_folio_plain_iter_documents", raw._iter_documents)


def _candidates(raw: Any, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The stored documents matching a filter, in stored order, by `_id` when it names one."""
    wanted = _single_id(spec)
    if wanted is not None:
        # The store is a dict keyed by `_id` (for non-document ids): mongomock's own index.
        found = _read(raw._store, lambda documents: documents.get(wanted))
        return (document for document in ([found] if found is not None else [])
                if filtering.filter_applies(spec, document))
    test = compile_filter(spec)
    if test is None or raw._store.is_empty:
        return _plain(raw)(spec)  # mongomock's matcher (it also validates the filter)
    return (
        document for document in _snapshot(raw._store)
        if (answer := test(document)) is True
        or (answer is UNSURE and filtering.filter_applies(spec, document))
    )


def _read(store: Any, read: Callable[[dict[Any, dict[str, Any]]], T]) -> T:
    """`read` of the store's documents by `_id`, in one step under its lock, as mongomock reads."""
    store._remove_expired_documents()  # TTL indexes, as every read of mongomock's does
    with store._rwlock.reader():
        return read(store._documents)


def _snapshot(store: Any) -> list[dict[str, Any]]:
    """The stored documents, in stored order, as `store.documents` yields them."""
    return _read(store, lambda documents: list(documents.values()))


def install(motor_collection: Any) -> None:
    """Make every operation of a mongomock-motor collection match through `_candidates`.

    mongomock's writes, counts and unique-index checks all find their documents through
    `_iter_documents`; with this, a favorite's duplicate check or an update by `_id` no longer
    runs the generic matcher on every stored document.
    """
    raw = mongomock_collection(motor_collection)
    if raw is None or hasattr(raw, "_folio_plain_iter_documents"):
        return
    raw._folio_plain_iter_documents = raw._iter_documents
    raw._iter_documents = lambda spec: _candidates(raw, spec)


def _native_keys(documents: list[dict[str, Any]], keys: list[str]) -> bool:
    """Whether every document holds each sort key as a value of one native type per key."""
    for key in keys:
        if "." in key:
            return False
        kinds = {_kind(document.get(key)) for document in documents}
        if len(kinds) != 1 or None in kinds:
            return False
    return True


def _ordered(documents: Any, sort: Sort, stop: int | None) -> Any:
    """The documents in this order (only the first `stop` when set), stable as mongomock's.

    Plain tuples when every key holds one native type and all directions agree; otherwise
    BSON comparison through mongomock's sort keys, one direction per key.
    """
    keys = [key for key, _ in sort]
    directions = [direction for _, direction in sort]
    documents = list(documents)
    if _native_keys(documents, keys) and len(set(directions)) == 1:
        descending = directions[0] < 0

        def values(document: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(document[key] for key in keys)

        if stop is None:
            return sorted(documents, key=values, reverse=descending)
        pick = heapq.nlargest if descending else heapq.nsmallest
        return pick(stop, documents, key=values)

    def position(document: dict[str, Any]) -> _Position:
        return _Position([filtering.resolve_sort_key(k, document) for k in keys], directions)

    if stop is None:
        return sorted(documents, key=position)
    return heapq.nsmallest(stop, documents, key=position)


def _stored(raw: Any, query: Query) -> Iterator[dict[str, Any]]:
    """The stored documents the query returns, in order, not yet copied.

    One stable sort on all keys (or a heap of the first skip + limit) gives the order that
    mongomock's successive stable sorts give, at a fraction of the comparisons.
    """
    spec = helpers.patch_datetime_awareness_in_document(query.filter)
    documents: Any = _candidates(raw, spec)
    stop = query.skip + query.limit if query.limit else None
    if query.sort:
        documents = _ordered(documents, query.sort, stop)
    return itertools.islice(documents, query.skip, stop)


def run_query(raw: Any, query: Query) -> list[dict[str, Any]]:
    """Run a query on a mongomock collection, copying only the documents it returns."""
    found = [raw._copy_only_fields(  # a fresh projection each time: mongomock pops `_id` from it
                 document, None if query.projection is None else dict(query.projection), dict)
             for document in _stored(raw, query)]
    if raw.codec_options.tz_aware:
        found = [helpers.make_datetime_timezone_aware_in_document(document) for document in found]
    return found


def _joins_by_id(stage: dict[str, Any]) -> bool:
    """A `$lookup` on the joined collection's `_id` by `localField` (served by `_id`), maybe
    with a sub-pipeline run on each joined document (MongoDB 5.0's concise correlated form,
    which mongomock cannot run: the adapter runs it)."""
    options = stage.get("$lookup")
    return (
        isinstance(options, dict)
        and options.get("foreignField") == "_id"
        and set(options) - {"pipeline"} == {"from", "localField", "foreignField", "as"}
        and isinstance(options.get("pipeline", []), list)
        and "." not in options["as"]
    )


def _local_condition(document: dict[str, Any], local_field: str) -> Any:
    """What `$lookup` matches the foreign field against: the local value, or any of an array's."""
    try:
        value = helpers.get_value_by_dot(document, local_field)
    except KeyError:
        value = None
    return {"$in": value} if isinstance(value, list) else value


def _lookup_by_id(database: Any, options: dict[str, Any], documents: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """`$lookup` by `_id`: each document's joined array, read through the `_id` fast path."""
    foreign = database.get_collection(options["from"])
    for document in documents:
        condition = _local_condition(document, options["localField"])
        joined = run_query(foreign, Query({"_id": condition}))
        if options.get("pipeline") and joined:
            joined = list(mongomock_aggregate.process_pipeline(
                joined, database, options["pipeline"], None))
        document[options["as"]] = joined
    return documents


def _joins_correlated(stage: dict[str, Any]) -> bool:
    """A `$lookup` in the concise correlated form (MongoDB 5.0+) on a field other than `_id`:
    an equality on `foreignField` plus a sub-pipeline, which mongomock cannot run."""
    options = stage.get("$lookup")
    return (
        isinstance(options, dict)
        and set(options) == {"from", "localField", "foreignField", "pipeline", "as"}
        and options["foreignField"] != "_id"
        and isinstance(options["pipeline"], list)
        and "." not in options["as"]
    )


def _lookup_correlated(database: Any, options: dict[str, Any], documents: list[dict[str, Any]]
                       ) -> list[dict[str, Any]] | None:
    """The concise correlated `$lookup`: the candidates of every document read in one query
    (`foreignField` `$in` the local values, and the sub-pipeline's leading `$match`), grouped
    by value, then the whole sub-pipeline run on each document's group, as MongoDB runs it per
    document. None (run it per document) when a local value is not a plain scalar."""
    local, field, pipeline = options["localField"], options["foreignField"], options["pipeline"]
    values = []
    for document in documents:
        try:
            value = helpers.get_value_by_dot(document, local)
        except KeyError:
            value = None
        if isinstance(value, (list, dict)):
            return None
        values.append(value)
    condition: dict[str, Any] = {field: {"$in": list(dict.fromkeys(values))}}
    if pipeline and isinstance(pipeline[0].get("$match"), dict) and field not in pipeline[0]["$match"]:
        condition = {"$and": [condition, pipeline[0]["$match"]]}
    groups: dict[Any, list[dict[str, Any]]] = {}
    for found in run_query(database.get_collection(options["from"]), Query(condition)):
        keys = found.get(field)
        for key in keys if isinstance(keys, list) else [keys]:
            groups.setdefault(key, []).append(found)
    for document, value in zip(documents, values, strict=True):
        joined = [dict(found) for found in groups.get(value, [])]
        document[options["as"]] = list(mongomock_aggregate.process_pipeline(
            joined, database, pipeline, None)) if joined else []
    return documents


def _lookup_each(database: Any, options: dict[str, Any], documents: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """The concise correlated `$lookup`, one query per document (any local value)."""
    foreign = database.get_collection(options["from"])
    for document in documents:
        condition = _local_condition(document, options["localField"])
        joined = run_query(foreign, Query({options["foreignField"]: condition}))
        document[options["as"]] = list(mongomock_aggregate.process_pipeline(
            joined, database, options["pipeline"], None)) if joined else []
    return documents


def _unwinds_joined(stage: dict[str, Any], documents: list[dict[str, Any]]) -> bool:
    """A plain `$unwind` of a field holding at most one element in every document (a join).

    mongomock deep-copies every document it unwinds; with one element, a shallow copy
    shares nothing with another result, so it is the same answer without the copy.
    """
    path = stage.get("$unwind")
    if not isinstance(path, str) or not path.startswith("$") or "." in path:
        return False
    field = path[1:]
    return all(isinstance(document.get(field), list) and len(document[field]) <= 1
               for document in documents)


class ListCursor:
    """An async cursor over results already computed, as Motor's cursors are used by Folio."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self._documents = documents
        self._position = 0

    def __aiter__(self) -> "ListCursor":
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._position >= len(self._documents):
            raise StopAsyncIteration
        self._position += 1
        return self._documents[self._position - 1]

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        """The remaining documents, at most `length` of them (as Motor's `to_list`)."""
        end = len(self._documents) if not length else self._position + length
        rest = self._documents[self._position : end]
        self._position += len(rest)
        return rest


class FindCursor(ListCursor):
    """A `find` whose sort and window are collected, then run as one query on first read."""

    def __init__(self, raw: Any, query: Query) -> None:
        super().__init__([])
        self._raw, self._query, self._ran = raw, query, False

    def sort(self, key_or_list: Any, direction: int | None = None) -> "FindCursor":
        """Order the results (same arguments as PyMongo's `Cursor.sort`)."""
        created = helpers.create_index_list(key_or_list, direction)
        pairs = isinstance(created, list) and all(
            isinstance(item, (list, tuple)) and len(item) == 2 for item in created)
        self._query.sort = [tuple(item) for item in created] if pairs else created
        return self

    def skip(self, count: int) -> "FindCursor":
        """Skip this many results."""
        self._query.skip = count
        return self

    def limit(self, count: int) -> "FindCursor":
        """Return at most this many results (0: all)."""
        self._query.limit = count
        return self

    def _run(self) -> None:
        if not self._ran:
            query = self._query
            if _plannable(query):
                self._documents = run_query(self._raw, query)
            else:
                self._documents = list(self._raw.find(
                    query.filter, _own_copy(query.projection), sort=query.sort or None,
                    skip=query.skip, limit=query.limit))
            self._ran = True

    async def __anext__(self) -> dict[str, Any]:
        self._run()
        return await super().__anext__()

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        """The remaining documents, at most `length` of them."""
        self._run()
        return await super().to_list(length)


MONGOMOCK_INTERNALS = ("_iter_documents", "_store", "_copy_only_fields", "codec_options")


def mongomock_collection(motor_collection: Any) -> Any | None:
    """The mongomock collection inside a mongomock-motor one, if it has what the planner reads.

    None for any other version's layout: the adapter then leaves the collection as it is,
    slower but correct.
    """
    raw = getattr(motor_collection, "_AsyncMongoMockCollection__collection", None)
    if raw is None or not all(hasattr(raw, name) for name in MONGOMOCK_INTERNALS):
        return None
    store = raw._store
    if not all(hasattr(store, name) for name in ("_documents", "_rwlock",
                                                   "_remove_expired_documents")):
        return None
    return raw


class EmbeddedCollection:
    """A mongomock-motor collection whose `aggregate` and `find` read only what they return."""

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped
        self._raw = mongomock_collection(wrapped)
        assert self._raw is not None, "check mongomock_collection() before wrapping"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def aggregate(self, pipeline: list[dict[str, Any]], **options: Any) -> ListCursor:
        """Run the leading stages as one query, then the rest on its results only."""
        if options:
            return self._wrapped.aggregate(pipeline, **options)
        query, rest = split_pipeline(pipeline)
        documents = run_query(self._raw, query)
        if query.projection is not None:  # `$project` puts `_id` first, where find puts it last
            documents = [{"_id": d.pop("_id"), **d} if "_id" in d else d for d in documents]
        for stage in rest:
            if _joins_by_id(stage):
                documents = _lookup_by_id(self._raw.database, stage["$lookup"], documents)
            elif _joins_correlated(stage):
                database, options = self._raw.database, stage["$lookup"]
                documents = (_lookup_correlated(database, options, documents)
                             or _lookup_each(database, options, documents))
            elif _unwinds_joined(stage, documents):
                field = stage["$unwind"][1:]
                documents = [{**document, field: document[field][0]} for document in documents
                             if document[field]]
            else:
                documents = list(mongomock_aggregate.process_pipeline(
                    documents, self._raw.database, [stage], None))
        return ListCursor(documents)

    def find(self, filter: dict[str, Any] | None = None, projection: Any = None,
             **options: Any) -> Any:
        """A cursor that sorts and slices before copying (options it does not know go plain)."""
        if set(options) - PUSHABLE_OPTIONS or not (projection is None or isinstance(projection, dict)):
            return self._wrapped.find(filter, _own_copy(projection), **options)
        query = Query(filter or {}, options.get("sort") or [], options.get("skip", 0),
                      options.get("limit", 0), projection)
        return FindCursor(self._raw, query)

    async def find_one(self, filter: Any = None, *args: Any, **options: Any) -> Any:
        """mongomock's `find_one`, given its own copy of the projection."""
        if args:
            args = (_own_copy(args[0]), *args[1:])
        if "projection" in options:
            options["projection"] = _own_copy(options["projection"])
        return await self._wrapped.find_one(filter, *args, **options)


def _own_copy(projection: Any) -> Any:
    """A projection mongomock may change: it adds `_id` to the dict it is given, and Folio passes
    module-level projections (LIST_FIELDS, BY_SLUG_FIELDS) that must stay as declared. PyMongo
    leaves them alone."""
    return dict(projection) if isinstance(projection, dict) else projection


def _plannable(query: Query) -> bool:
    """Whether a `find` is one the planner runs exactly as mongomock would; else it runs plain.

    Left plain: dict or `$natural` sorts, and skips or limits that are not plain counts.
    """
    sort_ok = isinstance(query.sort, list) and all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
        and not item[0].startswith("$") and item[1] in (1, -1)
        for item in query.sort
    )
    counts_ok = all(type(n) is int and n >= 0 for n in (query.skip, query.limit))
    return sort_ok and counts_ok
