"""Moderation of the media library: hiding an upload and showing it again, logged. No HTTP.

A hidden upload keeps its bytes and its document: `moderation` is set on it, and the media
routes answer 404 for it to everyone but its owner and moderators (its bytes included). It can
no longer become a cover (service/media/covers.py); covers set before keep their paths, which
then answer 404 to the public like the upload itself.
"""

from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from models import Media, User
from models.common import utc_now
from service.contract.errors import NotFound
from service.engine import atomically, collection
from service.moderation.log import log_entry, write_log


async def media_to_moderate(media_id: str) -> dict[str, Any]:
    """The upload with this id, unless unknown or being deleted: NotFound then."""
    try:
        wanted = PydanticObjectId(ObjectId(media_id))
    except (InvalidId, TypeError):
        raise NotFound("media", "not found") from None
    found = await collection(Media).find_one({"_id": wanted, "deleting": None},
                                             {"owner_id": 1, "moderation": 1})
    if found is None:
        raise NotFound("media", "not found")
    return found


async def set_media_hidden(media: dict[str, Any], moderator: User, reason: str | None, *,
                           hidden: bool) -> dict[str, Any]:
    """Hide an upload, or show it again; the change and its log entry in one transaction where
    the server has them. Repeating an action that changes nothing logs nothing."""

    async def write(session: Any) -> dict[str, Any] | None:
        if hidden:
            assert reason is not None
            change: dict[str, Any] = {"$set": {"moderation": {
                "hidden": True, "reason": reason, "by": moderator.id, "at": utc_now()}}}
            unchanged: dict[str, Any] = {"moderation": None}
        else:
            change, unchanged = {"$set": {"moderation": None}}, {"moderation": {"$ne": None}}
        updated = await collection(Media).find_one_and_update(
            {"_id": media["_id"], "deleting": None, **unchanged}, change,
            projection={"owner_id": 1, "moderation": 1},
            return_document=ReturnDocument.AFTER, session=session,
        )
        if updated is None:
            return None  # already in that state (or gone): nothing to log
        action = "hide_media" if hidden else "unhide_media"
        await write_log(log_entry(moderator, action, "media", str(media["_id"]), reason,
                                  owner=await _owner_name(media["owner_id"], session)), session)
        return updated

    updated = await atomically(write)
    if updated is None:
        updated = await media_to_moderate(str(media["_id"]))
    return updated


async def _owner_name(owner_id: PydanticObjectId, session: Any) -> str | None:
    """The owner's username, copied into the log entry so that it reads after a deletion."""
    owner = await collection(User).find_one({"_id": owner_id}, {"username": 1}, session=session)
    return None if owner is None else owner["username"]
