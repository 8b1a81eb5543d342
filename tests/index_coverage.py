"""Does a declared index serve this operation? The rule the harness applies to every query.

An index serves a query when its leading fields are equality fields of the filter, followed by
the sort fields in order (or all reversed); with neither, the first range field must lead it.
`$or` branches are checked one by one. A `$lookup` needs its `foreignField` to lead an index of
the joined collection. `meta.*` fields are served by the wildcard index on `meta.$**`.
"""

from typing import Any

from models import DOCUMENT_MODELS
from models.media import BUCKET_INDEXES

RANGE_OPERATORS = {"$lt", "$lte", "$gt", "$gte", "$ne", "$nin", "$exists", "$regex", "$type"}


def declared_indexes() -> dict[str, list[list[tuple[str, Any]]]]:
    """Each collection's index key lists, the implicit `_id` index included."""
    indexes: dict[str, list[list[tuple[str, Any]]]] = {}
    for model in DOCUMENT_MODELS:
        keys = [[("_id", 1)]]
        for index in getattr(model.Settings, "indexes", []):
            key = list(index.document["key"].items())
            if all(direction != "text" for _, direction in key):  # text indexes serve $text only
                keys.append(key)
        indexes[model.Settings.name] = keys
    for name, declared in BUCKET_INDEXES.items():  # GridFS's collections (the media bucket)
        indexes[name] = [[("_id", 1)], *[list(index.document["key"].items()) for index in declared]]
    return indexes


INDEXES = declared_indexes()


def _split(filter_: dict[str, Any]) -> tuple[set[str], list[str]]:
    equality, ranges = set(), []
    for field, condition in filter_.items():
        if field.startswith("$"):
            continue
        if isinstance(condition, dict) and any(op in RANGE_OPERATORS for op in condition):
            ranges.append(field)
        else:
            equality.add(field)  # plain values and $in are equality matches
    return equality, ranges


def _field_name(index_field: str, wanted: str) -> bool:
    if index_field == "meta.$**":
        return wanted.startswith("meta.")
    return index_field == wanted


def served(
    collection: str, filter_: dict[str, Any], sort: list[tuple[str, int]], *, tight: bool = False
) -> bool:
    """Whether some declared index of the collection serves this filter and sort.

    `tight`: every equality field must be among the index's leading fields too, so that the
    scan reads only matching keys (not every key of a prefix, filtered after the fetch).
    """
    if "$and" in filter_:  # e.g. a list's filter joined with a cursor's condition
        merged = {k: v for k, v in filter_.items() if k != "$and"}
        for part in filter_["$and"]:
            if "$or" in part and "$or" in merged:
                # Two $or at once (a visibility rule and a cursor): every pair of branches.
                part = {**part, "$or": [{**mine, **theirs} for mine in merged.pop("$or")
                                        for theirs in part["$or"]]}
            merged.update(part)  # a field in both keeps one of its two ranges: same index
        return served(collection, merged, sort, tight=tight)
    if "$or" in filter_:
        rest = {k: v for k, v in filter_.items() if k != "$or"}
        return all(served(collection, {**rest, **branch}, sort, tight=tight)
                   for branch in filter_["$or"])
    equality, ranges = _split(filter_)
    if sort and any(field.startswith("meta.") for field in equality):
        return False  # the wildcard index finds the matches, but cannot order them
    # A sort key the filter pins to one value orders nothing: {published_at: t} sorted by
    # (published_at, _id) needs an index on (published_at, _id) with the first key fixed.
    sort = [(field, direction) for field, direction in sort if field not in equality]
    for keys in INDEXES.get(collection, []):
        fields = [field for field, _ in keys]
        prefix = 0
        while prefix < len(fields) and any(_field_name(fields[prefix], e) for e in equality):
            prefix += 1
        if tight and prefix < len(equality):
            continue
        if sort:
            window = keys[prefix : prefix + len(sort)]
            forward = [(f, d) for f, d in window] == [(f, d) for f, d in sort]
            backward = [(f, -d) for f, d in window] == [(f, d) for f, d in sort]
            if forward or backward:
                return True
            continue
        if prefix > 0:
            return True
        if ranges and any(_field_name(fields[0], r) for r in ranges):
            return True
    return False


def problems(operation: Any) -> list[str]:
    """What no declared index serves in one recorded operation (empty when all is served)."""
    found = []
    if operation.pipeline is not None:
        first = operation.pipeline[0] if operation.pipeline else {}
        match = first.get("$match")
        if match is None:
            return [f"{operation.collection} pipeline does not start with $match"]
        sort_stage = operation.pipeline[1].get("$sort") if len(operation.pipeline) > 1 else None
        sort = [(f, d) for f, d in (sort_stage or {}).items() if isinstance(d, int)]
        if "$text" not in match and not served(operation.collection, match, sort):
            found.append(f"{operation.collection}: {match} sort {sort}")
        for stage in _walk(operation.pipeline):
            lookup = stage.get("$lookup") if isinstance(stage, dict) else None
            if lookup and not served(lookup["from"], {lookup["foreignField"]: 0}, []):
                found.append(f"$lookup {lookup['from']}.{lookup['foreignField']}")
    elif operation.key is not None:  # distinct: the filter, or the key itself, leads an index
        if not served(operation.collection, operation.filter or {operation.key: 0}, []):
            found.append(f"{operation.collection}: distinct {operation.key} {operation.filter}")
    elif operation.filter is not None and not served(operation.collection, operation.filter, []):
        found.append(f"{operation.collection}: {operation.filter}")
    return found


def _walk(value: Any) -> list[Any]:
    stages = []
    if isinstance(value, list):
        for item in value:
            stages += _walk(item)
    elif isinstance(value, dict):
        stages.append(value)
        for inner in value.values():
            stages += _walk(inner)
    return stages
