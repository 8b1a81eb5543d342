"""Users: `bio` and `image` hold null, not "", until set (RealWorld 2.0)."""

from collections.abc import Callable
from typing import Any

from scripts.migrate import in_batches

ID = "0003_null_profile_fields"
DESCRIPTION = 'rewrite users.bio and users.image from "" to null (RealWorld 2.0)'
FIELDS = ("bio", "image")


async def _rewrite(db: Any, report: Callable[[int], None], old: Any, new: Any) -> int:
    """Set each of FIELDS from `old` (a condition) to `new`, batch by batch."""
    changed = 0
    for field in FIELDS:

        async def rewrite(batch: list[dict[str, Any]], field: str = field) -> int:
            result = await db.users.update_many(
                {"_id": {"$in": [user["_id"] for user in batch]}, field: old},
                {"$set": {field: new}},
            )
            return result.modified_count

        changed += await in_batches(db.users, {field: old}, {"_id": 1}, rewrite, report)
    return changed


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Store null where an empty string stood; returns how many field values changed."""
    return await _rewrite(db, report, "", None)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Store "" where null stands, as the code before RealWorld 2.0 expects.

    Only explicit nulls change: accounts that never set a field keep it absent (`{$eq: null}`
    alone would match those too; the embedded engine has no `$type: "null"`).
    """
    return await _rewrite(db, report, {"$exists": True, "$eq": None}, "")
