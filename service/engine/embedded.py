"""The embedded engine's query planner: what MongoDB does with a pipeline's leading stages.

Only `service/engine/client.py` uses this module. mongomock answers `aggregate` by deep-copying every
document of the collection and running each stage in Python, and a `find` by copying every
match before it sorts and slices. MongoDB instead turns a pipeline's leading `$match`, `$sort`,
`$skip`, `$limit` and `$project` into one query (the "pipeline optimization" of its manual) and
reads only the page. This module does the same on the embedded engine, so that its cost follows
the page rather than the collection, while the query shapes stay the ones MongoDB wants:

- `split_pipeline` (pure) takes the leading stages a query can run;
- `run_query` runs them on a mongomock collection, sorting and slicing the stored documents
  before copying only the ones returned (the one place that touches mongomock's internals);
- `EmbeddedCollection` wraps a mongomock-motor collection: `aggregate` and `find` go through
  the two above, every other method goes to the wrapped collection unchanged.

The results are those of the plain path, document for document: `tests/test_embedded.py`
checks that with random pipelines from Folio's own builders on random data.
"""

import heapq
import itertools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from mongomock import aggregate as mongomock_aggregate
from mongomock import filtering, helpers

Sort = list[tuple[str, int]]
T = TypeVar("T")
PUSHABLE_OPTIONS = {"filter", "projection", "sort", "skip", "limit"}


@dataclass
class Query:
    """What one `find` does: filter, order, window and projection."""

    filter: dict[str, Any] = field(default_factory=dict)
    sort: Sort = field(default_factory=list)
    skip: int = 0
    limit: int = 0  # 0: no limit, as in PyMongo
    projection: dict[str, Any] | None = None


def _is_inclusion(projection: Any) -> bool:
    """A projection that `find` and `$project` treat alike: fields kept with 1 or True."""
    return (
        isinstance(projection, dict)
        and bool(projection)
        # Dotted paths are left to `$project`: through arrays of scalars the rules differ.
        and not any("." in key for key in projection)
        and all(value is True or (type(value) is int and value == 1) for value in projection.values())
    )


def _at_least(minimum: int) -> Callable[[Any], bool]:
    """A check that a stage's value is a plain integer of at least `minimum`."""
    return lambda value: type(value) is int and value >= minimum


def split_pipeline(pipeline: list[dict[str, Any]]) -> tuple[Query, list[dict[str, Any]]]:
    """The leading stages as one query, and the stages left to run on its results.

    Taken in MongoDB's order and no further: `$match`, then `$sort`, then `$skip`, then
    `$limit`, then an inclusion `$project`; a stage out of that order ends the query.
    """
    query = Query()
    position = 0

    def take(name: str, acceptable: Callable[[Any], bool] = lambda value: True) -> Any:
        """The next stage's value if it is `name` and acceptable (then step past it), else None."""
        nonlocal position
        if position < len(pipeline) and list(pipeline[position]) == [name]:
            value = pipeline[position][name]
            if acceptable(value):
                position += 1
                return value
        return None

    if (match := take("$match")) is not None:
        query.filter = match
    if (order := take("$sort")) is not None:
        query.sort = list(order.items())
    if (skip := take("$skip", _at_least(0))) is not None:
        query.skip = skip
    if (limit := take("$limit", _at_least(1))) is not None:  # find's limit 0: "no limit"
        query.limit = limit
    if (projection := take("$project", _is_inclusion)) is not None:
        query.projection = dict(projection)
    return query, pipeline[position:]


class _Position:
    """A document's place in a multi-key order: compared key by key, each in its direction."""

    __slots__ = ("keys", "directions")

    def __init__(self, keys: list[Any], directions: list[int]) -> None:
        self.keys, self.directions = keys, directions

    def __lt__(self, other: "_Position") -> bool:
        for mine, theirs, direction in zip(self.keys, other.keys, self.directions, strict=True):
            if mine < theirs:
                return direction > 0
            if theirs < mine:
                return direction < 0
        return False

    def __eq__(self, other: object) -> bool:
        # Ties must compare equal: heapq then falls back on arrival order, keeping it stable.
        return isinstance(other, _Position) and not self < other and not other < self

    __hash__ = None  # type: ignore[assignment]


def _single_id(spec: dict[str, Any]) -> Any:
    """The one `_id` an equality filter names, or None (what MongoDB's `_id` index answers)."""
    wanted = spec.get("_id")
    if isinstance(wanted, ObjectId) or type(wanted) in (str, int):  # as `_kind`: plain str only
        return wanted
    return None


# --- matching: simple filters compiled to Python tests, anything else left to mongomock -----

# Values a compiled test compares natively: Python and BSON agree on their equality and order
# within each type (numbers are left out: BSON equates 1, 1.0 and Decimal128, Python's True == 1).
NATIVE = (str, ObjectId, datetime)
RANGES = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}
UNSURE = None  # a compiled test's answer when only mongomock's own matcher can tell
Test = Callable[[dict[str, Any]], bool | None]


