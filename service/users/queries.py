"""Account queries: registration, authentication, updates and sessions. No HTTP here."""

import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import User
from models.common import as_utc, utc_now
from models.users import MAX_SESSIONS, Role, Session, Suspension
from service.contract.errors import Conflict, Forbidden, NotFound, Unauthorized
from service.contract.schemas import format_timestamp
from service.engine import collection
from service.rollups.queries import count_day
from service.users.authors import forget_author
from service.users.credentials import Passwords
from service.users.names import username_key

TAKEN = "has already been taken"


@dataclass(frozen=True)
class Viewer:
    """Who a valid token says is calling, and from which session, before any read confirms it.

    `session_id` is None for a token issued before sessions existed; such a token carries the
    account's `token_version` instead.
    """

    id: PydanticObjectId
    session_id: str | None
    token_version: int = 0


def honours(viewer: Viewer, session_ids: Iterable[str], token_version: int) -> bool:
    """Whether an account with these live sessions (and token version) accepts the viewer's token."""
    if viewer.session_id is None:
        return token_version == viewer.token_version
    return viewer.session_id in session_ids


NO_ACCOUNT = "names no existing user"  # the 401 for a valid token of a deleted account
REVOKED = "has been revoked; sign in again"  # the 401 for a token whose session has ended


def refuse_ended(viewer: Viewer, session_ids: Iterable[str], token_version: int) -> None:
    """401 unless the account with these live sessions (and token version) accepts the token."""
    if not honours(viewer, session_ids, token_version):
        raise Unauthorized("token", REVOKED)


def new_session() -> Session:
    """A session with a fresh, unguessable id."""
    return Session(id=secrets.token_urlsafe(12))


Stored = Suspension | Mapping[str, Any] | None  # as loaded in a User, or as a raw document


def live_suspension(suspension: Stored) -> dict[str, Any] | None:
    """The suspension as a document while it is in force; None when absent or served (an
    expired one needs no clean-up: every check just passes)."""
    if not suspension:
        return None
    found = suspension.model_dump() if isinstance(suspension, Suspension) else dict(suspension)
    until = found.get("until")
    if until is not None and as_utc(until) <= utc_now():
        return None
    return found


def suspended_problem(suspension: Stored) -> str | None:
    """Why a suspended account may not write (the 403 message), or None when it may."""
    live = live_suspension(suspension)
    if live is None:
        return None
    if live.get("until") is None:
        return f"is suspended: {live['reason']}"
    return f"is suspended until {format_timestamp(as_utc(live['until']))}: {live['reason']}"


def refuse_if_suspended(suspension: Stored) -> None:
    """Raise Forbidden while the account is suspended."""
    problem = suspended_problem(suspension)
    if problem is not None:
        raise Forbidden("user", problem)


async def viewer_account(viewer: Viewer) -> dict[str, Any] | None:
    """The caller's username, role and suspension if the account still honours the token.

    One read by `_id`. A confirmation is remembered for edge writes only for accounts that may
    write, so a suspended account never skips its check.
    """
    user = await collection(User).find_one(
        {"_id": viewer.id},
        {"token_version": 1, "username": 1, "sessions.id": 1, "role": 1, "suspension": 1},
    )
    if user is None or not honours(
        viewer, (s["id"] for s in user.get("sessions", [])), user.get("token_version", 0)
    ):
        return None
    if suspended_problem(user.get("suspension")) is None:
        _remember(viewer)
    return user


async def current_username(viewer: Viewer) -> str | None:
    """The caller's username if the account exists and still honours the token, else None."""
    user = await viewer_account(viewer)
    return None if user is None else str(user["username"])


async def is_current(viewer: Viewer) -> bool:
    """Whether the account still exists and honours the token."""
    return await current_username(viewer) is not None


# Tokens recently confirmed current, so that edge writes (favorite, follow) need no lookup.
# Ending sessions forgets the user here at once; other processes notice within the TTL.
CONFIRMED_FOR_SECONDS = 30.0
_CONFIRMED_LIMIT = 10_000
_confirmed: "OrderedDict[Viewer, float]" = OrderedDict()


def _recently_confirmed(viewer: Viewer) -> bool:
    return _confirmed.get(viewer, 0.0) > time.monotonic()


def _remember(viewer: Viewer) -> None:
    _confirmed[viewer] = time.monotonic() + CONFIRMED_FOR_SECONDS
    _confirmed.move_to_end(viewer)
    while len(_confirmed) > _CONFIRMED_LIMIT:
        _confirmed.popitem(last=False)


