"""The media library's reads and writes: storing an upload within its owner's quota, listing,
editing, and deleting it (resumably). No HTTP here.

Storing an upload, in this order:
1. reserve its bytes in the owner's quota: one conditional `$inc` of `users.media_bytes`;
2. write each rendition to the GridFS bucket `media` (chunks, then the files document);
3. insert the `media` document, which is what makes the upload exist for the API.
A failure in 2 or 3 removes what was written and releases the reservation. A process that
stops in between (a crash, a kill) leaves, at worst: `users.media_bytes` counting bytes that no
`media` document holds, and `media.files` documents (with their chunks) whose
`metadata.mediaId` names no `media` document. `folio db check` finds both (files documents
older than an hour whose media is missing, and owners whose `media_bytes` differs from the sum
of their media's `stored_bytes`); nothing is ever visible through the API meanwhile.
"""

from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo.errors import PyMongoError

from models import Media, User
from models.common import utc_now
from service.contract.cursors import after_condition, keyset_cursor
from service.contract.errors import Conflict, FolioError, Forbidden, NotFound
from service.engine import collection, detached, media_bucket
from service.media import usage
from service.media.images import Image
from service.observability import metrics

NEWEST: list[tuple[str, int]] = [("_id", -1)]
LIVE = {"deleting": None}  # a media being deleted is gone for the API at once


class QuotaExceeded(FolioError):
    """The upload would take its owner past FOLIO_MEDIA_QUOTA_BYTES (413)."""

    status_code = 413


def media_object_id(raw: str) -> ObjectId:
    """The id in a path; NotFound for anything that is not an ObjectId (no such media)."""
    if not ObjectId.is_valid(raw):
        raise NotFound("media", "not found")
    return ObjectId(raw)


async def reserve_quota(owner_id: PydanticObjectId, size: int, quota: int) -> None:
    """Count `size` bytes against the owner's quota, in one conditional `$inc`; QuotaExceeded
    if that would pass `quota` (an account without the field has used nothing)."""
    if size > quota:
        raise QuotaExceeded("quota", f"would be exceeded: this upload needs {size} bytes, the "
                            f"quota is {quota} bytes per user")
    reserved = await collection(User).update_one(
        {"_id": owner_id, "media_bytes": {"$not": {"$gt": quota - size}}},
        {"$inc": {"media_bytes": size}},
    )
    if reserved.matched_count == 0:
        raise QuotaExceeded("quota", f"would be exceeded: this upload needs {size} bytes and "
                            f"the quota is {quota} bytes per user; delete some media first")


async def release_quota(owner_id: PydanticObjectId, size: int) -> None:
    """Give `size` bytes back to the owner's quota."""
    await collection(User).update_one({"_id": owner_id}, {"$inc": {"media_bytes": -size}})


async def store_upload(
    owner_id: PydanticObjectId, images: list[Image], alt: str | None, quota: int
) -> dict[str, Any]:
    """Store processed renditions (the original first) as one upload; its `media` document.

    QuotaExceeded (nothing written) past the quota; on any failure after the reservation,
    what was written is removed and the reservation released before the error goes on.
    """
    stored_bytes = sum(len(image.data) for image in images)
    await reserve_quota(owner_id, stored_bytes, quota)
    media_id = ObjectId()
    bucket = media_bucket()
    written: list[ObjectId] = []
    try:
        renditions = {}
        for image in images:
            file_id = ObjectId()
            written.append(file_id)
            await bucket.upload(file_id, f"{media_id}/{image.name}", image.data, {
                "mediaId": media_id, "ownerId": owner_id,
                "rendition": image.name, "contentType": image.content_type,
            })
            renditions[image.name] = {
                "file_id": file_id, "content_type": image.content_type,
                "width": image.width, "height": image.height, "size": len(image.data),
            }
        document = Media.model_validate({
            "_id": media_id, "owner_id": owner_id, "alt": alt,
            "renditions": renditions, "stored_bytes": stored_bytes,
        })
        await collection(Media).insert_one(document.model_dump(by_alias=True))
    except BaseException:
        # Under a fresh budget: the failure may be this request's deadline running out.
        await detached(_undo, written, owner_id, stored_bytes)
        raise
    metrics.media_bytes_written(stored_bytes)
    return document.model_dump(by_alias=True)


async def _undo(file_ids: list[ObjectId], owner_id: PydanticObjectId, size: int) -> None:
    """Remove the files an interrupted upload wrote and release its reservation (best effort:
    what this cannot remove is what `folio db check` reports)."""
    try:
        bucket = media_bucket()
        for file_id in file_ids:
            await bucket.delete(file_id)
        await release_quota(owner_id, size)
    except PyMongoError:
        pass


