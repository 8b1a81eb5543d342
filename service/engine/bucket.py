"""The media bucket: GridFS's standard layout (`media.files`, `media.chunks`) on either engine.

On MongoDB (and the wire tier) uploads and deletions go through the driver's GridFS,
`AsyncIOMotorGridFSBucket`. mongomock-motor offers GridFS only by patching PyMongo's blocking
`gridfs` module process-wide (`enabled_gridfs_integration`), so the embedded engine writes the
same documents itself, in the order the driver does: the chunks first, the files document last
(a files document always has all its chunks), and on deletion the files document first.

Reading is the same query on both engines: a rendition's chunks by `files_id_1_n_1`, in order,
only those a byte range spans, a few at a time (never the whole file in memory).
"""

import asyncio
import contextvars
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING

from models.media import BUCKET, BUCKET_INDEXES, CHUNK_SIZE
from service.engine.client import Engine, current_engine

# Chunks per getMore while serving: about 1 MiB in flight per response, whatever the file's size.
CHUNKS_PER_BATCH = 4


@dataclass(frozen=True)
class StoredFile:
    """What one upload wrote: the file id and its length in bytes."""

    file_id: ObjectId
    length: int


class MediaBucket:
    """The GridFS bucket `media` of the open engine: upload, delete, and read chunks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.files = engine.database[f"{BUCKET}.files"]
        self.chunks = engine.database[f"{BUCKET}.chunks"]

    async def upload(
        self, file_id: ObjectId, filename: str, data: bytes, metadata: dict[str, Any]
    ) -> StoredFile:
        """Store `data` as one GridFS file with this id, filename and metadata."""
        if not self.engine.embedded:
            from motor.motor_asyncio import AsyncIOMotorGridFSBucket

            bucket = AsyncIOMotorGridFSBucket(
                self.engine.database, bucket_name=BUCKET, chunk_size_bytes=CHUNK_SIZE
            )
            await bucket.upload_from_stream_with_id(file_id, filename, data, metadata=metadata)
            return StoredFile(file_id, len(data))
        pieces = [
            {"_id": ObjectId(), "files_id": file_id, "n": n, "data": data[start:start + CHUNK_SIZE]}
            for n, start in enumerate(range(0, len(data), CHUNK_SIZE))
        ]
        if pieces:
            await self.chunks.insert_many(pieces)
        await self.files.insert_one({
            "_id": file_id, "length": len(data), "chunkSize": CHUNK_SIZE,
            "uploadDate": _now_ms(), "filename": filename, "metadata": metadata,
        })
        return StoredFile(file_id, len(data))

    async def delete(self, file_id: ObjectId) -> bool:
        """Remove a file and its chunks; False if its files document was already gone (its
        chunks, if an earlier pass left any, are removed all the same)."""
        if not self.engine.embedded:
            from gridfs.errors import NoFile
            from motor.motor_asyncio import AsyncIOMotorGridFSBucket

            bucket = AsyncIOMotorGridFSBucket(self.engine.database, bucket_name=BUCKET)
            try:
                await bucket.delete(file_id)  # the files document, then the chunks
            except NoFile:
                return False
            return True
        removed = await self.files.delete_one({"_id": file_id})
        await self.chunks.delete_many({"files_id": file_id})
        return removed.deleted_count == 1

    async def read(self, file_id: ObjectId, first: int, last: int) -> AsyncIterator[bytes]:
        """The data of chunks `first`..`last` (inclusive) of a file, in order: one indexed query,
        fetched CHUNKS_PER_BATCH at a time.

        Each fetch runs in a fresh context, under the client's own per-operation budget rather
        than the request's deadline: the response streams at the reader's pace, and a slow
        reader of a large file must not run the request out of its database time.
        """
        cursor = self.chunks.find(
            {"files_id": file_id, "n": {"$gte": first, "$lte": last}}, {"_id": 0, "data": 1}
        ).sort([("files_id", ASCENDING), ("n", ASCENDING)]).batch_size(CHUNKS_PER_BATCH)
        loop = asyncio.get_running_loop()
        fresh = contextvars.Context()
        try:
            while True:
                try:
                    chunk = await loop.create_task(cursor.__anext__(), context=fresh)
                except StopAsyncIteration:
                    return
                yield bytes(chunk["data"])
        finally:
            closing = cursor.close()
            if inspect.isawaitable(closing):  # Motor's close is a coroutine, mongomock's is not
                await closing


def _now_ms() -> datetime:
    """Now, to the millisecond BSON keeps (as the driver stamps `uploadDate`)."""
    from models.common import utc_now

    moment = utc_now()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def media_bucket(engine: Engine | None = None) -> MediaBucket:
    """The media bucket of this engine (the open one by default)."""
    return MediaBucket(engine or current_engine())


def bucket_indexes() -> dict[str, dict[str, dict[str, Any]]]:
    """The bucket's declared indexes, per collection, as index documents by name."""
    return {name: {index.document["name"]: index.document for index in indexes}
            for name, indexes in BUCKET_INDEXES.items()}


async def create_bucket_indexes(engine: Engine | None = None) -> int:
    """Create the bucket's two indexes (a no-op where they exist); how many are declared."""
    engine = engine or current_engine()
    count = 0
    for name, indexes in BUCKET_INDEXES.items():
        for index in indexes:
            options = dict(index.document)
            await engine.database[name].create_index(list(options.pop("key").items()), **options)
            count += 1
    return count


async def bucket_index_information(engine: Engine | None = None) -> dict[str, dict[str, Any]]:
    """The live indexes of the bucket's collections, per collection."""
    engine = engine or current_engine()
    return {name: await engine.database[name].index_information() for name in BUCKET_INDEXES}
