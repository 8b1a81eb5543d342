"""Authors' public profiles (username, bio, image), kept in this process. No HTTP here.

Every article answer names its author. Joining `users` inside each page's read (`$lookup`)
made even an anonymous page an aggregation, with a copy of the author's profile in every row,
for profiles that rarely change (docs/benchmarks.md, issue 21). So article reads take their
authors from here: a profile is kept for AUTHOR_TTL_SECONDS, and the authors a page
does not find kept are read in one `$in` query on `_id` (at most one round trip per page,
whatever its size).

A profile change through this process (`forget_author`, after the write) shows at once; one
made through another process, or behind the API's back, within the TTL, as the list counts do
(service/articles/counts.py). A read that started before a forget does not keep what it read
(the store's `generation`), so it cannot put the old profile back.
"""

import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from beanie import PydanticObjectId

from models import User
from service.engine import Engine, collection, current_engine

AUTHOR_TTL_SECONDS = 10.0
# Profiles kept per engine, the longest kept dropped first (a few hundred bytes each).
KEPT_AUTHORS = 10_000
PUBLIC_FIELDS = {"username": 1, "bio": 1, "image": 1}


@dataclass
class _Kept:
    profiles: OrderedDict[PydanticObjectId, tuple[float, dict[str, Any]]] = field(
        default_factory=OrderedDict
    )
    generation: int = 0  # moved by every forget


_kept: "weakref.WeakKeyDictionary[Engine, _Kept]" = weakref.WeakKeyDictionary()


def public_fields(user: dict[str, Any]) -> dict[str, Any]:
    """A `users` document read with PUBLIC_FIELDS, shaped as an article's `author`."""
    return {"_id": user["_id"], **{name: user.get(name) for name in PUBLIC_FIELDS}}


def _store() -> _Kept:
    return _kept.setdefault(current_engine(), _Kept())


async def kept_authors(
    user_ids: Iterable[PydanticObjectId],
) -> dict[PydanticObjectId, dict[str, Any]]:
    """The public profiles (`_id`, username, bio, image) of these accounts, from the kept ones
    and one `$in` query for the rest; a deleted account is left out. Do not mutate them."""
    store = _store()
    now = time.monotonic()
    found: dict[PydanticObjectId, dict[str, Any]] = {}
    missing = []
    for user_id in set(user_ids):
        entry = store.profiles.get(user_id)
        if entry is not None and entry[0] > now:
            found[user_id] = entry[1]
        else:
            missing.append(user_id)
    if not missing:
        return found
    generation = store.generation
    read = collection(User).find({"_id": {"$in": sorted(missing)}}, PUBLIC_FIELDS)
    async for user in read:
        profile = public_fields(user)
        found[user["_id"]] = profile
        if store.generation == generation:
            store.profiles[user["_id"]] = (now + AUTHOR_TTL_SECONDS, profile)
            store.profiles.move_to_end(user["_id"])
    while len(store.profiles) > KEPT_AUTHORS:
        store.profiles.popitem(last=False)
    return found


async def with_authors(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set each row's `author` (its own copy, free to mutate) from its `author_id`; rows whose
    author no longer exists are left out, as a `$lookup` then `$unwind` would leave them."""
    if not rows:
        return rows
    authors = await kept_authors(row["author_id"] for row in rows)
    joined = []
    for row in rows:
        author = authors.get(row["author_id"])
        if author is not None:
            row["author"] = dict(author)
            joined.append(row)
    return joined


def forget_author(user_id: PydanticObjectId | None) -> None:
    """Drop this process's copy of a profile, after a write that changes it."""
    store = _store()
    store.generation += 1
    store.profiles.pop(user_id, None)  # type: ignore[arg-type]


def forget_authors() -> None:
    """Drop every profile this process keeps (after a bulk change, and between tests)."""
    store = _store()
    store.generation += 1
    store.profiles.clear()
