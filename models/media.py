"""The media library: one `media` document per upload, and its bytes in the GridFS bucket `media`.

The bucket is GridFS's standard layout, so `mongofiles --prefix media` lists and reads it:
`media.files` holds one document per stored rendition (the cleaned original and each resized
variant) and `media.chunks` its bytes in chunks of `CHUNK_SIZE`. A rendition's files document
carries `metadata: {mediaId, ownerId, rendition, contentType}`, so a stray file names its upload.
The `media` document is what the API reads: owner, alt text, dimensions and, per rendition, the
GridFS file id, size and content type, so serving one needs no read of `media.files`.
"""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import Moderation, utc_now

SCHEMA_VERSION = 1
BUCKET = "media"
# GridFS's default chunk size (255 KiB): below the 16 MB document limit with room to spare, and
# a Range request reads only the chunks it spans.
CHUNK_SIZE = 255 * 1024
ORIGINAL = "original"
# GridFS's own collections. The driver creates their two indexes on a bucket's first upload
# under these names; they are declared here too, so `folio db sync` builds them ahead and the
# drift and coverage checks know them. No validator: the layout is GridFS's, not Folio's.
BUCKET_INDEXES: dict[str, list[IndexModel]] = {
    f"{BUCKET}.files": [
        IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)],
                   name="filename_1_uploadDate_1"),
    ],
    f"{BUCKET}.chunks": [
        # Serving reads a rendition's chunks in order by this index, and only those a Range spans.
        IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], name="files_id_1_n_1", unique=True),
    ],
}


class Rendition(BaseModel):
    """One stored rendition of an upload: the GridFS file that holds it and what it is."""

    file_id: PydanticObjectId
    content_type: str
    width: int
    height: int
    size: int


class Media(Document):
    """One upload. `renditions` has ORIGINAL (the cleaned original) and each variant by name.

    `stored_bytes` (every rendition's size) is what the owner's quota counts
    (`users.media_bytes`, moved only by `$inc`). `deleting` is set when deletion starts: the
    media is gone for the API at once, and the GridFS files go before this document does, so an
    interrupted deletion is finished by the next pass and never leaves chunks nobody owns.
    """

    owner_id: PydanticObjectId
    alt: str | None = None
    renditions: dict[str, Rendition]
    stored_bytes: int
    moderation: Moderation | None = None
    deleting: datetime | None = None
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "media"
        indexes = [
            # An owner's library, newest first (`_id` is time-ordered), and account deletion's
            # batches of what a user uploaded.
            IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_newest"),
            # Deletions a stopped request left, oldest first, for the deletion sweeper to
            # finish; partial, so it holds only the few media being deleted.
            IndexModel([("deleting", ASCENDING)], name="deleting_since",
                       partialFilterExpression={"deleting": {"$type": "date"}}),
        ]

