"""Roles: who may moderate, and the admins that FOLIO_ADMINS names. No HTTP here."""

from collections.abc import Collection

from beanie import PydanticObjectId

from models import User
from models.users import Role
from service.engine import collection

MODERATING_ROLES: frozenset[Role] = frozenset({"moderator", "admin"})


def can_moderate(user: User) -> bool:
    """Whether the account may hide content, suspend authors and read the report queue."""
    return user.role in MODERATING_ROLES


def is_admin(user: User) -> bool:
    """Whether the account may change roles and read the moderation log."""
    return user.role == "admin"


def role_for_new_account(username: str, admins: Collection[str]) -> Role:
    """The role a new account starts with: admin when FOLIO_ADMINS names it."""
    return "admin" if username in admins else "author"


async def bootstrap_admins(admins: Collection[str]) -> int:
    """Store the admin role on the existing accounts FOLIO_ADMINS names; how many changed.

    Run at start-up, so that the stored role is the one truth every query and `mongosh` read.
    """
    if not admins:
        return 0
    changed = await collection(User).update_many(
        {"username": {"$in": sorted(admins)}, "role": {"$ne": "admin"}}, {"$set": {"role": "admin"}}
    )
    return changed.modified_count


async def moderates(user_id: PydanticObjectId) -> bool:
    """Whether the account with this id moderates: one read by `_id`, for callers not loaded."""
    found = await collection(User).find_one({"_id": user_id}, {"role": 1})
    return found is not None and found.get("role") in MODERATING_ROLES