def forget_confirmations(user_id: PydanticObjectId) -> None:
    """Drop this process's confirmations of a user's tokens (after sessions end)."""
    for viewer in [v for v in _confirmed if v.id == user_id]:
        del _confirmed[viewer]


async def is_recently_current(viewer: Viewer) -> bool:
    """Like `is_current`, but trusts a confirmation younger than CONFIRMED_FOR_SECONDS."""
    return _recently_confirmed(viewer) or await is_current(viewer)


async def confirm_writer(viewer: Viewer) -> None:
    """Check that the caller may write: Unauthorized for an ended session, Forbidden while
    suspended. Trusts a confirmation younger than CONFIRMED_FOR_SECONDS (never given to a
    suspended account)."""
    if _recently_confirmed(viewer):
        return
    user = await viewer_account(viewer)
    if user is None:
        raise Unauthorized("token", REVOKED)
    refuse_if_suspended(user.get("suspension"))


def ending_every_session(fields: dict[str, Any]) -> dict[str, Any]:
    """The update that sets `fields` and ends every session of an account: its tokens, those
    from before sessions included, stop working at once."""
    return {"$set": {**fields, "sessions": []}, "$inc": {"token_version": 1}}


async def end_every_session(
    user: User, fields: dict[str, Any], session: Any = None
) -> dict[str, Any]:
    """Set `fields` on the account and end all its sessions (a suspension); the account after."""
    updated = await collection(User).find_one_and_update(
        {"_id": user.id}, ending_every_session(fields),
        return_document=ReturnDocument.AFTER, session=session,
    )
    forget_confirmations(user.id)  # type: ignore[arg-type]
    if updated is None:
        raise NotFound("profile", "not found")
    return updated


UNIQUE_FIELDS = ("username_key", "email")


async def _taken_field(values: dict[str, Any], excluding: PydanticObjectId | None) -> str:
    """After a duplicate-key error, name which unique value another account holds."""
    wanted = {field: values[field] for field in UNIQUE_FIELDS if field in values}
    query: dict[str, Any] = {"$or": [{field: value} for field, value in wanted.items()]}
    if excluding is not None:
        query["_id"] = {"$ne": excluding}
    holder = await collection(User).find_one(query, {"username_key": 1, "email": 1})
    for field, value in wanted.items():
        if holder is not None and holder.get(field) == value:
            return "username" if field == "username_key" else field
    return "username" if "username_key" in wanted else next(iter(wanted), "user")


async def register(
    passwords: Passwords, *, username: str, email: str, password: str, role: Role = "author"
) -> tuple[User, str]:
    """Create an account, signed in with one session; a taken username or email raises Conflict."""
    session = new_session()
    user = User(
        role=role,
        username=username,
        username_key=username_key(username),
        email=email,
        password_hash=await passwords.hash(password),
        sessions=[session],
    )
    try:
        await user.insert()
    except DuplicateKeyError:
        field = await _taken_field(
            {"username_key": user.username_key, "email": email}, excluding=None
        )
        raise Conflict(field, TAKEN) from None
    await count_day("users", user.created_at, +1)
    return user, session.id


async def authenticate(passwords: Passwords, *, email: str, password: str) -> tuple[User, str]:
    """The account these credentials open, and a new session for it; one error for any failure.

    An account being deleted opens for no password (answered as bad credentials).
    """
    user = await User.find_one({"email": email.strip().lower()})
    verified = await passwords.verify(user.password_hash if user else None, password)
    if not verified or user is None or user.deleting is not None:
        raise Unauthorized("credentials", "invalid")
    session = new_session()
    # The oldest sessions beyond MAX_SESSIONS fall off, so the account document stays small.
    # Only while the password checked is still the account's: a password change that lands
    # during the (slow, deliberate) check must not gain a session from the old password, nor
    # a deletion that starts meanwhile a session its marker already ended.
    started = await collection(User).update_one(
        {"_id": user.id, "password_hash": user.password_hash, "deleting": {"$exists": False}},
        {"$push": {"sessions": {"$each": [session.model_dump()], "$slice": -MAX_SESSIONS}}},
    )
    if started.matched_count == 0:
        raise Unauthorized("credentials", "invalid")
    return user, session.id


