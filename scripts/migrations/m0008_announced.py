"""Events: flag scheduled articles unannounced, so the sweep announces them when they go live
(service/articles/announcing.py)."""

from collections.abc import Callable
from typing import Any

from models.common import utc_now
from scripts.migrate import in_batches

ID = "0008_announced"
DESCRIPTION = "flag scheduled articles written before events announced: false"


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Set `announced: false` on the scheduled articles (an instant still to come) that have
    no flag, in `_id` batches; returns how many it flagged.

    Articles without the flag count as announced exactly when live, so live ones, drafts and
    hidden ones need nothing: a live one is not announced again, and an edit, a publish or a
    sweep writes the flag from then on. Safe while the API serves (a write that flags an
    article meanwhile is left alone: the update only touches a missing or null flag) and to run
    again.
    """
    now = utc_now()

    async def flag(batch: list[dict[str, Any]]) -> int:
        result = await db.articles.update_many(
            {"_id": {"$in": [article["_id"] for article in batch]}, "announced": None,
             "published_at": {"$type": "date", "$gt": now}},
            {"$set": {"announced": False}},
        )
        return result.modified_count

    return await in_batches(db.articles, {"announced": None}, {"_id": 1}, flag, report)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Drop every article's flag (all count as announced when live again); how many it had."""

    async def unflag(batch: list[dict[str, Any]]) -> int:
        result = await db.articles.update_many(
            {"_id": {"$in": [article["_id"] for article in batch]}},
            {"$unset": {"announced": ""}},
        )
        return result.modified_count

    return await in_batches(db.articles, {"announced": {"$exists": True}}, {"_id": 1}, unflag,
                            report)
