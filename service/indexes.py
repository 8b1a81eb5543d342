"""Declared indexes against the ones a database holds: the drift `folio db check` reports and
the API logs at start-up (on MongoDB it never builds them itself; `folio db sync` does)."""

from typing import Any

from beanie import Document

from models import DOCUMENT_MODELS
from service.db import collection


def declared_indexes(model: type[Document]) -> dict[str, dict[str, Any]]:
    """The model's named indexes, as index documents."""
    indexes = getattr(model.Settings, "indexes", [])
    return {index.document["name"]: index.document for index in indexes}


def _keys(key: Any) -> list[tuple[str, Any]]:
    items = key.items() if isinstance(key, dict) else key
    return [(field, direction) for field, direction in items]


def changed_indexes(declared: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    """Names of indexes that exist under a declared name but with other keys or options."""
    changed = []
    for name, spec in declared.items():
        found = actual.get(name)
        if found is None:
            continue
        keys = _keys(spec["key"])
        if any(direction == "text" for _, direction in keys):
            differs = "weights" in found and found["weights"] != spec.get("weights", found["weights"])
        else:
            differs = _keys(found["key"]) != keys
        for option in ("unique", "sparse"):
            differs = differs or bool(found.get(option)) != bool(spec.get(option))
        if differs:
            changed.append(name)
    return changed


def index_drift(declared: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    """Every difference between declared and actual indexes of one collection."""
    drift = [f"missing index {name}" for name in declared if name not in actual]
    for name in changed_indexes(declared, actual):
        spec, found = declared[name], actual[name]
        shown = {key: found.get(key) for key in ("key", "unique", "sparse", "weights") if key in found}
        wanted = {key: spec.get(key) for key in ("key", "unique", "sparse", "weights") if key in spec}
        drift.append(f"index {name} differs: {shown} where {wanted} is declared")
    drift += [f"undeclared index {name}" for name in actual.keys() - declared.keys() - {"_id_"}]
    return drift


async def drift_report() -> dict[str, list[str]]:
    """Drift per collection (only collections with any), read from the open database."""
    report = {}
    for model in DOCUMENT_MODELS:
        actual = await collection(model).index_information()
        drift = index_drift(declared_indexes(model), actual)
        if drift:
            report[collection(model).name] = drift
    return report