async def live_media(media_id: ObjectId) -> dict[str, Any]:
    """A media that is not being deleted; NotFound otherwise."""
    found = await collection(Media).find_one({"_id": media_id, **LIVE})
    if found is None:
        raise NotFound("media", "not found")
    return found


@dataclass
class MediaPage:
    """A page of one owner's media, how many they have, and the next page's cursor."""

    media: list[dict[str, Any]]
    total: int
    next_cursor: str | None


async def media_page(owner_id: PydanticObjectId, limit: int, cursor: str | None) -> MediaPage:
    """One owner's media, newest first, by `owner_newest`: the page (one more, to know whether
    another follows) and the count, two indexed reads."""
    mine = {"owner_id": owner_id, **LIVE}
    query = {"$and": [mine, after_condition(cursor, NEWEST)]} if cursor else mine
    rows = await collection(Media).find(query).sort(NEWEST).limit(limit + 1).to_list(limit + 1)
    total = await collection(Media).count_documents(mine)
    next_cursor = keyset_cursor(NEWEST, rows[limit - 1]) if len(rows) > limit else None
    return MediaPage(rows[:limit], total, next_cursor)


async def set_alt(media: dict[str, Any], alt: str | None) -> dict[str, Any]:
    """Change a media's alt text; the document as it now is (NotFound if deleted meanwhile)."""
    changed = await collection(Media).find_one_and_update(
        {"_id": media["_id"], **LIVE}, {"$set": {"alt": alt}}, return_document=True
    )
    if changed is None:
        raise NotFound("media", "not found")
    return changed


def owned(media: dict[str, Any], user_id: PydanticObjectId) -> dict[str, Any]:
    """The media if this user uploaded it; Forbidden otherwise."""
    if media["owner_id"] != user_id:
        raise Forbidden("media", "belongs to another user")
    return media


async def delete_media(media: dict[str, Any]) -> None:
    """Delete an upload: Conflict (409, naming the articles) while any article uses it; else
    mark it `deleting` (gone for the API at once), then finish the deletion."""
    slugs = await usage.articles_using(PydanticObjectId(media["_id"]))
    if slugs:
        raise Conflict("media", "is used by articles: " + ", ".join(slugs))
    await collection(Media).update_one(
        {"_id": media["_id"], "deleting": None}, {"$set": {"deleting": utc_now()}}
    )
    await finish_deletion(media)


async def finish_deletion(media: dict[str, Any]) -> bool:
    """Remove a marked media's GridFS files, then its document, then its bytes from the owner's
    quota; whether this call removed the document.

    Each step can run again: an interrupted pass is finished by the next (a retried DELETE or
    the deletion sweeper). Only the pass that removes the document moves `media_bytes`, so the
    quota is released exactly once; a stop between the two leaves the count high (never low),
    which `folio db check` finds.
    """
    bucket = media_bucket()
    for rendition in media["renditions"].values():
        await bucket.delete(rendition["file_id"])
    # Only while still marked: `folio media gc` takes its mark back when an article started
    # using the upload meanwhile, and then the document stays.
    removed = await collection(Media).delete_one({"_id": media["_id"], "deleting": {"$ne": None}})
    if removed.deleted_count != 1:
        return False
    await release_quota(media["owner_id"], media["stored_bytes"])
    metrics.media_bytes_removed(media["stored_bytes"])
    return True


async def resume_deletions(limit: int) -> int:
    """Finish up to `limit` deletions that a stopped request left (`deleting` set), oldest
    first, by the `deleting_since` index; how many it finished."""
    marked = await collection(Media).find({"deleting": {"$type": "date"}}).sort(
        [("deleting", 1)]).limit(limit).to_list(limit)
    finished = 0
    for media in marked:
        finished += await finish_deletion(media)
    return finished


async def serving_facts(media_id: ObjectId, rendition: str) -> dict[str, Any] | None:
    """What serving one rendition needs, in one read by `_id`: its owner, its moderation and
    that rendition (None when the media or the rendition does not exist, or is being deleted)."""
    found = await collection(Media).find_one(
        {"_id": media_id, **LIVE},
        {"owner_id": 1, "moderation": 1, f"renditions.{rendition}": 1},
    )
    if found is None or rendition not in (found.get("renditions") or {}):
        return None
    return found


def is_hidden(media: dict[str, Any]) -> bool:
    """Whether moderation hides this media (from all but its owner and moderators)."""
    moderation = media.get("moderation")
    return bool(moderation and moderation.get("hidden", True))

