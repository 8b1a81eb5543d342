"""The `stream_tickets` collection: short-lived, single-use tickets that open one
notification stream (browsers' EventSource cannot send an Authorization header)."""

from datetime import datetime

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, IndexModel


class StreamTicket(Document):
    """A ticket, stored as the SHA-256 of what the client holds (`_id`), never in clear."""

    id: str  # type: ignore[assignment]  # the ticket's SHA-256, hex
    user_id: PydanticObjectId
    expires_at: datetime

    class Settings:
        name = "stream_tickets"
        indexes = [
            # MongoDB's TTL monitor removes expired tickets (about once a minute); a read checks
            # `expires_at` itself, so a ticket is refused from its expiry on.
            IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
        ]
