"""Tags: the `tags` collection, each tag's live articles counted by `$inc` (service/tags/counting.py)."""

from collections.abc import Callable
from typing import Any

from models.common import utc_now
from scripts.migrate import in_batches
from service.tags.counting import flag_unflagged

ID = "0006_tag_counts"
DESCRIPTION = "flag every article's tags_counted and count live articles' tags into tags"


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Flag and count every article written before tag counts, in `_id` batches; returns how
    many live articles it counted.

    Runs while the API serves. Only articles without `tags_counted` are read, and each is
    claimed by that missing flag (in a transaction with its `$inc`s where the server has them),
    so an API write that flags an article meanwhile, or a re-run after a crash, never counts one
    twice. Scheduled articles are flagged uncounted; the API's sweep counts them once due.
    Run it after every process serves this version: an older one writes no flags or counts
    (`folio db recount` then settles what it wrote).
    """
    now = utc_now()

    async def count(batch: list[dict[str, Any]]) -> int:
        return await flag_unflagged(batch, now)

    return await in_batches(db.articles, {"tags_counted": {"$exists": False}}, {"_id": 1},
                            count, report)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Drop the counts and the flags; returns how many articles had a flag."""

    async def unflag(batch: list[dict[str, Any]]) -> int:
        result = await db.articles.update_many(
            {"_id": {"$in": [article["_id"] for article in batch]}},
            {"$unset": {"tags_counted": ""}},
        )
        return result.modified_count

    unflagged = await in_batches(db.articles, {"tags_counted": {"$exists": True}}, {"_id": 1},
                                 unflag, report)
    await db.tags.delete_many({})
    return unflagged
