"""Removing uploads for good: account deletion and `folio media gc`. No HTTP.

An upload goes in steps, each safe to repeat, so an interrupted removal is finished by the next
pass: mark it (`deleting`: gone for the API at once), delete its renditions' GridFS files
(chunks first, then the files documents: a stray files document still names its upload, stray
chunks name nothing), then its `media` document, and last give its `stored_bytes` back to the
owner's `media_bytes` (only the call that removed the document does: exactly once). The media
routes' own deletion (DELETE /api/media/{id}) releases the quota the same way.
"""

from typing import Any

from beanie import PydanticObjectId

from models import Media, User
from models.common import utc_now
from models.media import BUCKET
from service.engine import collection

# The fields a removal reads from a `media` document.
PURGE_FIELDS = {"owner_id": 1, "renditions": 1, "stored_bytes": 1, "deleting": 1}


def bucket_collection(name: str) -> Any:
    """The media bucket's `files` or `chunks` collection (the driver's GridFS layout), for the
    tools that read or delete them by id (`folio db check`, export, import, removals)."""
    return Media.get_motor_collection().database[f"{BUCKET}.{name}"]


async def delete_files(file_ids: list[Any]) -> None:
    """Delete these GridFS files of the media bucket, chunks first; a missing one is no error.

    The one place that deletes the bucket's files by id: the engine adapter's bucket (its
    `delete`, one file at a time) can take over here without changing a caller.
    """
    if not file_ids:
        return
    await bucket_collection("chunks").delete_many({"files_id": {"$in": file_ids}})
    await bucket_collection("files").delete_many({"_id": {"$in": file_ids}})


async def mark_deleting(media: dict[str, Any]) -> Any:
    """Mark an upload as being deleted; the instant it set, or None when it was marked already."""
    now = utc_now()
    marked = await collection(Media).update_one(
        {"_id": media["_id"], "deleting": None}, {"$set": {"deleting": now}})
    return now if marked.modified_count else None


async def unmark(media: dict[str, Any], marked_at: Any) -> None:
    """Take back a mark this run set (the upload turned out to be used)."""
    await collection(Media).update_one(
        {"_id": media["_id"], "deleting": marked_at}, {"$set": {"deleting": None}})


async def remove(media: dict[str, Any], *, release_quota: bool) -> bool:
    """Remove one upload: mark it, delete its files, then its document, then (with
    `release_quota`) give its bytes back to the owner's quota; whether this call removed the
    document. Only the call that removes the document moves `media_bytes`: the quota is given
    back exactly once, and a stop just before leaves it high, never low."""
    if media.get("deleting") is None:
        await mark_deleting(media)
    renditions = media.get("renditions") or {}
    await delete_files([rendition["file_id"] for rendition in renditions.values()])
    removed = await collection(Media).delete_one({"_id": media["_id"], "deleting": {"$ne": None}})
    if removed.deleted_count != 1:
        return False
    if release_quota and media.get("stored_bytes"):
        await collection(User).update_one(
            {"_id": media["owner_id"]}, {"$inc": {"media_bytes": -media["stored_bytes"]}})
    return True


async def remove_owned(owner_id: PydanticObjectId, limit: int) -> int:
    """Remove the next `limit` uploads of an account being deleted (its quota goes with it);
    how many (0: none left). Served by `owner_newest`."""
    batch = await collection(Media).find({"owner_id": owner_id}, PURGE_FIELDS).limit(
        limit).to_list(None)
    for media in batch:
        await remove(media, release_quota=False)
    return len(batch)
