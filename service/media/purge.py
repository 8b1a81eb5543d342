"""Removing uploads for good: account deletion and `folio media gc`. No HTTP.

An upload goes in steps, each safe to repeat, so an interrupted removal is finished by the next
pass: mark it (`deleting`: gone for the API at once), delete its renditions' GridFS files
(chunks first, then the files documents: a stray files document still names its upload, stray
chunks name nothing), then its `media` document, and last give its `stored_bytes` back to the
owner's `media_bytes` (only the call that removed the document does: exactly once): the media
routes' own deletion (`queries.finish_deletion`), which this reuses.
"""

from typing import Any

from beanie import PydanticObjectId

from models import Media
from models.common import utc_now
from models.media import BUCKET
from service.engine import collection
from service.media.queries import finish_deletion

# The fields a removal reads from a `media` document.
PURGE_FIELDS = {"owner_id": 1, "renditions": 1, "stored_bytes": 1, "deleting": 1}


def bucket_collection(name: str) -> Any:
    """The media bucket's `files` or `chunks` collection (the driver's GridFS layout), for the
    tools that read or delete them by id (`folio db check`, export, import, removals)."""
    return Media.get_motor_collection().database[f"{BUCKET}.{name}"]


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


async def remove(media: dict[str, Any]) -> bool:
    """Remove one upload: mark it, then finish its deletion as the media routes do (its files,
    its document, and its bytes back to the owner's quota, exactly once); whether this call
    removed the document."""
    if media.get("deleting") is None:
        await mark_deleting(media)
    return await finish_deletion(media)


async def remove_owned(owner_id: PydanticObjectId, limit: int) -> int:
    """Remove the next `limit` uploads of an account being deleted (its quota goes with it);
    how many (0: none left). Served by `owner_newest`."""
    batch = await collection(Media).find({"owner_id": owner_id}, PURGE_FIELDS).limit(
        limit).to_list(None)
    for media in batch:
        await remove(media)
    return len(batch)
