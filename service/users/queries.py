"""Account queries: registration, authentication and updates. No HTTP here."""

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import User
from models.common import utc_now
from service.db import collection
from service.errors import Invalid, Unauthorized
from service.security import Passwords
from service.users.names import username_key

TAKEN = "has already been taken"


@dataclass(frozen=True)
class Viewer:
    """Who a valid token says is calling, before any database read confirms it."""

    id: PydanticObjectId
    token_version: int


async def current_username(viewer: Viewer) -> str | None:
    """The caller's username if the account exists and the token's version is current, else None."""
    user = await collection(User).find_one({"_id": viewer.id}, {"token_version": 1, "username": 1})
    if user is None or user.get("token_version", 0) != viewer.token_version:
        return None
    _remember(viewer)
    return str(user["username"])


async def is_current(viewer: Viewer) -> bool:
    """Whether the account still exists and the token's version is its current one."""
    return await current_username(viewer) is not None


# Tokens recently confirmed current, so that edge writes (favorite, follow) need no lookup.
# A password change forgets its user here at once; other processes notice within the TTL.
CONFIRMED_FOR_SECONDS = 30.0
_CONFIRMED_LIMIT = 10_000
_confirmed: "OrderedDict[Viewer, float]" = OrderedDict()


def _remember(viewer: Viewer) -> None:
    _confirmed[viewer] = time.monotonic() + CONFIRMED_FOR_SECONDS
    _confirmed.move_to_end(viewer)
    while len(_confirmed) > _CONFIRMED_LIMIT:
        _confirmed.popitem(last=False)


def forget_confirmations(user_id: PydanticObjectId) -> None:
    """Drop this process's confirmations of a user's tokens (after a password change)."""
    for viewer in [v for v in _confirmed if v.id == user_id]:
        del _confirmed[viewer]


async def is_recently_current(viewer: Viewer) -> bool:
    """Like `is_current`, but trusts a confirmation younger than CONFIRMED_FOR_SECONDS."""
    if _confirmed.get(viewer, 0.0) > time.monotonic():
        return True
    return await is_current(viewer)
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


async def register(passwords: Passwords, *, username: str, email: str, password: str) -> User:
    """Create an account; a taken username or email raises Invalid."""
    user = User(
        username=username,
        username_key=username_key(username),
        email=email,
        password_hash=await passwords.hash(password),
    )
    try:
        await user.insert()
    except DuplicateKeyError:
        field = await _taken_field(
            {"username_key": user.username_key, "email": email}, excluding=None
        )
        raise Invalid(field, TAKEN) from None
    return user


async def authenticate(passwords: Passwords, *, email: str, password: str) -> User:
    """The account these credentials open; one generic error whatever was wrong."""
    user = await User.find_one({"email": email.strip().lower()})
    if not await passwords.verify(user.password_hash if user else None, password) or user is None:
        raise Unauthorized("credentials", "email or password is invalid")
    return user


async def user_by_id(user_id: str) -> User | None:
    """The account with this id, or None (also for a malformed id)."""
    try:
        return await User.get(PydanticObjectId(user_id))
    except (InvalidId, TypeError, ValueError):
        return None


async def update_user(passwords: Passwords, user: User, changes: dict[str, Any]) -> User:
    """Apply changes to an account in one atomic update; a taken username or email raises Invalid."""
    update: dict[str, Any] = {}
    if "username" in changes:
        changes["username_key"] = username_key(changes["username"])
    if "password" in changes:
        changes["password_hash"] = await passwords.hash(changes.pop("password"))
        update["$inc"] = {"token_version": 1}  # every earlier token stops working
        forget_confirmations(user.id)  # type: ignore[arg-type]
    changes["updated_at"] = utc_now()
    try:
        updated = await collection(User).find_one_and_update(
            {"_id": user.id}, {"$set": changes, **update}, return_document=ReturnDocument.AFTER
        )
    except DuplicateKeyError:
        raise Invalid(await _taken_field(changes, excluding=user.id), TAKEN) from None
    return User.model_validate(updated)
