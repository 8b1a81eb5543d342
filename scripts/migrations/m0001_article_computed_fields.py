"""Articles v1 → v2: store `body_html` and `reading_time_minutes`, computed from `body`."""

from collections.abc import Callable
from typing import Any

from scripts.migrate import in_batches
from service.articles.content import reading_time_minutes, render_markdown

ID = "0001_article_computed_fields"
DESCRIPTION = "backfill articles.body_html and articles.reading_time_minutes (schema_version 2)"
PENDING = {"schema_version": {"$ne": 2}}


async def up(db: Any, report: Callable[[int], None]) -> int:
    """Compute the fields for every article not yet at version 2; returns how many changed."""

    async def backfill(batch: list[dict[str, Any]]) -> int:
        changed = 0
        for article in batch:
            body = article.get("body", "")
            # The guard again: an API write may have brought the article to version 2 meanwhile.
            result = await db.articles.update_one(
                {"_id": article["_id"], **PENDING},
                {"$set": {"body_html": render_markdown(body),
                          "reading_time_minutes": reading_time_minutes(body),
                          "schema_version": 2}},
            )
            changed += result.modified_count
        return changed

    return await in_batches(db.articles, PENDING, {"body": 1}, backfill, report)


async def down(db: Any, report: Callable[[int], None]) -> int:
    """Remove the computed fields and the version marker again; returns how many changed."""

    async def strip(batch: list[dict[str, Any]]) -> int:
        result = await db.articles.update_many(
            {"_id": {"$in": [article["_id"] for article in batch]}, "schema_version": 2},
            {"$unset": {"body_html": "", "reading_time_minutes": "", "schema_version": ""}},
        )
        return result.modified_count

    return await in_batches(db.articles, {"schema_version": 2}, {"_id": 1}, strip, report)
