"""Lossless export and import: every Folio collection as canonical Extended JSON lines.

Each line is `{"collection": <name>, "document": <document>}` in MongoDB Extended JSON v2,
canonical mode, so ObjectIds, dates (to the millisecond) and 32/64-bit integers round-trip
exactly, and the file reads in `mongoimport`-style tooling or by eye. The last line is the
trailer, `{"folio_export": {"format": 2, "counts": {...}, "schema": [...], "sha256": "..."}}`:
the documents per collection, the migrations applied to the data (its schema version) and the
SHA-256 of every line before it. A file without its trailer (cut off, empty) or whose counts or
checksum disagree with its lines is refused before anything is written.

The media library's bytes ride along: the GridFS bucket's `media.files` and `media.chunks` are
exported after the models' collections (the chunks' bytes as BSON binary, `$binary` in
canonical Extended JSON), so an export holds every upload. An export from before media simply
has none of these lines.
"""

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import bson
from bson import json_util
from bson.errors import InvalidDocument
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo.errors import BulkWriteError

from models import DOCUMENT_MODELS, AppliedMigration, Webhook, WebhookDelivery
from models.media import BUCKET_INDEXES
from scripts.dbtools import ensure_indexes
from scripts.seed import BATCH_SIZE, count_tags
from service.engine import Engine, collection, create_bucket_indexes

OPTIONS = CANONICAL_JSON_OPTIONS.with_options(tz_aware=True)
FORMAT = 2
TRAILER = "folio_export"
LEDGER = AppliedMigration.Settings.name
# BSON documents nest at most 100 levels deep in MongoDB; Folio's own are far shallower.
MAX_DEPTH = 100
# A line longer than this cannot hold one document (16 MB of BSON, a little more as JSON).
MAX_LINE_BYTES = 64 * 1024 * 1024
INT64 = (-(2**63), 2**63 - 1)
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
IMPORTED_WEBHOOK = "imported without its secret: rotate the secret, then enable it"


# The media library's GridFS bucket (models/media.py): collections of the driver's layout, with
# no model. Exported after the models' collections, their chunks' bytes as BSON binary
# (`{"$binary": {"base64": …, "subType": "00"}}` in canonical Extended JSON), and imported with
# the bucket's declared indexes (the engine adapter's `create_bucket_indexes`).
BUCKET_COLLECTIONS = tuple(BUCKET_INDEXES)


class ImportRefused(Exception):
    """The target already holds data, or the file is not a complete Folio export."""


@dataclass
class Dump:
    """A checked export: documents per collection, and the migrations its data has had."""

    documents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    schema: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Documents per collection, every Folio collection named."""
        return {name: len(self.documents.get(name, [])) for name in _known()}


# Not data to move: the event outbox (its events expire, and re-announcing them from another
# database would announce changes twice), the process leases, single-use stream tickets (they
# live a minute) and webhook deliveries (a sending log holding copies of event payloads). Exports
# leave them out, and an import neither needs nor empties them. Notifications are exported
# (users' data, like their follows).
NOT_EXPORTED = frozenset({"events", "leases", "stream_tickets", WebhookDelivery.Settings.name})


def _collections() -> dict[str, type]:
    return {model.Settings.name: model for model in DOCUMENT_MODELS
            if model.Settings.name not in NOT_EXPORTED}


def _for_export(name: str, document: dict[str, Any]) -> dict[str, Any]:
    """A document as an export holds it: a webhook without its signing secret, and disabled
    (an export file is handed around; the secret is a credential shared with one receiver)."""
    if name != Webhook.Settings.name:
        return document
    return {**document, "secret": None, "enabled": False, "disabled_reason": IMPORTED_WEBHOOK}


def _known() -> list[str]:
    """Every collection an export holds: the models' and the media bucket's."""
    return [*_collections(), *BUCKET_COLLECTIONS]


def _encode(line: dict[str, Any]) -> bytes:
    return (json_util.dumps(line, json_options=OPTIONS) + "\n").encode("utf-8")


class ExportWriter:
    """Writes export lines to an open binary file, then the trailer that vouches for them."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.counts: dict[str, int] = dict.fromkeys(_known(), 0)
        self.schema: list[str] = []
        self.digest = hashlib.sha256()

    def add(self, name: str, document: dict[str, Any]) -> None:
        """Write one document of one collection."""
        line = _encode({"collection": name, "document": document})
        self.digest.update(line)
        self.out.write(line)
        self.counts[name] = self.counts.get(name, 0) + 1
        if name == LEDGER:
            self.schema.append(document["_id"])

    def finish(self) -> dict[str, int]:
        """Write the trailer (counts, schema, checksum); documents per collection."""
        trailer = {"format": FORMAT, "counts": self.counts, "schema": self.schema,
                   "sha256": self.digest.hexdigest()}
        self.out.write((json.dumps({TRAILER: trailer}) + "\n").encode("utf-8"))  # plain, for eyes
        return self.counts


