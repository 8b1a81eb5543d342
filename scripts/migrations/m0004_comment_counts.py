"""Articles: `comments_count`, kept by `$inc` beside each comment write (for author analytics)."""

from collections.abc import Callable
from typing import Any

from scripts.migrate import in_batches

ID = "0004_comment_counts"
DESCRIPTION = "count each article's comments into articles.comments_count"


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Set every article's counter from its comments; returns how many counters changed.

    Runs while the API serves, which already `$inc`s the counter on every comment write. Each
    correction is an `$inc` by the difference, applied only if the counter still holds what was
    read; one that moved meanwhile is left as it is (`folio db recount` settles it).
    """

    async def count(batch: list[dict[str, Any]]) -> int:
        ids = [article["_id"] for article in batch]
        truth = {
            group["_id"]: group["comments"]
            async for group in db.comments.aggregate([
                {"$match": {"article_id": {"$in": ids}}},
                {"$group": {"_id": "$article_id", "comments": {"$sum": 1}}},
            ])
        }
        changed = 0
        for article in batch:
            stored, true = article.get("comments_count"), truth.get(article["_id"], 0)
            if stored == true:
                continue
            unchanged = {"$exists": False} if stored is None else stored
            moved = await db.articles.update_one(
                {"_id": article["_id"], "comments_count": unchanged},
                {"$inc": {"comments_count": true - (stored or 0)}},
            )
            changed += moved.modified_count
        return changed

    return await in_batches(db.articles, {}, {"comments_count": 1}, count, report)


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
