"""`folio db check`'s media findings: the GridFS bucket `media` against the `media` documents.

Three kinds, each found by reading one collection in `_id` batches and asking the other by
`$in` (one indexed read per batch, never a scan per document):
- orphaned chunks: `media.chunks` whose files document is gone (files deleted by hand, or a
  driver's delete interrupted between the two), once older than FILES_GRACE (by their `_id`'s
  time: an upload writes its chunks before its files document);
- files without metadata: `media.files` whose upload has no `media` document, once older than
  FILES_GRACE (an upload stores its files before its document, so a young one is in flight);
- media whose owner is gone: `media` documents whose `owner_id` names no account (account
  deletion removes an account's uploads before the account: one left is a bug or a hand edit);
and media whose files are missing (a rendition's file id that `media.files` lacks).
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from models import Media, User
from models.common import as_utc, utc_now
from service.engine import collection
from service.media.purge import bucket_collection

BATCH = 500
FILES_GRACE = timedelta(hours=1)
MAX_LISTED = 20  # lines per finding; the rest are counted


class Findings:
    """Lines per kind of finding (the first MAX_LISTED) and how many of each."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}

    def add(self, kind: str, line: str, count: int = 1) -> None:
        """Record one finding (`count` documents)."""
        self.counts[kind] = self.counts.get(kind, 0) + count
        lines = self.lines.setdefault(kind, [])
        if len(lines) < MAX_LISTED:
            lines.append(line)


async def _batches(source: Any, projection: dict[str, Any]) -> Any:
    """The collection's documents, BATCH at a time in `_id` order."""
    last = None
    while True:
        query = {} if last is None else {"_id": {"$gt": last}}
        batch = await source.find(query, projection).sort("_id", 1).limit(BATCH).to_list(None)
        if not batch:
            return
        yield batch
        last = batch[-1]["_id"]


async def _existing(source: Any, ids: set[Any]) -> set[Any]:
    """Which of these `_id`s the collection holds."""
    found = await source.find({"_id": {"$in": list(ids)}}, {"_id": 1}).to_list(None)
    return {document["_id"] for document in found}


async def media_findings(now: datetime | None = None,
                         report: Callable[[int], None] = lambda n: None) -> Findings:
    """Everything out of place between the bucket, the `media` documents and the accounts."""
    now = now or utc_now()
    findings = Findings()
    files, chunks = bucket_collection("files"), bucket_collection("chunks")
    async for batch in _batches(chunks, {"files_id": 1}):
        present = await _existing(files, {chunk["files_id"] for chunk in batch})
        orphaned: dict[Any, int] = {}
        for chunk in batch:
            # A chunk is written before its files document: a young one may be in flight.
            young = as_utc(chunk["_id"].generation_time) > now - FILES_GRACE
            if chunk["files_id"] not in present and not young:
                orphaned[chunk["files_id"]] = orphaned.get(chunk["files_id"], 0) + 1
        for file_id, count in orphaned.items():
            findings.add("orphaned chunks", f"{count} chunks of the missing file {file_id}", count)
        report(len(batch))
    async for batch in _batches(files, {"metadata.mediaId": 1, "uploadDate": 1, "filename": 1}):
        settled = [f for f in batch if as_utc(f.get("uploadDate") or now) <= now - FILES_GRACE]
        wanted = {(f.get("metadata") or {}).get("mediaId") for f in settled} - {None}
        present = await _existing(collection(Media), wanted) if wanted else set()
        for stray in settled:
            if (stray.get("metadata") or {}).get("mediaId") not in present:
                findings.add("files without metadata",
                             f"file {stray['_id']} ({stray.get('filename')}) has no media document")
        report(len(batch))
    async for batch in _batches(collection(Media), {"owner_id": 1, "renditions": 1, "deleting": 1}):
        owners = await _existing(collection(User), {media["owner_id"] for media in batch})
        file_ids = {r["file_id"] for media in batch for r in (media.get("renditions") or {}).values()}
        stored = await _existing(files, file_ids) if file_ids else set()
        for media in batch:
            if media["owner_id"] not in owners:
                findings.add("media whose owner is gone",
                             f"media {media['_id']} of the missing account {media['owner_id']}")
            for name, rendition in (media.get("renditions") or {}).items():
                # One being removed loses its files first, by design.
                if rendition["file_id"] not in stored and media.get("deleting") is None:
                    findings.add("media missing files",
                                 f"media {media['_id']}: its {name} file {rendition['file_id']} is gone")
        report(len(batch))
    return findings


class Strays:
    """What `remove_strays` removed."""

    def __init__(self) -> None:
        self.chunks = 0
        self.files = 0


async def remove_strays(grace: timedelta, now: datetime | None = None) -> Strays:
    """Remove what `media_findings` reports as orphaned chunks and files without metadata,
    once older than `grace` (at least FILES_GRACE), in batches; repeatable."""
    now = now or utc_now()
    grace = max(grace, FILES_GRACE)
    removed = Strays()
    files, chunks = bucket_collection("files"), bucket_collection("chunks")
    async for batch in _batches(files, {"metadata.mediaId": 1, "uploadDate": 1}):
        settled = [f for f in batch if as_utc(f.get("uploadDate") or now) <= now - grace]
        wanted = {(f.get("metadata") or {}).get("mediaId") for f in settled} - {None}
        present = await _existing(collection(Media), wanted) if wanted else set()
        stray = [f["_id"] for f in settled
                 if (f.get("metadata") or {}).get("mediaId") not in present]
        if stray:
            # Chunks first, as every removal does: a files document left names its upload.
            removed.chunks += (await chunks.delete_many({"files_id": {"$in": stray}})).deleted_count
            removed.files += (await files.delete_many({"_id": {"$in": stray}})).deleted_count
    async for batch in _batches(chunks, {"files_id": 1}):
        present = await _existing(files, {chunk["files_id"] for chunk in batch})
        orphaned = [chunk["_id"] for chunk in batch if chunk["files_id"] not in present
                    and as_utc(chunk["_id"].generation_time) <= now - grace]
        if orphaned:
            removed.chunks += (await chunks.delete_many({"_id": {"$in": orphaned}})).deleted_count
    return removed