def _kind(value: Any) -> type | None:
    """The native type a value is: ObjectId and datetime subclasses included (Beanie stores
    PydanticObjectId), but only plain `str` (Beanie's ExpressionField compares specially)."""
    if type(value) in NATIVE:
        return type(value)
    if isinstance(value, (ObjectId, datetime)):
        return ObjectId if isinstance(value, ObjectId) else datetime
    return None


def _native(value: Any) -> bool:
    return _kind(value) is not None


def _any_element(values: list[Any], test: Callable[[Any], bool]) -> bool | None:
    """Whether an array of native values has an element passing `test`; UNSURE for others."""
    if not all(_native(element) for element in values):
        return UNSURE  # nested arrays, documents, numbers, nulls: mongomock's matcher decides
    return any(test(element) for element in values)


def _field_test(field: str, condition: Any) -> Test | None:
    """A test of one top-level field, or None if it is not one of the simple shapes."""
    if "." in field or field.startswith("$"):
        return None
    if _native(condition):
        wanted_kind, wanted_class = _kind(condition), type(condition)

        def equals(document: dict[str, Any]) -> bool | None:
            value = document.get(field)
            if type(value) is wanted_class or _kind(value) is wanted_kind:
                return bool(value == condition)
            if isinstance(value, list):  # an array matches when one of its elements does
                if condition in value:  # only a value of the same kind is ever equal
                    return True
                return _any_element(value, lambda element: False)
            return False

        return equals
    if not isinstance(condition, dict) or not condition:
        return None
    if list(condition) == ["$exists"] and isinstance(condition["$exists"], bool):
        wanted_present = condition["$exists"]  # whatever the value, null and arrays included
        return lambda document: (field in document) is wanted_present
    if list(condition) == ["$in"] and isinstance(condition["$in"], list):
        options = condition["$in"]
        if not all(_native(option) for option in options):
            return None
        wanted = {(_kind(option), option) for option in options}

        def among(document: dict[str, Any]) -> bool | None:
            value = document.get(field)
            if _native(value):
                return (_kind(value), value) in wanted
            if isinstance(value, list):
                return _any_element(value, lambda element: (_kind(element), element) in wanted)
            return False

        return among
    if set(condition) <= RANGES.keys() and all(_native(bound) for bound in condition.values()):
        bounds = [(RANGES[name], bound, _kind(bound)) for name, bound in condition.items()]

        def within(document: dict[str, Any]) -> bool | None:
            value = document.get(field)
            if isinstance(value, list):
                return UNSURE  # an array matches element-wise, bound by bound
            value_kind = _kind(value)
            for compare, bound, kind in bounds:
                if value_kind is not kind or not compare(value, bound):
                    return False
            return True

        return within
    return None


def compile_filter(spec: dict[str, Any]) -> Test | None:
    """A test equivalent to mongomock's matcher on the shapes Folio's lists use, else None.

    Understood: equality to a string, ObjectId or date; `$in` of those; ranges on them;
    `$exists`; `$and` and `$or` of such filters, on top-level fields. A test answers UNSURE for a
    document holding an array in a tested field, and that document goes to mongomock's matcher.
    """
    tests: list[Test] = []
    for key, condition in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                return None
            parts = [compile_filter(part) if isinstance(part, dict) else None
                     for part in condition]
            if any(part is None for part in parts):
                return None
            tests.append(_combined(parts, every=key == "$and"))  # type: ignore[arg-type]
        else:
            test = _field_test(key, condition)
            if test is None:
                return None
            tests.append(test)
    return _combined(tests, every=True)


def _combined(tests: list[Test], *, every: bool) -> Test:
    """All (or any) of the tests, UNSURE if the known answers do not settle it."""
    if len(tests) == 1:
        return tests[0]

    def combined(document: dict[str, Any]) -> bool | None:
        unsure = False
        for test in tests:
            answer = test(document)
            if answer is UNSURE:
                unsure = True
            elif answer is not every:
                return answer
        return UNSURE if unsure else every

    return combined


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


# --- ordering ---------------------------------------------------------------------------


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


def _lookup_by_id(database: Any, options: dict[str, Any], documents: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """`$lookup` by `_id`: each document's joined array, read through the `_id` fast path."""
    foreign = database.get_collection(options["from"])
    for document in documents:
        try:
            value = helpers.get_value_by_dot(document, options["localField"])
        except KeyError:
            value = None
        condition = {"$in": value} if isinstance(value, list) else value
        joined = run_query(foreign, Query({"_id": condition}))
        if options.get("pipeline") and joined:
            joined = list(mongomock_aggregate.process_pipeline(
                joined, database, options["pipeline"], None))
        document[options["as"]] = joined
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
                    query.filter, query.projection, sort=query.sort or None, skip=query.skip,
                    limit=query.limit))
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
            return self._wrapped.find(filter, projection, **options)
        query = Query(filter or {}, options.get("sort") or [], options.get("skip", 0),
                      options.get("limit", 0), projection)
        return FindCursor(self._raw, query)


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
