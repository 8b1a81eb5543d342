"""`folio db`: validators generated from the models, and declared indexes against actual ones."""

import json
import types
import typing
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import BaseModel
from pymongo.errors import OperationFailure

from models import DOCUMENT_MODELS, Article, Comment, Favorite, Tag
from models.comments import HIDDEN
from models.common import utc_now
from scripts.orphans import sweep_orphans
from service.articles.recount import recount_until_settled
from service.contract.schemas import forbidden_character, printable
from service.engine import (
    Engine,
    apply_validator,
    bucket_index_information,
    bucket_indexes,
    changed_indexes,
    collection,
    create_bucket_indexes,
    create_collection,
    create_indexes,
    declared_indexes,
    drift_report,
    renamed_indexes,
    unrecorded_index_options,
)

SKIPPED = "the embedded engine (mongomock) does not support collection validators"
BSON_INTEGER = ["int", "long"]
BSON_NUMBER = ["double", "int", "long", "decimal"]


def _bson_type(annotation: Any) -> dict[str, Any]:
    """The `$jsonSchema` fragment for one Python annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) > 1:  # e.g. an article's cover: a media cover or a {url, alt} one
            nullable = len(options) < len(typing.get_args(annotation))
            shapes = [_bson_type(option) for option in options]
            if any(not shape for shape in shapes):
                return {}
            return {"anyOf": shapes + ([{"bsonType": "null"}] if nullable else [])}
        inner = _bson_type(options[0])
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


MAX_TEXT_FINDINGS = 20  # lines per collection; the rest are counted


def _holds_text(annotation: Any) -> bool:
    """Whether values of this annotation can hold a string (directly, in a list, dict or model)."""
    if annotation is str or annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_holds_text(info.annotation) for info in annotation.model_fields.values())
    if isinstance(annotation, type):
        return annotation is dict or annotation is list
    return any(_holds_text(arg) for arg in typing.get_args(annotation))


def text_fields(model: type[Document]) -> list[str]:
    """The stored top-level fields of a model that can hold text."""
    return [
        name for name, info in model.model_fields.items()
        if not info.exclude and name != "id" and _holds_text(info.annotation)
    ]


def refused_text(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, `U+XXXX`) for every string in `value` holding a character the text policy
    refuses (service/contract/schemas.py), object keys included."""
    if isinstance(value, str):
        character = forbidden_character(value)
        if character is not None:
            yield path, character
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and forbidden_character(key) is not None:
                yield f"{path}.{printable(key)}", str(forbidden_character(key))
            yield from refused_text(item, f"{path}.{printable(str(key))}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from refused_text(item, f"{path}.{index}")


@dataclass
class TextFindings:
    """Stored values the text policy would refuse, per collection: the first lines, and a count."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


async def forbidden_text(engine: Engine, report: Callable[[int], None]) -> TextFindings:
    """Every stored string holding a character XML 1.0 forbids, which writes now refuse (422).

    Renderers replace such characters, so nothing breaks; this finds what to clean up. It reads
    each collection that can hold text once, in `_id` batches, projecting only its text fields.
    """
    from scripts.migrate import in_batches

    found = TextFindings()
    for model in DOCUMENT_MODELS:
        fields = text_fields(model)
        if not fields:
            continue
        name = collection(model).name

        async def scan(batch: list[dict[str, Any]], name: str = name) -> int:
            for document in batch:
                for key, value in document.items():
                    if key == "_id":
                        continue
                    for path, character in refused_text(value, key):
                        found.counts[name] = found.counts.get(name, 0) + 1
                        lines = found.lines.setdefault(name, [])
                        if len(lines) < MAX_TEXT_FINDINGS:
                            lines.append(f"{document['_id']}: {path} contains {character}")
            return 0

        await in_batches(collection(model), {}, dict.fromkeys(fields, 1), scan, report)
    return found


class SyncRefused(Exception):
    """An index exists under its declared name with other keys or options (or with its keys
    under another name): rebuilding it needs the operator's word (--rebuild-changed), since the
    collection loses that index meanwhile."""


# createIndexes refusing an index that conflicts with an existing one: same name with other
# options, or the same keys under another name (85); same name with other keys (86).
INDEX_CONFLICT_CODES = {85, 86}


async def sync(engine: Engine, *, rebuild_changed: bool = False) -> list[str]:
    """Create missing collections (with their validator), apply validators to existing ones,
    create missing indexes, and drop and rebuild changed ones when `rebuild_changed`.

    MongoDB builds indexes without blocking reads and writes; this is the step that owns the
    builds, run before the API starts (the API only checks them).
    """
    lines = []
    existing = set(await engine.database.list_collection_names())
    unrecorded = unrecorded_index_options()
    changed: dict[str, list[str]] = {}  # collection: the actual indexes to drop and rebuild
    for model in DOCUMENT_MODELS:
        if collection(model).name not in existing:
            continue
        declared = declared_indexes(model)
        actual = await collection(model).index_information()
        stale = changed_indexes(declared, actual, unrecorded)
        stale += list(renamed_indexes(declared, actual).values())
        if stale:
            changed[collection(model).name] = stale
    live_bucket = await bucket_index_information(engine)
    for name, declared in bucket_indexes().items():
        stale = changed_indexes(declared, live_bucket[name], unrecorded)
        stale += list(renamed_indexes(declared, live_bucket[name]).values())
        if stale:
            changed[name] = stale
    refused = [f"{name}.{index}" for name, indexes in changed.items() for index in indexes]
    if refused and not rebuild_changed:
        raise SyncRefused(
            f"{', '.join(refused)} exist with other keys, options or names than declared (see "
            "`folio db check`); run again with --rebuild-changed to drop and rebuild them "
            "(queries lose them while they build)"
        )
    for model in DOCUMENT_MODELS:
        name = collection(model).name
        validator = validator_for(model)
        if name not in existing:
            with_validator = await create_collection(engine, name, validator)
            lines.append(f"{name}: created" + (" with its validator (validationLevel moderate)"
                                               if with_validator else f"; validator skipped: {SKIPPED}"))
        else:
            applied = await apply_validator(engine, name, validator)
            outcome = "applied (validationLevel moderate)" if applied else f"skipped: {SKIPPED}"
            lines.append(f"{name}: validator {outcome}")
        for index in changed.get(name, []):
            await collection(model).drop_index(index)
            lines.append(f"{name}: dropped {index} to rebuild it as declared")
        try:
            ensured = await ensure_indexes(model)
        except OperationFailure as error:
            if error.code not in INDEX_CONFLICT_CODES:
                raise
            # A conflict drift did not foresee (an option this version does not compare).
            reason = str(error.details.get("errmsg") if error.details else error).splitlines()[0]
            raise SyncRefused(f"{name}: the server refused a declared index: {reason}; compare "
                              "with `folio db check`, then drop the old index by hand") from None
        lines.append(f"{name}: {ensured} declared indexes ensured")
    # GridFS's collections (the media bucket): their indexes, never a validator.
    for name in bucket_indexes():
        for index in changed.get(name, []):
            await engine.database[name].drop_index(index)
            lines.append(f"{name}: dropped {index} to rebuild it as declared")
    ensured = await create_bucket_indexes(engine)
    lines.append(f"{', '.join(bucket_indexes())}: {ensured} declared indexes ensured "
                 "(GridFS's layout: no validator)")
    return lines


@dataclass
class Recount:
    """What `folio db recount` found: articles checked, counters fixed, and those still moving."""

    checked: int = 0
    fixed: list[tuple[str, str, int, int]] = field(default_factory=list)  # slug, counter, was, is
    moved_meanwhile: list[tuple[str, str]] = field(default_factory=list)  # slug, counter
    orphans: Tally[str] = field(default_factory=Tally)  # removed, per collection


# Each article counter, and the collection whose documents it counts (by `article_id`).
# (counter, the documents it counts[, the condition they also meet]): service/articles/recount.py
COUNTERS = (
    ("favorites_count", Favorite),
    ("comments_count", Comment),
    ("hidden_comments_count", Comment, HIDDEN),
)


async def recount(
    engine: Engine, report: Callable[[int], None], swept: Callable[[int], None] = lambda n: None
) -> Recount:
    """Remove orphans (scripts/orphans.py), then set every article's `favorites_count`,
    `comments_count` and `hidden_comments_count` from the favorite edges and (hidden) comments
    that name it, in batches; safe while
    serving. `swept(n)` after each batch of n documents checked for orphans, `report(n)` after
    each batch of n articles recounted.

    Exact on a replica set: each article whose counter disagrees is recounted in its own small
    transaction, where a favorite or comment landing meanwhile is a write conflict that the driver
    retries (service/articles/recount.py). Without transactions each set is guarded by the value
    read and retried while the counter moves; those still moving are recounted again at the end,
    and any left then are reported (`moved_meanwhile`), never passed over in silence.
    """
    orphans = await sweep_orphans(swept)  # first: what it removes may still be counted
    counters = [(counter, collection(model), *condition) for counter, model, *condition in COUNTERS]
    found = await recount_until_settled(collection(Article), counters, report)
    return Recount(
        checked=found.checked,
        fixed=[(slug, counter, stored or 0, true) for _, slug, counter, stored, true in found.fixed],
        moved_meanwhile=[(slug, counter) for _, slug, counter in found.moving],
        orphans=orphans,
    )


@dataclass
class TagRecount:
    """What `folio db recount` found in the tag counts: articles checked, flags and counts fixed,
    and those that changed while checked."""

    checked: int = 0
    flags_fixed: list[tuple[str, bool | None, bool]] = field(default_factory=list)  # slug, was, is
    counts_fixed: list[tuple[str, int, int]] = field(default_factory=list)  # tag, was, is
    moved_meanwhile: list[str] = field(default_factory=list)  # slugs and tags


async def recount_tags(engine: Engine, report: Callable[[int], None]) -> TagRecount:
    """Rebuild the tag counts exactly: each article's `tags_counted` set to whether it is live,
    then each tag's count set to the articles counting it.

    Articles are read in `_id` batches; a wrong or missing flag is fixed with its `$inc`s by a
    write guarded by what was read (an article changed meanwhile was recounted by its writer).
    Then every tag stored or seen is counted with `count_documents` and set, in one
    transaction per tag on a replica set, where a concurrent `$inc` conflicts and the
    transaction runs again: exact while serving. Elsewhere the write is guarded by the count
    read, and one that moved meanwhile is reported for the next run. Tags left at zero go.
    """
    from scripts.migrate import in_batches
    from service.tags.counting import is_live, settle_count, settle_flag

    result = TagRecount()
    seen: set[str] = set()
    now = utc_now()

    async def check(batch: list[dict[str, Any]]) -> int:
        result.checked += len(batch)
        fixed = 0
        for article in batch:
            outcome = await settle_flag(article, now)
            if outcome is None:
                result.moved_meanwhile.append(article["slug"])
            elif outcome:
                live = is_live(article.get("published_at"), now)
                result.flags_fixed.append((article["slug"], article.get("tags_counted"), live))
                seen.update(article.get("tag_list") or [])  # its moves may have left a -1
                fixed += 1
            if is_live(article.get("published_at"), now):
                seen.update(article.get("tag_list") or [])
        return fixed

    fields = {"slug": 1, "tag_list": 1, "published_at": 1, "tags_counted": 1}
    await in_batches(collection(Article), {}, fields, check, report)
    stored = {tag["_id"] async for tag in collection(Tag).find({}, {"_id": 1})}
    for tag in sorted(seen | stored):
        fix = await settle_count(tag)
        if fix is None:
            continue
        if fix.settled:
            result.counts_fixed.append((fix.tag, fix.stored, fix.true))
        else:
            result.moved_meanwhile.append(fix.tag)
    return result


def _keys(spec: dict[str, Any]) -> str:
    """An index key or filter document as mongosh shows it: {a: 1, b: -1}."""
    return "{" + ", ".join(
        f"{name if name.isidentifier() else json.dumps(name)}: "
        f"{_keys(value) if isinstance(value, dict) else json.dumps(value)}"
        for name, value in spec.items()) + "}"


def index_summary(model: type[Document]) -> str:
    """A model's declared indexes in one line, as docs/mongosh.md's table shows them (tested)."""
    parts = []
    for name, index in declared_indexes(model).items():
        if "weights" in index:
            weights = ", ".join(f"{field} ({weight})" for field, weight in index["weights"].items())
            parts.append(f"`{name}`: text on {weights}")
            continue
        options = [option for option in ("unique", "sparse") if index.get(option)]
        if "partialFilterExpression" in index:
            options.append(f"partial {_keys(index['partialFilterExpression'])}")
        if "expireAfterSeconds" in index:
            options.append(f"TTL {index['expireAfterSeconds']} s")
        parts.append(f"`{name}`: {_keys(index['key'])}" + (" " + ", ".join(options) if options else ""))
    return " · ".join(parts) or "—"
async def recount_rollups(engine: Engine, report: Callable[[int], None]) -> int:
    """Rebuild the analytics rollups from the data, one day at a time; how many days it set.

    The repair for what their `$inc`s missed: a failure after the write they follow, and
    articles, comments and accounts removed in bulk by deletions (service/rollups/queries.py).
    """
    from service.rollups.queries import rebuild_rollups

    return await rebuild_rollups(engine.database, report)