async def export(engine: Engine, path: Path) -> dict[str, int]:
    """Write every collection (but NOT_EXPORTED, and webhooks without secrets), documents in
    `_id` order, then the trailer; documents per collection.

    The file is written beside its target and renamed into place once complete, so a failure
    half-way leaves any earlier export untouched.
    """
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            writer = ExportWriter(out)
            for name, model in _collections().items():
                async for document in collection(model).find({}).sort("_id", 1):
                    writer.add(name, _for_export(name, document))
            for name in BUCKET_COLLECTIONS:
                async for document in engine.database[name].find({}).sort("_id", 1):
                    writer.add(name, document)
            counts = writer.finish()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return counts


def _lines(source: BinaryIO, path: Path) -> Iterator[tuple[int, bytes, str]]:
    """(number, raw bytes, text) per line; a file that is not UTF-8 text is refused."""
    for number, raw in enumerate(source, start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise ImportRefused(f"line {number} is longer than any document can be")
        try:
            yield number, raw, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportRefused(f"{path} is not a text file; expected a `folio export` file") from None


def _shape_problem(document: dict[str, Any]) -> str | None:
    """Why MongoDB would refuse a document, or None: no `_id`, too deep, a field name or a
    value it cannot store. Walked without recursion, so that no depth can exhaust the stack."""
    if "_id" not in document:
        return "has no _id"
    if isinstance(document["_id"], list):
        return "has an array as its _id"
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            for key, item in value.items():
                if key.startswith("$") or "\x00" in key:
                    return f"holds a field name MongoDB cannot store ({key[:40]!r})"
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
            return "holds an integer larger than 64 bits"
    return None


def _encoding_problem(document: dict[str, Any]) -> str | None:
    """Why the document cannot be encoded as one BSON document MongoDB stores, or None."""
    try:
        size = len(bson.encode(document))
    except (InvalidDocument, UnicodeEncodeError, OverflowError, ValueError) as error:
        return f"cannot be stored as BSON ({str(error).splitlines()[0][:80]})"
    if size > MAX_DOCUMENT_BYTES:
        return f"is larger than MongoDB's {MAX_DOCUMENT_BYTES // 2**20} MB document limit"
    return None


def _parse(number: int, text: str) -> dict[str, Any]:
    """One line as a JSON object, or ImportRefused naming the line."""
    try:
        line = json_util.loads(text, json_options=OPTIONS)
    # Hostile text can fail the parser in many ways (a bad $oid or $date, a RecursionError on
    # deep nesting, an overflowing $numberLong): each means the line is not an export line.
    except Exception as error:  # noqa: BLE001
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise ImportRefused(f"line {number} is not a Folio export line: {reason}") from None
    if not isinstance(line, dict):
        raise ImportRefused(f"line {number} is not a Folio export line: not a JSON object")
    return line


def _check_trailer(trailer: Any, documents: dict[str, list[Any]], digest: str) -> list[str]:
    """The schema a trailer records, once its counts and checksum match what was read."""
    if not isinstance(trailer, dict) or trailer.get("format") != FORMAT:
        raise ImportRefused("the trailer is not that of a `folio export` file of this version")
    counts, schema = trailer.get("counts"), trailer.get("schema")
    if not isinstance(counts, dict) or not isinstance(schema, list):
        raise ImportRefused("the trailer is not that of a `folio export` file of this version")
    read = {name: len(documents.get(name, [])) for name in counts}
    if read != counts or set(documents) - set(counts):
        raise ImportRefused(f"the file holds other documents than its trailer counts ({counts})")
    if trailer.get("sha256") != digest:
        raise ImportRefused("the file's checksum does not match its trailer: it was changed "
                            "or damaged after `folio export` wrote it")
    return [str(entry) for entry in schema]


def read_dump(path: Path) -> Dump:
    """Parse and check a whole export before anything is written.

    Every line must be an export line (an object with a known `collection` and a `document`
    object holding an `_id`, storable by MongoDB), no `_id` may repeat within a collection, and
    the trailer must be last, with the counts and checksum of the lines before it.
    """
    known = _known()
    documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: dict[str, set[str]] = defaultdict(set)
    digest = hashlib.sha256()
    schema: list[str] | None = None
    with path.open("rb") as source:
        for number, raw, text in _lines(source, path):
            if schema is not None:
                if text.strip():
                    raise ImportRefused(f"line {number} follows the export's trailer")
                continue
            line = _parse(number, text)
            if set(line) == {TRAILER}:
                schema = _check_trailer(line[TRAILER], documents, digest.hexdigest())
                continue
            if set(line) != {"collection", "document"}:
                raise ImportRefused(f"line {number} is not a Folio export line: it must hold "
                                    "exactly `collection` and `document`")
            name, document = line["collection"], line["document"]
            if not isinstance(name, str) or name not in known:
                raise ImportRefused(f"line {number} names an unknown collection {str(name)[:40]!r}")
            if not isinstance(document, dict):
                raise ImportRefused(f"line {number}: the {name} document is not an object")
            if problem := _shape_problem(document) or _encoding_problem(document):
                raise ImportRefused(f"line {number}: the {name} document {problem}")
            key = json_util.dumps(document["_id"], json_options=OPTIONS)
            if key in seen[name]:
                raise ImportRefused(f"line {number}: a second {name} document with the _id {key}")
            seen[name].add(key)
            digest.update(raw)
            documents[name].append(document)
    if schema is None:
        raise ImportRefused("the file ends without the trailer `folio export` writes last: it is "
                            "empty, cut off, or not a complete export")
    ledger = sorted(str(entry["_id"]) for entry in documents.get(LEDGER, []))
    if ledger != sorted(schema):
        raise ImportRefused("the trailer's schema does not match the file's migrations")
    return Dump(dict(documents), schema)


def schema_name(applied: list[str]) -> str:
    """A schema version as an operator names it: its last migration, or `base`."""
    return max(applied) if applied else "base"


async def applied_migrations() -> list[str]:
    """The migrations this database's ledger records."""
    return sorted([entry["_id"] async for entry in collection(AppliedMigration).find({}, {"_id": 1})])


def _schema_refusal(exported: list[str], current: list[str]) -> str:
    """Why an export at one schema cannot go into a database at another, and what to run."""
    wanted, here = schema_name(exported), schema_name(current)
    direction = "down" if set(exported) < set(current) else "up"
    return (f"the export's data is at schema {wanted} but this database's ledger is at {here}: "
            f"run `folio migrate {direction} --to {wanted}` on it first (or import into a new "
            "database), then import, then `folio migrate up`")


async def _insert_batches(target: Any, name: str, batch: list[dict[str, Any]], step: int,
                          refused_for: str) -> None:
    """Insert `batch` into `target` `step` documents at a time; ImportRefused naming how many
    documents the server refused, and why they may have been."""
    try:
        for start in range(0, len(batch), step):
            await target.insert_many(batch[start : start + step], ordered=False)
    except BulkWriteError as error:
        failed = len(error.details.get("writeErrors", []))
        raise ImportRefused(
            f"{failed} {name} documents were refused ({refused_for}); the import stopped there: "
            "run it again with --drop after fixing the file"
        ) from None


async def import_dump(engine: Engine, source: Path | Dump, *, drop: bool = False) -> dict[str, int]:
    """Load an export into this database, re-creating the declared indexes first.

    The whole file is checked first. The migrations ledger is the database's own: it is neither
    counted as data nor dropped. A database whose ledger is empty takes the export's; one whose
    ledger records another schema than the export's is refused. Refuses a database that already
    holds data unless `drop` is set, in which case Folio's collections (but the ledger) are
    emptied before anything is written.
    """
    dump = source if isinstance(source, Dump) else read_dump(source)
    models = _collections()
    data = {name: model for name, model in models.items() if name != LEDGER}
    current = await applied_migrations()
    if current and current != sorted(dump.schema):
        raise ImportRefused(_schema_refusal(dump.schema, current))
    buckets = {name: engine.database[name] for name in BUCKET_COLLECTIONS}
    existing = sum([await collection(m).estimated_document_count() for m in data.values()]
                   + [await raw.estimated_document_count() for raw in buckets.values()])
    if existing and not drop:
        raise ImportRefused(f"the database already holds {existing} documents (use --drop)")
    if drop:  # empty everything first, so a failure cannot leave old and new data mixed
        for model in data.values():
            await collection(model).delete_many({})
        for raw in buckets.values():
            await raw.delete_many({})
    counts = {}
    for name, model in models.items():
        await ensure_indexes(model)
        batch = dump.documents.get(name, [])
        if name == LEDGER and current:
            counts[name] = 0  # the same migrations are recorded already
            continue
        await _insert_batches(collection(model), name, batch, BATCH_SIZE,
                              "duplicate keys or invalid documents")
        counts[name] = len(batch)
    await create_bucket_indexes(engine)
    for name, raw in buckets.items():
        batch = dump.documents.get(name, [])
        # A few chunks per insert: each holds up to 255 KiB of bytes.
        step = 16 if name.endswith(".chunks") else BATCH_SIZE
        await _insert_batches(raw, name, batch, step, "duplicate keys")
        counts[name] = len(batch)
    # An export from before tag counts has no flags and no `tags`: count them as migration
    # 0006 does (a newer export carries both, and this finds nothing to do).
    await count_tags()
    return counts


async def check_loadable(path: Path) -> dict[str, int]:
    """Load an export into a throwaway embedded engine: what `serve --load` will do, done first.

    This finds what only inserting can (a duplicate slug or email under a unique index) before
    a server starts. ImportRefused names the problem.
    """
    from service.config import Settings
    from service.engine import open_engine

    dump = read_dump(path)
    engine_log = logging.getLogger("folio.db")  # the adapter's logger
    quiet = engine_log.disabled
    engine_log.disabled = True  # its "embedded engine" warning is about the server, not this trial
    try:
        trial = await open_engine(Settings(mongodb_url=None, jwt_secret="x" * 32))  # type: ignore[arg-type]
    finally:
        engine_log.disabled = quiet
    try:
        return await import_dump(trial, dump)
    finally:
        trial.close()


def trailer_of(path: Path) -> dict[str, Any]:
    """The trailer of an export file (for tools and tests)."""
    last = path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return json.loads(last)[TRAILER]
