"""The embedded engine's query planner (pure): what MongoDB does with a pipeline's leading stages.

MongoDB turns a pipeline's leading `$match`, `$sort`, `$skip`, `$limit` and `$project` into one
query (the "pipeline optimization" of its manual) and reads only the page. `split_pipeline` takes
those stages as a `Query`, and `compile_filter` turns a filter into a plain Python test where it
can be sure of MongoDB's answer. Nothing here touches mongomock; embedded.py runs the plans.
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

Sort = list[tuple[str, int]]


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
