"""`folio db`: validators generated from the models, and declared indexes against actual ones."""

import types
import typing
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import BaseModel

from models import DOCUMENT_MODELS
from service.db import Engine, apply_validator, collection

SKIPPED = "the embedded engine (mongomock) does not support collection validators"
BSON_INTEGER = ["int", "long"]
BSON_NUMBER = ["double", "int", "long", "decimal"]


def _bson_type(annotation: Any) -> dict[str, Any]:
    """The `$jsonSchema` fragment for one Python annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = _bson_type(options[0]) if len(options) == 1 else {}
        if "bsonType" in inner:
            kinds = inner["bsonType"] if isinstance(inner["bsonType"], list) else [inner["bsonType"]]
            return {**inner, "bsonType": [*kinds, "null"]}
        return inner
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(annotation))}
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return {"bsonType": "array", "items": _bson_type(item)}
    if origin is dict or annotation is dict:
        return {"bsonType": "object"}
    if isinstance(annotation, type):
        if issubclass(annotation, PydanticObjectId):
            return {"bsonType": "objectId"}
        if issubclass(annotation, bool):
            return {"bsonType": "bool"}
        if issubclass(annotation, int):
            return {"bsonType": BSON_INTEGER}
        if issubclass(annotation, float):
            return {"bsonType": BSON_NUMBER}
        if issubclass(annotation, str):
            return {"bsonType": "string"}
        if issubclass(annotation, datetime):
            return {"bsonType": "date"}
        if issubclass(annotation, BaseModel):
            return object_schema(annotation)
    return {}


def object_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The `$jsonSchema` of a model: every stored field typed, the required ones listed."""
    properties: dict[str, Any] = {}
    required = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue  # not stored (Beanie's revision_id)
        stored = "_id" if name == "id" and issubclass(model, Document) else name
        properties[stored] = _bson_type(info.annotation)
        if stored == "_id" and isinstance(properties[stored].get("bsonType"), list):
            kinds = [kind for kind in properties[stored]["bsonType"] if kind != "null"]
            properties[stored]["bsonType"] = kinds[0] if len(kinds) == 1 else kinds  # never null
        if info.is_required():
            required.append(stored)
    schema: dict[str, Any] = {"bsonType": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def validator_for(model: type[Document]) -> dict[str, Any]:
    """The collection validator for a model."""
    return {"$jsonSchema": object_schema(model)}


def declared_indexes(model: type[Document]) -> dict[str, dict[str, Any]]:
    """The model's named indexes, as index documents."""
    indexes = getattr(model.Settings, "indexes", [])
    return {index.document["name"]: index.document for index in indexes}


def _keys(key: Any) -> list[tuple[str, Any]]:
    items = key.items() if isinstance(key, dict) else key
    return [(field, direction) for field, direction in items]


def index_drift(declared: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    """Every difference between declared and actual indexes of one collection."""
    drift = []
    for name, spec in declared.items():
        found = actual.get(name)
        if found is None:
            drift.append(f"missing index {name}")
            continue
        keys = _keys(spec["key"])
        if any(direction == "text" for _, direction in keys):
            if "weights" in found and found["weights"] != spec.get("weights", found["weights"]):
                drift.append(f"index {name}: weights {found['weights']} != {spec['weights']}")
        elif _keys(found["key"]) != keys:
            drift.append(f"index {name}: keys {_keys(found['key'])} != {keys}")
        if bool(found.get("unique")) != bool(spec.get("unique")):
            drift.append(f"index {name}: unique is {bool(found.get('unique'))}, declared "
                         f"{bool(spec.get('unique'))}")
    for name in actual.keys() - declared.keys() - {"_id_"}:
        drift.append(f"undeclared index {name}")
    return drift


async def ensure_indexes(model: type[Document]) -> int:
    """Create a model's declared indexes (a no-op for those that exist); returns how many."""
    indexes = getattr(model.Settings, "indexes", [])
    if indexes:
        await collection(model).create_indexes(indexes)
    return len(indexes)


async def check(engine: Engine) -> dict[str, list[str]]:
    """Drift per collection (only collections with any)."""
    report = {}
    for model in DOCUMENT_MODELS:
        actual = await collection(model).index_information()
        drift = index_drift(declared_indexes(model), actual)
        if drift:
            report[collection(model).name] = drift
    return report


async def sync(engine: Engine) -> list[str]:
    """Create missing collections, apply validators (moderate) where the engine can, create indexes."""
    lines = []
    existing = set(await engine.database.list_collection_names())
    for model in DOCUMENT_MODELS:
        name = collection(model).name
        if name not in existing:
            await engine.database.create_collection(name)
            lines.append(f"{name}: created")
        applied = await apply_validator(engine, name, validator_for(model))
        outcome = "applied (validationLevel moderate)" if applied else f"skipped: {SKIPPED}"
        lines.append(f"{name}: validator {outcome}")
        lines.append(f"{name}: {await ensure_indexes(model)} declared indexes ensured")
    return lines
