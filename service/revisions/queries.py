"""Article revisions: record what an update replaced, trim to the last ones, page them. No HTTP.

Recording is called by `service.articles.writes.update_article`, inside the same
`atomically` as the article update; this module never imports the articles queries, so the
arrow runs one way.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import DESCENDING

from models import ArticleRevision
from models.revisions import KEPT_REVISIONS, SCHEMA_VERSION
from service.contract.cursors import after_condition, next_page_cursor
from service.contract.errors import NotFound
from service.engine import collection
from service.profiles.queries import usernames_of

# Newest version first: the order of the `article_version_unique` index, so it serves the
# page, the cursor's range and the trim.
NEWEST_VERSION = [("version", DESCENDING)]
# What a revision restores: the content an update can replace.
CONTENT_FIELDS = ("title", "description", "body", "tag_list")


# --- builders (pure) ------------------------------------------------------------------------


def revision_document(
    article: dict[str, Any], version: int, replaced_by: PydanticObjectId, replaced_at: datetime
) -> dict[str, Any]:
    """The revision that keeps `article` (as read, at `version`) when `replaced_by` replaces it.

    Its editor is whoever wrote that version: `edited_by`, or the author when that is unset.
    """
    return {
        "article_id": article["_id"],
        "version": version,
        "title": article["title"],
        "description": article["description"],
        "body": article["body"],
        "tag_list": list(article.get("tag_list") or []),
        "editor_id": article.get("edited_by") or article["author_id"],
        "edited_at": article.get("updated_at") or article.get("created_at") or replaced_at,
        "replaced_by": replaced_by,
        "replaced_at": replaced_at,
        "schema_version": SCHEMA_VERSION,
    }


def trim_filter(article_id: PydanticObjectId, newest: int) -> dict[str, Any] | None:
    """The revisions older than the last KEPT_REVISIONS once `newest` is recorded; None if none.

    A range on the unique index (article_id, version): one `delete_many` however many there are.
    """
    oldest_kept = newest - KEPT_REVISIONS + 1
    if oldest_kept <= 1:
        return None
    return {"article_id": article_id, "version": {"$lt": oldest_kept}}


def revisions_page_filter(article_id: PydanticObjectId, cursor: str | None) -> dict[str, Any]:
    """The filter of one page of an article's revisions, after the cursor's version if any."""
    match: dict[str, Any] = {"article_id": article_id}
    if cursor is None:
        return match
    return {"$and": [match, after_condition(cursor, NEWEST_VERSION)]}


def restored_content(revision: dict[str, Any]) -> dict[str, Any]:
    """The changes that make a revision's content current again."""
    return {field: revision[field] for field in CONTENT_FIELDS}


def named_revisions(
    revisions: list[dict[str, Any]], usernames: dict[PydanticObjectId, str]
) -> list[dict[str, Any]]:
    """Each revision with `editor` and `replaced_by` as `{"username"}`; null for a deleted user."""

    def who(user_id: PydanticObjectId | None) -> dict[str, str] | None:
        name = usernames.get(user_id) if user_id is not None else None
        return None if name is None else {"username": name}

    return [
        {**revision, "editor": who(revision.get("editor_id")),
         "replaced_by": who(revision.get("replaced_by"))}
        for revision in revisions
    ]


# --- writes ---------------------------------------------------------------------------------


async def record_revision(revision: dict[str, Any], session: Any = None) -> None:
    """Store a revision, then delete those past the last KEPT_REVISIONS of its article.

    An upsert on (article_id, version): recording the same version again (a retried
    transaction, a re-run after a failure) rewrites it rather than failing on the unique index.
    """
    key = {"article_id": revision["article_id"], "version": revision["version"]}
    await collection(ArticleRevision).replace_one(key, revision, upsert=True, session=session)
    older = trim_filter(revision["article_id"], revision["version"])
    if older is not None:
        await collection(ArticleRevision).delete_many(older, session=session)


# --- reads ----------------------------------------------------------------------------------


@dataclass
class RevisionPage:
    """One page of revisions, newest version first, the article's total and what follows."""

    revisions: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None


async def revisions_page(
    article_id: PydanticObjectId, *, limit: int, cursor: str | None = None
) -> RevisionPage:
    """A page of the article's revisions, newest first, with editor names.

    Three round trips whatever the page size: the page and the count (concurrently), then
    one `$in` query for every name on the page.
    """
    revisions = collection(ArticleRevision)
    page_rows = revisions.find(
        revisions_page_filter(article_id, cursor), sort=NEWEST_VERSION, limit=limit
    ).to_list(length=limit)
    rows, total = await asyncio.gather(
        page_rows, revisions.count_documents({"article_id": article_id})
    )
    people = {row["editor_id"] for row in rows} | {row["replaced_by"] for row in rows}
    named = named_revisions(rows, await usernames_of(people))
    next_cursor = next_page_cursor(NEWEST_VERSION, rows, limit)
    return RevisionPage(named, total, next_cursor)


async def revision_at(article_id: PydanticObjectId, version: int) -> dict[str, Any]:
    """The article's revision of this version; NotFound if none is kept."""
    found = await collection(ArticleRevision).find_one(
        {"article_id": article_id, "version": version}
    )
    if found is None:
        raise NotFound("revision", "not found")
    return found
