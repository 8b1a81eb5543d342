"""Users: store `username_key`, the NFKC case-folded username that look-alike checks use."""

import logging
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.users.names import username_key

ID = "0002_username_keys"
DESCRIPTION = "backfill users.username_key (unique, case- and compatibility-insensitive)"
log = logging.getLogger("folio.migrations")


async def up(db: Any, session: Any) -> int:
    """Give every user without a key its key; accounts whose key another holds are reported."""
    changed = 0
    async for user in db.users.find({"username_key": {"$exists": False}}, {"username": 1},
                                    session=session):
        try:
            result = await db.users.update_one(
                {"_id": user["_id"], "username_key": {"$exists": False}},
                {"$set": {"username_key": username_key(user["username"])}},
                session=session,
            )
        except DuplicateKeyError:
            log.warning("user %s looks like another account's name; left without a key",
                        user["username"])
            continue
        changed += result.modified_count
    return changed


async def down(db: Any, session: Any) -> int:
    """Remove the keys again."""
    result = await db.users.update_many(
        {"username_key": {"$exists": True}}, {"$unset": {"username_key": ""}}, session=session
    )
    return result.modified_count
