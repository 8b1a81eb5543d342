"""Declared indexes against the ones a database holds: the drift `folio db check` reports and
the API logs at start-up (on MongoDB it never builds them itself; `folio db sync` does).

Two indexes under one name differ when their keys differ or any option that makes MongoDB
treat them as different indexes does: asking `createIndexes` for a name that exists with
other options fails with IndexOptionsConflict (code 85), with other keys IndexKeySpecsConflict
(86), and for keys that exist under another name IndexOptionsConflict again. Drift names all
three, so `folio db sync` refuses them in one line instead of failing on the server's error.
"""

from collections.abc import Collection
from typing import Any

from beanie import Document

from models import DOCUMENT_MODELS
from service.engine.client import collection, unrecorded_index_options

# The options compared besides the keys, each with the value an index without it has.
# `weights`, `default_language` and `language_override` belong to text indexes only.
COMPARED_OPTIONS: dict[str, Any] = {
    "unique": False,
    "sparse": False,
    "partialFilterExpression": None,
    "expireAfterSeconds": None,
    "collation": None,
}
TEXT_OPTIONS: dict[str, Any] = {
    "weights": None,
    "default_language": "english",
    "language_override": "language",
}


def declared_indexes(model: type[Document]) -> dict[str, dict[str, Any]]:
    """The model's named indexes, as index documents."""
    indexes = getattr(model.Settings, "indexes", [])
    return {index.document["name"]: index.document for index in indexes}


def _keys(key: Any) -> list[tuple[str, Any]]:
    items = key.items() if isinstance(key, dict) else key
    return [(field, direction) for field, direction in items]


def _plain(value: Any) -> Any:
    """A value with SON and other mappings turned into dicts, for comparison."""
    if hasattr(value, "items"):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(inner) for inner in value]
    return value


def _shown(option: str, value: Any) -> Any:
    """An option as a drift line shows it (keys as one mapping, in order)."""
    return dict(_keys(value)) if option == "key" else _plain(value)


def _is_text(keys: list[tuple[str, Any]]) -> bool:
    return any(direction == "text" for _, direction in keys)


def _collation_differs(wanted: Any, found: Any) -> bool:
    """MongoDB reports a collation with every default filled in: compare the declared fields."""
    wanted, found = _plain(wanted), _plain(found)
    if not wanted or wanted.get("locale") == "simple":
        return bool(found) and found.get("locale") != "simple"
    return not found or any(found.get(key) != value for key, value in wanted.items())


def differing_options(
    spec: dict[str, Any], found: dict[str, Any], unrecorded: Collection[str] = ()
) -> list[str]:
    """Names of the options (and "key") in which an actual index differs from its declaration.

    `unrecorded`: options the engine does not report back, left out (see service/engine/client.py).
    """
    keys = _keys(spec["key"])
    options = dict(COMPARED_OPTIONS)
    if _is_text(keys):
        # MongoDB stores a text index under `_fts`/`_ftsx` keys: its weights name the fields.
        options.update(TEXT_OPTIONS)
        differs = []
    else:
        differs = ["key"] if _keys(found["key"]) != keys else []
    for option, absent in options.items():
        if option in unrecorded or (option in TEXT_OPTIONS and "weights" not in found):
            continue  # the engine keeps no text options: nothing to compare against
        wanted, actual = spec.get(option, absent), found.get(option, absent)
        if option == "collation":
            changed = _collation_differs(wanted, actual)
        elif option in ("unique", "sparse"):
            changed = bool(wanted) != bool(actual)
        else:
            changed = _plain(wanted) != _plain(actual)
        if changed:
            differs.append(option)
    return differs


def changed_indexes(
    declared: dict[str, dict[str, Any]],
    actual: dict[str, dict[str, Any]],
    unrecorded: Collection[str] = (),
) -> list[str]:
    """Names of indexes that exist under a declared name but with other keys or options."""
    return [
        name for name, spec in declared.items()
        if name in actual and differing_options(spec, actual[name], unrecorded)
    ]


def renamed_indexes(
    declared: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Declared indexes missing by name whose keys an undeclared index holds: {declared: actual}.

    MongoDB refuses to build the declared one beside it (IndexOptionsConflict).
    """
    renamed = {}
    for name, spec in declared.items():
        if name in actual or _is_text(_keys(spec["key"])):
            continue
        for other, found in actual.items():
            if other not in declared and other != "_id_" and _keys(found["key"]) == _keys(spec["key"]):
                renamed[name] = other
    return renamed


def index_drift(
    declared: dict[str, dict[str, Any]],
    actual: dict[str, dict[str, Any]],
    unrecorded: Collection[str] = (),
) -> list[str]:
    """Every difference between declared and actual indexes of one collection."""
    renamed = renamed_indexes(declared, actual)
    drift = [f"missing index {name}" for name in declared if name not in actual and name not in renamed]
    drift += [f"index {name} exists as {other} (same keys, another name)"
              for name, other in renamed.items()]
    for name in changed_indexes(declared, actual, unrecorded):
        spec, found = declared[name], actual[name]
        options = differing_options(spec, found, unrecorded)
        shown = {key: _shown(key, found[key]) for key in ("key", *options) if key in found}
        wanted = {key: _shown(key, spec[key]) for key in ("key", *options) if key in spec}
        drift.append(f"index {name} differs in {', '.join(options)}: {shown} where {wanted} "
                     "is declared")
    drift += [f"undeclared index {name}"
              for name in actual.keys() - declared.keys() - {"_id_"} - set(renamed.values())]
    return drift


async def drift_report() -> dict[str, list[str]]:
    """Drift per collection (only collections with any), read from the open database."""
    report = {}
    unrecorded = unrecorded_index_options()
    for model in DOCUMENT_MODELS:
        actual = await collection(model).index_information()
        drift = index_drift(declared_indexes(model), actual, unrecorded)
        if drift:
            report[collection(model).name] = drift
    from service.engine.bucket import bucket_index_information, bucket_indexes

    live = await bucket_index_information()
    for name, declared in bucket_indexes().items():
        drift = index_drift(declared, live[name], unrecorded)
        if drift:
            report[name] = drift
    return report
