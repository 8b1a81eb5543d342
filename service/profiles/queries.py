"""Profiles and follow edges. No HTTP here."""

import time
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import Follow, User
from service.contract.errors import Invalid, NotFound
from service.engine import Engine, atomically, collection, current_engine
from service.events import actor_of, record
from service.profiles.schemas import public_profile
from service.users.authors import PUBLIC_FIELDS, public_fields

AUTHOR_FIELDS = {"author._id": 1, "author.username": 1, "author.bio": 1, "author.image": 1}


def author_stages(fields: dict[str, int]) -> list[dict[str, Any]]:
    """Join each document's `author_id` from `users`, keeping `fields` and public profile fields."""
    return [
        {
            "$lookup": {
                "from": "users",
                "localField": "author_id",
                "foreignField": "_id",
                "as": "author",
            }
        },
        {"$unwind": "$author"},
        {"$project": {**fields, **AUTHOR_FIELDS}},
    ]


async def authors_by_id(user_ids: Iterable[PydanticObjectId]) -> dict[PydanticObjectId, dict[str, Any]]:
    """The public profile fields of these accounts, in one `$in` query (deleted ones left out)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    found = collection(User).find({"_id": {"$in": wanted}}, PUBLIC_FIELDS)
    return {
        user["_id"]: public_fields(user) async for user in found
    }


def public_author(user: User) -> dict[str, Any]:
    """A user's public fields, shaped like the `author` that `author_stages` attaches."""
    return {"_id": user.id, "username": user.username, "bio": user.bio, "image": user.image}


async def user_by_username(username: str) -> User:
    """The account with this username (after NFKC normalisation); NotFound otherwise."""
    user = await User.find_one({"username": unicodedata.normalize("NFKC", username)})
    if user is None:
        raise NotFound("profile", "not found")
    return user


async def usernames_of(user_ids: set[PydanticObjectId]) -> dict[PydanticObjectId, str]:
    """The usernames of these accounts, in one `$in` query; a deleted account is left out."""
    if not user_ids:
        return {}
    found = collection(User).find({"_id": {"$in": sorted(user_ids)}}, {"username": 1})
    return {user["_id"]: user["username"] async for user in found}


async def is_following(follower_id: PydanticObjectId | None, followee_id: PydanticObjectId) -> bool:
    """Whether the viewer follows this user (never, when anonymous or looking at themselves)."""
    if follower_id is None or follower_id == followee_id:
        return False
    edge = await collection(Follow).find_one(
        {"follower_id": follower_id, "followee_id": followee_id}, {"_id": 1}
    )
    return edge is not None


# The field `following_stages` adds: the viewer's follow edge to the row's author, if any.
FOLLOWED_BY_VIEWER = "followed_by_viewer"


def following_stages(
    follower_id: PydanticObjectId, local_field: str = "author_id"
) -> list[dict[str, Any]]:
    """Join the viewer's follow edge to each row's author (`local_field`), as
    FOLLOWED_BY_VIEWER: an empty list when they do not follow them.

    One point lookup per row on `follower_followee_unique` (both fields pinned); only `_id`
    comes back. Bounded by the page it joins. Nobody follows themselves (`follow` refuses it).
    """
    return [
        {
            "$lookup": {
                "from": "follows",
                "localField": local_field,
                "foreignField": "followee_id",
                "pipeline": [{"$match": {"follower_id": follower_id}}, {"$limit": 1},
                             {"$project": {"_id": 1}}],
                "as": FOLLOWED_BY_VIEWER,
            }
        }
    ]


async def followed_among(
    follower_id: PydanticObjectId | None, candidate_ids: Iterable[PydanticObjectId]
) -> set[PydanticObjectId]:
    """Which of these users the viewer follows, in one query (none when anonymous)."""
    candidates = {candidate for candidate in candidate_ids if candidate != follower_id}
    if follower_id is None or not candidates:
        return set()
    cursor = collection(Follow).find(
        {"follower_id": follower_id, "followee_id": {"$in": list(candidates)}},
        {"followee_id": 1, "_id": 0},
    )
    return {edge["followee_id"] async for edge in cursor}


