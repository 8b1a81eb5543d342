"""Users: store `username_key`, the NFKC case-folded username that look-alike checks use."""

import logging
from collections.abc import Callable
from typing import Any

from pymongo.errors import DuplicateKeyError

from scripts.migrate import in_batches
from service.users.names import username_key

ID = "0002_username_keys"
DESCRIPTION = "backfill users.username_key (unique, case- and compatibility-insensitive)"
PENDING = {"username_key": {"$exists": False}}
log = logging.getLogger("folio.migrations")


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Give every user without a key its key; accounts whose key another holds are reported.

    A duplicate key only skips that account: there is no transaction for it to abort.
    """

    async def backfill(batch: list[dict[str, Any]]) -> int:
        changed = 0
        for user in batch:
            try:
                result = await db.users.update_one(
                    {"_id": user["_id"], **PENDING},
                    {"$set": {"username_key": username_key(user["username"])}},
                )
            except DuplicateKeyError:
                log.warning("user %s looks like another account's name; left without a key",
                            user["username"])
                continue
            changed += result.modified_count
        return changed

    return await in_batches(db.users, PENDING, {"username": 1}, backfill, report)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Remove the keys again."""

    async def strip(batch: list[dict[str, Any]]) -> int:
        result = await db.users.update_many(
            {"_id": {"$in": [user["_id"] for user in batch]}}, {"$unset": {"username_key": ""}}
        )
        return result.modified_count

    return await in_batches(db.users, {"username_key": {"$exists": True}}, {"_id": 1}, strip,
                            report)
