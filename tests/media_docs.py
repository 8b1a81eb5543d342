"""Media stored as the upload route stores it, written directly: the `media` document and its
renditions' GridFS files in the standard layout (bucket `media`), for tests of what uses media."""

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from models import Media, User
from models.common import utc_now
from models.media import BUCKET, CHUNK_SIZE

VARIANTS = {"w320": (320, 240)}


def bucket(name: str) -> Any:
    """The raw `media.files` or `media.chunks` collection."""
    return Media.get_motor_collection().database[f"{BUCKET}.{name}"]


async def store_file(media_id: ObjectId, owner_id: ObjectId, rendition: str, content_type: str,
                     data: bytes, uploaded: datetime) -> ObjectId:
    """One GridFS file (files document and its chunks) as the driver writes it."""
    file_id = ObjectId()
    chunks = [data[at:at + CHUNK_SIZE] for at in range(0, len(data), CHUNK_SIZE)] or [b""]
    await bucket("chunks").insert_many(
        [{"files_id": file_id, "n": n, "data": chunk} for n, chunk in enumerate(chunks)])
    await bucket("files").insert_one({
        "_id": file_id, "length": len(data), "chunkSize": CHUNK_SIZE, "uploadDate": uploaded,
        "filename": f"{media_id}/{rendition}",
        "metadata": {"mediaId": media_id, "ownerId": owner_id, "rendition": rendition,
                     "contentType": content_type},
    })
    return file_id


async def insert_media(owner_id: ObjectId, *, age: timedelta = timedelta(0),
                       hidden: bool = False, size: int = 1000) -> dict[str, Any]:
    """An upload of `owner_id` (a 640x480 JPEG and a w320 WebP), `age` old; its document."""
    created = utc_now() - age
    media_id = ObjectId.from_datetime(created)
    media_id = ObjectId(str(media_id)[:8] + str(ObjectId())[8:])  # unique within the second
    renditions = {}
    for name, (width, height, kind) in {"original": (640, 480, "image/jpeg"),
                                        **{k: (*v, "image/webp") for k, v in VARIANTS.items()}}.items():
        data = bytes([len(name)]) * size
        file_id = await store_file(media_id, owner_id, name, kind, data, created)
        renditions[name] = {"file_id": file_id, "content_type": kind, "width": width,
                            "height": height, "size": size}
    document = {
        "_id": media_id, "owner_id": owner_id, "alt": "a photo", "renditions": renditions,
        "stored_bytes": size * len(renditions), "deleting": None, "schema_version": 1,
        "created_at": created,
        "moderation": {"hidden": True, "reason": "spam", "by": owner_id, "at": created}
        if hidden else None,
    }
    await Media.get_motor_collection().insert_one(document)
    await User.get_motor_collection().update_one(
        {"_id": owner_id}, {"$inc": {"media_bytes": document["stored_bytes"]}})
    return document


async def user_id(username: str) -> ObjectId:
    """An account's `_id`."""
    found = await User.get_motor_collection().find_one({"username": username}, {"_id": 1})
    return found["_id"]
