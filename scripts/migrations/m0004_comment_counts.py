"""Articles: `comments_count`, kept by `$inc` beside each comment write (for author analytics)."""

from collections.abc import Callable
from typing import Any

from scripts.migrate import MigrationIncomplete, in_batches
from service.articles.recount import recount_until_settled

ID = "0004_comment_counts"
DESCRIPTION = "count each article's comments into articles.comments_count"


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Set every article's counter from its comments; returns how many counters changed.

    Runs while the API serves, which already `$inc`s the counter on every comment write: each
    article whose counter disagrees is recounted exactly (service/articles/recount.py: one small
    transaction on a replica set, a guarded set retried while it moves elsewhere). Counters still
    moving after that are recounted again; any left then make the migration fail, unrecorded
    (MigrationIncomplete), so that running it again finishes the work.
    """
    result = await recount_until_settled(db.articles, [("comments_count", db.comments)], report)
    if result.moving:
        slugs = ", ".join(slug for _, slug, _ in result.moving[:10])
        raise MigrationIncomplete(
            f"{ID}: the comments_count of {len(result.moving)} articles kept moving while it "
            f"was recounted ({slugs}); run `folio migrate up` again"
        )
    return len(result.fixed)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Remove the counters; returns how many articles had one."""

    async def remove(batch: list[dict[str, Any]]) -> int:
        result = await db.articles.update_many(
            {"_id": {"$in": [article["_id"] for article in batch]}},
            {"$unset": {"comments_count": ""}},
        )
        return result.modified_count

    return await in_batches(db.articles, {"comments_count": {"$exists": True}}, {"_id": 1},
                            remove, report)
