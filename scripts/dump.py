"""Lossless export and import: every Folio collection as canonical Extended JSON lines.

Each line is `{"collection": <name>, "document": <document>}` in MongoDB Extended JSON v2,
canonical mode, so ObjectIds, dates (to the millisecond) and 32/64-bit integers round-trip
exactly, and the file reads in `mongoimport`-style tooling or by eye.
"""

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo.errors import BulkWriteError

from models import DOCUMENT_MODELS
from scripts.dbtools import ensure_indexes
from scripts.seed import BATCH_SIZE, count_tags
from service.db import Engine, collection

OPTIONS = CANONICAL_JSON_OPTIONS.with_options(tz_aware=True)


class ImportRefused(Exception):
    """The target already holds data, or the file is not a Folio export."""


def _collections() -> dict[str, type]:
    return {model.Settings.name: model for model in DOCUMENT_MODELS}


async def export(engine: Engine, path: Path) -> dict[str, int]:
    """Write every collection, documents in `_id` order; returns documents per collection.

    The file is written beside its target and renamed into place once complete, so a failure
    half-way leaves any earlier export untouched.
    """
    counts: dict[str, int] = {}
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            for name, model in _collections().items():
                counts[name] = 0
                async for document in collection(model).find({}).sort("_id", 1):
                    line = {"collection": name, "document": document}
                    out.write(json_util.dumps(line, json_options=OPTIONS) + "\n")
                    counts[name] += 1
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return counts


def _lines(source: TextIO, path: Path) -> Iterator[str]:
    """The file's lines; a file that is not UTF-8 text is refused, not half-read."""
    try:
        yield from source
    except UnicodeDecodeError:
        raise ImportRefused(f"{path} is not a text file; expected a `folio export` file") from None


def read_dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Parse an export file; refuses unknown collections and malformed lines, naming the line."""
    known = _collections()
    documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with path.open(encoding="utf-8", errors="strict") as source:
        for number, text in enumerate(_lines(source, path), start=1):
            if not text.strip():
                continue
            try:
                line = json_util.loads(text, json_options=OPTIONS)
                name, document = line["collection"], line["document"]
            except (ValueError, KeyError, TypeError) as error:
                raise ImportRefused(f"line {number} is not a Folio export line: {error}") from None
            if name not in known:
                raise ImportRefused(f"line {number} names an unknown collection {name!r}")
            documents[name].append(document)
    return documents


async def import_dump(engine: Engine, path: Path, *, drop: bool = False) -> dict[str, int]:
    """Load an export into this database, re-creating the declared indexes first.

    Refuses a database that already holds data unless `drop` is set, in which case Folio's
    collections are emptied before anything is written.
    """
    documents = read_dump(path)
    models = _collections()
    existing = sum([await collection(m).estimated_document_count() for m in models.values()])
    if existing and not drop:
        raise ImportRefused(f"the database already holds {existing} documents (use --drop)")
    if drop:  # empty everything first, so a failure cannot leave old and new data mixed
        for model in models.values():
            await collection(model).delete_many({})
    counts = {}
    for name, model in models.items():
        await ensure_indexes(model)
        batch = documents.get(name, [])
        try:
            for start in range(0, len(batch), BATCH_SIZE):
                await collection(model).insert_many(batch[start : start + BATCH_SIZE], ordered=False)
        except BulkWriteError as error:
            failed = len(error.details.get("writeErrors", []))
            raise ImportRefused(
                f"{failed} {name} documents were refused (duplicate keys or invalid documents); "
                "the import stopped there: run it again with --drop after fixing the file"
            ) from None
        counts[name] = len(batch)
    # An export from before tag counts has no flags and no `tags`: count them as migration
    # 0006 does (a newer export carries both, and this finds nothing to do).
    await count_tags()
    return counts
