"""Articles: `hidden_comments_count`, kept by `$inc` beside each hide, unhide and delete of a
comment, so that a comment total is read from the article instead of counted."""

from collections.abc import Callable
from typing import Any

from models.comments import HIDDEN
from scripts.migrate import MigrationIncomplete, in_batches
from service.articles.recount import recount_until_settled

ID = "0005_hidden_comment_counts"
DESCRIPTION = "count each article's hidden comments into articles.hidden_comments_count"


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Set the counter on every article from its hidden comments; returns how many it set.

    Runs while the API serves, which `$inc`s the counter on every hide, unhide and delete (an
    `$inc` on an article without it starts from 0): each article is recounted exactly, as
    `folio db recount` does (service/articles/recount.py: one small transaction each on a
    replica set), and any that kept moving fail the run before it is recorded, so that running
    it again finishes them.
    """
    found = await recount_until_settled(
        db.articles, [("hidden_comments_count", db.comments, HIDDEN)], report
    )
    if found.moving:
        raise MigrationIncomplete(f"{ID}: {len(found.moving)} articles' hidden comment counts "
                                  "kept moving; run `folio migrate up` again")
    return len(found.fixed)


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
