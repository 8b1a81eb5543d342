"""`folio db`: validators generated from the models, and declared indexes against actual ones."""

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import BaseModel

from models import DOCUMENT_MODELS, Article, Comment, Favorite
from service.articles.queries import counts_per_article_pipeline
from service.db import Engine, apply_validator, collection, create_collection, create_indexes
from service.indexes import changed_indexes, declared_indexes, drift_report

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


async def ensure_indexes(model: type[Document]) -> int:
    """Create a model's declared indexes (a no-op for those that exist); returns how many."""
    return await create_indexes(model)


async def check(engine: Engine) -> dict[str, list[str]]:
    """Drift per collection (only collections with any)."""
    return await drift_report()


class SyncRefused(Exception):
    """An index exists under its declared name with other keys or options: rebuilding it needs
    the operator's word (--rebuild-changed), since the collection loses that index meanwhile."""


async def sync(engine: Engine, *, rebuild_changed: bool = False) -> list[str]:
    """Create missing collections (with their validator), apply validators to existing ones,
    create missing indexes, and drop and rebuild changed ones when `rebuild_changed`.

    MongoDB builds indexes without blocking reads and writes; this is the step that owns the
    builds, run before the API starts (the API only checks them).
    """
    lines = []
    existing = set(await engine.database.list_collection_names())
    changed = {
        collection(model).name: changed_indexes(
            declared_indexes(model), await collection(model).index_information()
        )
        for model in DOCUMENT_MODELS
        if collection(model).name in existing
    }
    refused = [f"{name}.{index}" for name, indexes in changed.items() for index in indexes]
    if refused and not rebuild_changed:
        raise SyncRefused(
            f"{', '.join(refused)} exist with other keys or options than declared; run again "
            "with --rebuild-changed to drop and rebuild them (queries lose them while they build)"
        )
    for model in DOCUMENT_MODELS:
        name = collection(model).name
        validator = validator_for(model)
        if name not in existing:
            with_validator = await create_collection(engine, name, validator)
            lines.append(f"{name}: created" + (" with its validator (validationLevel moderate)"
                                               if with_validator else f"; validator {SKIPPED}"))
        else:
            applied = await apply_validator(engine, name, validator)
            outcome = "applied (validationLevel moderate)" if applied else f"skipped: {SKIPPED}"
            lines.append(f"{name}: validator {outcome}")
        for index in changed.get(name, []):
            await collection(model).drop_index(index)
            lines.append(f"{name}: dropped {index} to rebuild it as declared")
        lines.append(f"{name}: {await ensure_indexes(model)} declared indexes ensured")
    return lines


@dataclass
class Recount:
    """What `folio db recount` found: articles checked, counters fixed, and those skipped."""

    checked: int = 0
    fixed: list[tuple[str, str, int, int]] = field(default_factory=list)  # slug, counter, was, is
    moved_meanwhile: list[tuple[str, str]] = field(default_factory=list)  # slug, counter


# Each article counter, and the collection whose documents it counts (by `article_id`).
COUNTERS = (("favorites_count", Favorite), ("comments_count", Comment))


async def recount(engine: Engine, report: Callable[[int], None]) -> Recount:
    """Reconcile every article's `favorites_count` and `comments_count`, in batches.

    The truth is the favorite edges and the comments that name the article. Safe while
    serving: each correction is an `$inc` by the difference, applied only if the counter still
    holds the value read (a favorite or comment arriving meanwhile makes it skip that one,
    reported, for the next run). It is not airtight: a write caught between its document and
    its `$inc` (on a standalone server), or two opposite writes both landing between the read
    and the fix, can leave a counter off again. Run it at a quiet moment, and once more to
    confirm nothing is left to fix.
    """
    from scripts.migrate import in_batches

    result = Recount()

    async def check(batch: list[dict[str, Any]]) -> int:
        ids = [article["_id"] for article in batch]
        fixed = 0
        result.checked += len(batch)
        for counter, model in COUNTERS:
            truth = {
                group["_id"]: group["edges"]
                async for group in collection(model).aggregate(counts_per_article_pipeline(ids))
            }
            for article in batch:
                stored, true = article.get(counter, 0), truth.get(article["_id"], 0)
                if stored == true and counter in article:
                    continue
                unchanged = ({counter: stored} if counter in article
                             else {counter: {"$exists": False}})
                moved = await collection(Article).update_one(
                    {"_id": article["_id"], **unchanged}, {"$inc": {counter: true - stored}},
                )
                if moved.modified_count or (moved.matched_count and true == stored):
                    if true != stored:
                        result.fixed.append((article["slug"], counter, stored, true))
                        fixed += 1
                else:
                    result.moved_meanwhile.append((article["slug"], counter))
        return fixed

    fields = {"slug": 1, **{counter: 1 for counter, _ in COUNTERS}}
    await in_batches(collection(Article), {}, fields, check, report)
    return result


async def recount_rollups(engine: Engine, report: Callable[[int], None]) -> int:
    """Rebuild the analytics rollups from the data, one day at a time; how many days it set.

    The repair for what their `$inc`s missed: a failure after the write they follow, and
    articles, comments and accounts removed in bulk by deletions (service/rollups.py).
    """
    from service.rollups import rebuild_rollups

    return await rebuild_rollups(engine.database, report)