async def user_by_id(user_id: str) -> User | None:
    """The account with this id, or None (also for a malformed id)."""
    try:
        return await User.get(PydanticObjectId(user_id))
    except (InvalidId, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class FeedReader:
    """A signed-in reader of their feed: whom they follow is kept per `follows_version`."""

    id: PydanticObjectId
    follows_version: int


# What a feed read needs of the account: the session check and the follow version.
FEED_READER_FIELDS = {"token_version": 1, "sessions.id": 1, "follows_version": 1}


async def feed_reader(viewer: Viewer) -> FeedReader:
    """The viewer's account as a feed reader, checked as `current_user` checks it (401 for an
    ended session or a deleted account), in one projected read that builds no `User` model."""
    found = await collection(User).find_one({"_id": viewer.id}, FEED_READER_FIELDS)
    if found is None:
        raise Unauthorized("token", NO_ACCOUNT)
    sessions = [session.get("id") for session in found.get("sessions", ())]
    refuse_ended(viewer, sessions, found.get("token_version", 0))
    return FeedReader(viewer.id, found.get("follows_version", 0))


def _still_signed_in(user_id: PydanticObjectId | None, viewer: Viewer) -> dict[str, Any]:
    """The filter for an update that must find the caller's session still live (not ended by
    another request since the token was checked)."""
    if viewer.session_id is None:
        return {"_id": user_id, "token_version": viewer.token_version}
    return {"_id": user_id, "sessions.id": viewer.session_id}


def _ending_other_sessions(viewer: Viewer) -> tuple[dict[str, Any], str]:
    """The update that ends every session but the viewer's, and the session that survives.

    A token from before sessions existed cannot be told apart from others like it, so those
    all end (the token version moves on) and the caller continues in a new session.
    """
    if viewer.session_id is not None:
        keep = viewer.session_id
        return {"$pull": {"sessions": {"id": {"$ne": keep}}}, "$inc": {"token_version": 1}}, keep
    session = new_session()
    return {"$set": {"sessions": [session.model_dump()]}, "$inc": {"token_version": 1}}, session.id


async def update_user(
    passwords: Passwords, user: User, viewer: Viewer, changes: dict[str, Any]
) -> tuple[User, str | None]:
    """Apply changes to an account in one atomic update; a taken username or email raises Conflict.

    A new password ends every other session; the caller's own session goes on, and its id is
    returned so that a fresh token can be issued for it (None when no session changed).
    """
    update: dict[str, Any] = {}
    kept_session = None
    if "username" in changes:
        changes["username_key"] = username_key(changes["username"])
    if "password" in changes:
        changes["password_hash"] = await passwords.hash(changes.pop("password"))
        update, kept_session = _ending_other_sessions(viewer)
        forget_confirmations(user.id)  # type: ignore[arg-type]
    changes["updated_at"] = utc_now()
    update["$set"] = {**update.get("$set", {}), **changes}
    try:
        updated = await collection(User).find_one_and_update(
            _still_signed_in(user.id, viewer), update, return_document=ReturnDocument.AFTER
        )
    except DuplicateKeyError:
        raise Conflict(await _taken_field(changes, excluding=user.id), TAKEN) from None
    if updated is None:  # deleted, or signed out elsewhere, since the token check
        raise Unauthorized("token", REVOKED)
    forget_author(user.id)  # its articles show the new profile at once (in this process)
    return User.model_validate(updated), kept_session


async def end_session(viewer: Viewer) -> None:
    """Sign the viewer's session out: its tokens stop working; other sessions go on."""
    if viewer.session_id is None:
        update: dict[str, Any] = {"$inc": {"token_version": 1}}
    else:
        # An operator makes this a condition applied to each element as a document (MongoDB's
        # $pull), matching by id alone; a plain {"id": …} would need the exact element.
        update = {"$pull": {"sessions": {"id": {"$eq": viewer.session_id}}}}
    await collection(User).update_one({"_id": viewer.id}, update)
    forget_confirmations(viewer.id)


async def end_other_sessions(viewer: Viewer) -> tuple[int, str]:
    """End every session of the viewer's account but theirs; how many ended, and the one kept."""
    update, kept_session = _ending_other_sessions(viewer)
    before = await collection(User).find_one_and_update(
        _still_signed_in(viewer.id, viewer), update, {"sessions.id": 1},
        return_document=ReturnDocument.BEFORE,
    )
    forget_confirmations(viewer.id)
    if before is None:
        raise Unauthorized("token", REVOKED)
    ended = [s["id"] for s in before.get("sessions", []) if s["id"] != kept_session]
    return len(ended), kept_session