# The most authors one feed request reads from, most recently followed first. MongoDB merges
# one index range per `$in` value, in order, only up to 200 values
# (`internalQueryMaxScansToExplode`); past that it may sort in memory or walk the whole
# `published_at` index. A larger follow set needs fan-out on write (docs/scaling.md).
FEED_AUTHORS_CAP = 200


async def followee_ids(
    follower_id: PydanticObjectId, limit: int = FEED_AUTHORS_CAP
) -> list[PydanticObjectId]:
    """Whom this user follows, most recently followed first, at most `limit` (`follower_newest`)."""
    cursor = (
        collection(Follow)
        .find({"follower_id": follower_id}, {"followee_id": 1, "_id": 0})
        .sort([("created_at", -1), ("_id", -1)])
        .limit(limit)
    )
    return [edge["followee_id"] async for edge in cursor]


# Follow lists kept in this process, by engine and (follower, follow version): at most this
# many. Each holds up to FEED_AUTHORS_CAP ids (about 12 kB), so the cache stays near 12 MB.
KEPT_FOLLOW_LISTS = 1_000
# A kept list is read again after this long anyway: an edge written behind the API's back (a
# restore, a hand edit) shows within it.
FOLLOW_LIST_TTL_SECONDS = 60.0
_Kept = OrderedDict[tuple[PydanticObjectId, int], tuple[float, list[PydanticObjectId]]]
_kept_followees: "weakref.WeakKeyDictionary[Engine, _Kept]" = weakref.WeakKeyDictionary()


async def followees_at(
    follower_id: PydanticObjectId, follows_version: int
) -> list[PydanticObjectId]:
    """`followee_ids`, kept per follow version: the feed reads it once per follow or unfollow.

    Safe to keep in every process: each follow and unfollow writes its edge and then moves the
    follower's `follows_version` (`_follows_moved`). A list read at version v was read after v
    was current, so it holds every edge written before v; any later edge write also moves the
    version, so the caller (who read the version from the account) asks for a new key. An edge
    that an account deletion removes without a move names an account whose articles are gone,
    so it changes no feed.
    """
    kept = _kept_followees.setdefault(current_engine(), OrderedDict())
    key = (follower_id, follows_version)
    found = kept.get(key)
    now = time.monotonic()
    if found is not None and found[0] > now:
        kept.move_to_end(key)
        return list(found[1])
    authors = await followee_ids(follower_id)
    kept[key] = (now + FOLLOW_LIST_TTL_SECONDS, authors)
    kept.move_to_end(key)
    while len(kept) > KEPT_FOLLOW_LISTS:
        kept.popitem(last=False)
    return list(authors)


async def _follows_moved(follower_id: PydanticObjectId) -> None:
    """Move the follower's follow version, after the edge: their feed counts afresh."""
    await collection(User).update_one({"_id": follower_id}, {"$inc": {"follows_version": 1}})


async def follow(follower: User, followee: User) -> None:
    """Record the edge and its `profile.followed` event, in one transaction where the server
    has them; following twice is a no-op (no second event) thanks to the unique index."""
    follower_id = follower.id
    if follower_id == followee.id:
        raise Invalid("profile", "you cannot follow yourself")
    assert followee.id is not None and follower_id is not None

    async def write(session: Any) -> None:
        await Follow(follower_id=follower_id, followee_id=followee.id).insert(session=session)
        await record("profile.followed", actor=actor_of(follower), data={
            "profile": public_profile(public_author(followee)),
            "follower": public_profile(public_author(follower)),
        }, refs={"user": followee.id}, session=session)

    try:
        await atomically(write)
    except DuplicateKeyError:
        return  # already following: the request's goal holds
    await _follows_moved(follower_id)


async def unfollow(follower_id: PydanticObjectId, followee: User) -> None:
    """Remove the edge if it exists."""
    removed = await collection(Follow).delete_one(
        {"follower_id": follower_id, "followee_id": followee.id}
    )
    if removed.deleted_count:
        await _follows_moved(follower_id)
