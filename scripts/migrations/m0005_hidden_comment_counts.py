"""Articles: `hidden_comments_count`, kept by `$inc` beside each hide, unhide and delete of a
comment, so that a comment total is read from the article instead of counted."""

from collections.abc import Callable
from typing import Any

from scripts.dbtools import HiddenCountMoving, hidden_truth, settle_hidden_count
from scripts.migrate import MigrationIncomplete, in_batches

ID = "0005_hidden_comment_counts"
DESCRIPTION = "count each article's hidden comments into articles.hidden_comments_count"


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Set the counter on every article that lacks it; returns how many were set.

    Runs while the API serves, which `$inc`s the counter on every hide, unhide and delete (an
    `$inc` on an article without it starts from 0). Each article gets the truth only while it
    still lacks the counter; one that gained it meanwhile is settled on its own
    (`settle_hidden_count`, exact on a replica set), and any that kept moving fail the run
    before it is recorded, so that running it again finishes them.
    """
    skipped: list[Any] = []

    async def count(batch: list[dict[str, Any]]) -> int:
        truth = await hidden_truth([article["_id"] for article in batch])
        changed = 0
        for article in batch:
            moved = await db.articles.update_one(
                {"_id": article["_id"], "hidden_comments_count": {"$exists": False}},
                {"$set": {"hidden_comments_count": truth.get(article["_id"], 0)}},
            )
            if moved.matched_count:
                changed += 1
            else:
                skipped.append(article["_id"])
        return changed

    changed = await in_batches(
        db.articles, {"hidden_comments_count": {"$exists": False}}, {"_id": 1}, count, report
    )
    moving = []
    for article_id in skipped:  # each gained the counter between our read and our write
        try:
            await settle_hidden_count(article_id)
        except HiddenCountMoving:
            moving.append(article_id)
    if moving:
        raise MigrationIncomplete(f"{ID}: {len(moving)} articles' hidden comment counts kept "
                                  "moving; run `folio migrate up` again")
    return changed + len(skipped)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Remove the counters; returns how many articles had one."""

    async def remove(batch: list[dict[str, Any]]) -> int:
        result = await db.articles.update_many(
            {"_id": {"$in": [article["_id"] for article in batch]}},
            {"$unset": {"hidden_comments_count": ""}},
        )
        return result.modified_count

    return await in_batches(db.articles, {"hidden_comments_count": {"$exists": True}},
                            {"_id": 1}, remove, report)
