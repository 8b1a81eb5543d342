"""Analytics: backfill the daily rollups (`daily_stats`, `tag_days`) from the data."""

from collections.abc import Callable
from typing import Any

from scripts.migrate import in_batches
from service.rollups.queries import rebuild_rollups

ID = "0007_analytics_rollups"
DESCRIPTION = "build the analytics rollups (daily_stats, tag_days) from articles, comments, users"


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Rebuild every day's rollups, one day (one index range per source) at a time; returns
    how many days it built.

    Unlike the other migrations this one calls the service's rebuild (`folio db recount`'s):
    rollups are derived data, so they must always follow the current definition. Safe while
    the API serves and `$inc`s them: each day is set from its data, so a run interrupted or
    repeated leaves the same result, and the API's moves land on what it set.
    """
    return await rebuild_rollups(db, report)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Remove the rollups, in batches by `_id`; returns how many documents it removed."""

    def remove(name: str) -> Callable[[list[dict[str, Any]]], Any]:
        async def work(batch: list[dict[str, Any]]) -> int:
            result = await db[name].delete_many({"_id": {"$in": [d["_id"] for d in batch]}})
            return result.deleted_count
        return work

    removed = 0
    for name in ("daily_stats", "tag_days"):
        removed += await in_batches(db[name], {}, {"_id": 1}, remove(name), report)
    return removed
