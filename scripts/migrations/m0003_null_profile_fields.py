"""Users: `bio` and `image` hold null, not "", until set (RealWorld 2.0)."""

from typing import Any

ID = "0003_null_profile_fields"
DESCRIPTION = 'rewrite users.bio and users.image from "" to null (RealWorld 2.0)'
FIELDS = ("bio", "image")


async def up(db: Any, session: Any) -> int:
    """Store null where an empty string stood; returns how many field values changed."""
    changed = 0
    for field in FIELDS:
        result = await db.users.update_many({field: ""}, {"$set": {field: None}}, session=session)
        changed += result.modified_count
    return changed


async def down(db: Any, session: Any) -> int:
    """Store "" where null stands, as the code before RealWorld 2.0 expects.

    Only explicit nulls change: accounts that never set a field keep it absent (`{$eq: null}`
    alone would match those too).
    """
    changed = 0
    for field in FIELDS:
        explicit_null = {field: {"$exists": True, "$eq": None}}
        result = await db.users.update_many(explicit_null, {"$set": {field: ""}}, session=session)
        changed += result.modified_count
    return changed
