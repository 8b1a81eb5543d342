"""Articles v1 → v2: store `body_html` and `reading_time_minutes`, computed from `body`."""

from typing import Any

from service.articles.content import reading_time_minutes, render_markdown

ID = "0001_article_computed_fields"
DESCRIPTION = "backfill articles.body_html and articles.reading_time_minutes (schema_version 2)"


async def up(db: Any, session: Any) -> int:
    """Compute the fields for every article not yet at version 2; returns how many changed."""
    changed = 0
    cursor = db.articles.find({"schema_version": {"$ne": 2}}, {"body": 1}, session=session)
    async for article in cursor:
        body = article.get("body", "")
        result = await db.articles.update_one(
            {"_id": article["_id"], "schema_version": {"$ne": 2}},
            {"$set": {"body_html": render_markdown(body),
                      "reading_time_minutes": reading_time_minutes(body),
                      "schema_version": 2}},
            session=session,
        )
        changed += result.modified_count
    return changed


async def down(db: Any, session: Any) -> int:
    """Remove the computed fields and the version marker again; returns how many changed."""
    result = await db.articles.update_many(
        {"schema_version": 2},
        {"$unset": {"body_html": "", "reading_time_minutes": "", "schema_version": ""}},
        session=session,
    )
    return result.modified_count
