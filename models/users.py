"""The `users` collection: accounts and their public profile fields."""

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utc_now

SCHEMA_VERSION = 1
# Signed-in devices kept per account; signing in once more ends the oldest session.
MAX_SESSIONS = 50


class Session(BaseModel):
    """One sign-in: every token issued for it carries its id, until it logs out or is revoked."""

    id: str
    created_at: datetime = Field(default_factory=utc_now)


# `author` is everyone's default; moderators hide content and suspend authors; admins do all that
# and change roles. FOLIO_ADMINS names accounts that are admins whatever is stored.
Role = Literal["author", "moderator", "admin"]
ROLES: tuple[Role, ...] = ("author", "moderator", "admin")


class Suspension(BaseModel):
    """A moderator's suspension: writes answer 403 until `until` (forever when absent)."""

    reason: str
    until: datetime | None = None
    by: PydanticObjectId
    at: datetime


class User(Document):
    """A registered account; `email` is stored lower-cased, `password_hash` never leaves the server."""

    username: str
    # The NFKC case-folded username: unique, so that look-alikes of a taken name are refused.
    username_key: str | None = None
    email: str
    password_hash: str
    # Null (or absent) until set. An empty string from before RealWorld 2.0 is answered as null
    # (the wire schemas' NullableProfileText) until migration 0003 rewrites it.
    bio: str | None = None
    image: str | None = None
    # The live sessions, newest last and at most MAX_SESSIONS: a token is good while its
    # session is listed here. Kept in the account so that checking a token costs no extra read.
    sessions: list[Session] = Field(default_factory=list)
    # Tokens issued before sessions existed carry this instead; bumping it revokes them all.
    token_version: int = 0
    # Moves by one (`$inc`) with every follow and unfollow this user makes: the feed's count is
    # kept under it, so a follow starts a fresh count and the key never holds the follow list.
    follows_version: int = 0
    role: Role = "author"
    # Absent unless suspended (keep_nulls is off for users).
    suspension: Suspension | None = None
    # Set when account deletion starts; blocks sign-in until the deletion finishes.
    deleting: datetime | None = None
    # While deleting: the articles whose counters (or, once deleted, whose comments, favorites,
    # revisions and reports) the batch in progress touches, settled first when a deletion
    # resumes; and until when one runner holds the deletion (others leave it alone meanwhile).
    # Both absent otherwise (service/deletion/accounts.py).
    deletion_pending: list[PydanticObjectId] | None = None
    deletion_claimed_until: datetime | None = None
    # The bytes this user's media take (every stored rendition), against FOLIO_MEDIA_QUOTA_BYTES:
    # moved only by `$inc` (service/media/queries.py); absent means none.
    media_bytes: int = 0
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "users"
        # Never store a null username_key: its sparse unique index skips only missing fields.
        keep_nulls = False
        indexes = [
            IndexModel([("username", ASCENDING)], name="username_unique", unique=True),
            # Sparse, so that accounts written before the key existed (migration 0002 adds it)
            # do not collide on a missing value; both engines honour sparse unique indexes.
            IndexModel(
                [("username_key", ASCENDING)], name="username_key_unique", unique=True, sparse=True
            ),
            IndexModel([("email", ASCENDING)], name="email_unique", unique=True),
            # `folio users list --role moderator`, in username order.
            IndexModel([("role", ASCENDING), ("username", ASCENDING)], name="role_username"),
            # Deletions to resume: only accounts being deleted carry the field.
            IndexModel([("deleting", ASCENDING)], name="deleting", sparse=True),
            # Serves sign-ups per day (analytics).
            IndexModel([("created_at", DESCENDING)], name="created_at"),
        ]
