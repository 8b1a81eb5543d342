"""The moderation audit log (`moderation_log`): one entry per action, and its pages. No HTTP here.

Every action writes its entry in the same transaction as the action where the server has
transactions; elsewhere the entry follows the action it records.
"""

from typing import Any

from models import ModerationEntry, User
from models.moderation_log import NEWEST_FIRST
from service.contract.cursors import after_condition, next_page_cursor
from service.engine import collection


def log_pipeline(limit: int, cursor: str | None) -> list[dict[str, Any]]:
    """A page of the moderation log, newest first (index `newest`)."""
    match = after_condition(cursor, NEWEST_FIRST) if cursor is not None else {}
    return [{"$match": match}, {"$sort": dict(NEWEST_FIRST)}, {"$limit": limit}]


OPERATOR = "operator (folio CLI)"


def log_entry(
    actor: User | None, action: str, target_type: str, target: str, reason: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """One audit-log document, names copied in so that it reads after deletions; `actor` None
    is an operator at the `folio` command line."""
    return ModerationEntry(
        actor_id=actor.id if actor else None, actor=actor.username if actor else OPERATOR,
        action=action, target_type=target_type, target=target, reason=reason, details=details,
    ).model_dump(exclude={"id"})


async def write_log(entry: dict[str, Any], session: Any = None) -> None:
    """Append one entry to `moderation_log`."""
    await collection(ModerationEntry).insert_one(entry, session=session)


async def log_page(limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The newest log entries after the cursor, and the cursor for the next page."""
    rows = await collection(ModerationEntry).aggregate(log_pipeline(limit, cursor)).to_list(limit)
    next_cursor = next_page_cursor(NEWEST_FIRST, rows, limit)
    return rows, next_cursor
