"""Article writes and versions: create, and update as a new version that keeps the one replaced
as a revision (service/revisions/), in the same transaction. No HTTP here.
"""

import logging
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import Article, User
from models.articles import SCHEMA_VERSION
from models.common import as_utc, utc_now, utc_now_after
from service.articles.announcing import announce, announcements, announcing, author_of
from service.articles.content import reading_time_minutes, render_markdown
from service.articles.counts import counts
from service.articles.reads import FULL_FIELDS
from service.articles.slugs import slug_base, with_unique_slug
from service.articles.visibility import readable
from service.contract.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
)
from service.contract.versions import at_version, version_bump, version_of
from service.engine import atomically, collection
from service.media.covers import resolve_cover, used_media
from service.profiles.queries import public_author
from service.revisions.queries import record_revision, revision_document
from service.rollups.queries import move_article
from service.tags.counting import move_tags, recounting, schedule

log = logging.getLogger("folio.articles")


def with_author(article: dict[str, Any], author: User) -> dict[str, Any]:
    """Attach the author's public fields, as the by-slug pipeline would."""
    return {**article, "author": public_author(author)}


def published_at_for(
    status: str, publish_at: datetime | None, previous: datetime | None, now: datetime
) -> datetime | None:
    """When an article is public: never for drafts, at `publish_at` if set, else since it went live."""
    if status == "draft":
        return None
    if publish_at is not None:
        return publish_at
    if previous is not None and as_utc(previous) <= now:
        return previous
    return now


def derived_fields(fields: dict[str, Any], current: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The stored fields computed from the written ones: HTML, reading time, publication instant."""
    derived: dict[str, Any] = {}
    if "body" in fields:
        derived["body_html"] = render_markdown(fields["body"])
        derived["reading_time_minutes"] = reading_time_minutes(fields["body"])
        derived["schema_version"] = SCHEMA_VERSION
    if "body" in fields or "cover_image" in fields:
        merged = {**current, **fields}
        derived["media_ids"] = used_media(merged.get("cover_image"), merged.get("body"))
    if {"status", "publish_at"} & fields.keys() or "published_at" not in current:
        merged = {**current, **fields}
        moderation = current.get("moderation")
        published_at = published_at_for(
            merged.get("status", "published"),
            merged.get("publish_at"),
            moderation["published_at"] if moderation else current.get("published_at"),
            now,
        )
        # A hidden article's instant waits in `moderation` until a moderator unhides it, so an
        # author's edit can never make it public again.
        derived["moderation.published_at" if moderation else "published_at"] = published_at
    return derived


async def create_article(author: User, fields: dict[str, Any]) -> dict[str, Any]:
    """Insert a new article with a unique slug derived from its title; a live one's tags are
    counted, and its `article.published` written, in the same transaction
    (service/tags/counting.py, service/articles/announcing.py)."""
    assert author.id is not None
    now = utc_now()
    fields = await resolve_cover(author.id, fields)
    fields = {**fields, **derived_fields(fields, {}, now), "created_at": now, "updated_at": now}
    tags = recounting({}, fields, now)
    event = announcing({}, fields, now)

    async def insert(slug: str) -> Article:
        article = Article(slug=slug, author_id=author.id, **fields,
                          tags_counted=tags.fields.get("tags_counted", False),
                          announced=event.fields["announced"])

        async def both(session: Any) -> None:
            await article.insert(session=session)
            await move_tags(tags.moves, session)
            stored = article.model_dump(by_alias=False) | {"_id": article.id}
            await announce(event.event, stored, author_of(author), author, session)

        if tags.moves or event.event:
            await atomically(both)
        else:  # a draft or a scheduled article: one insert, nothing to count or announce
            await article.insert()
        return article

    article = await with_unique_slug(fields["title"], insert)
    schedule().note(tags.scheduled)
    announcements().note(tags.scheduled)
    await counts().clear()
    stored = article.model_dump(by_alias=False) | {"_id": article.id}
    await move_article(None, stored)
    return with_author(stored, author)


def stale() -> PreconditionFailed:
    """The 412 for an `If-Match` that names a version no longer current."""
    return PreconditionFailed("article", "was changed by someone else")


# Without If-Match an update re-reads and tries again when another write moved the version
# first (the last writer still wins); this many times, then 409.
UPDATE_ATTEMPTS = 5


async def reread(article_id: PydanticObjectId) -> dict[str, Any]:
    """The article as stored now (without its author), for another attempt; NotFound if gone
    (or being deleted)."""
    found = await collection(Article).find_one(
        {"_id": article_id, "status": {"$ne": "deleted"}}, dict(FULL_FIELDS)
    )
    if found is None:
        raise NotFound("article", "not found")
    return found


async def _replace_version(
    article: dict[str, Any], editor: User, changes: dict[str, Any], author: dict[str, Any]
) -> dict[str, Any] | None:
    """Replace the version read by a new one and record it as a revision; None if it moved.

    The update's filter carries the version read, so the revision holds exactly the content
    replaced. Both writes, and the tag counts' moves when the tags or the article's visibility
    change, run in one transaction where the server has them. Elsewhere the
    article update comes first and is kept if recording then fails: taking it back would move
    the version back, and a tag for the new version may already be out, so a later edit could
    reuse that number with other content and let a stale If-Match pass. The failure is logged
    and propagates; the history lacks that one version, the article loses nothing. The event
    the change makes (announcing.py) is written in the same transaction, last.
    """
    assert editor.id is not None
    now = utc_now_after(article.get("updated_at"))
    fields = {
        **changes, **derived_fields(changes, article, now), "updated_at": now, "edited_by": editor.id,
    }
    tags = recounting(article, fields, now)
    fields.update(tags.fields)
    event = announcing(article, fields, now)
    fields.update(event.fields)
    selector = {"_id": article["_id"], **at_version(article), **tags.guard, **event.guard}
    revision = revision_document(article, version_of(article), editor.id, now)

    async def write(slug: str | None) -> dict[str, Any] | None:
        bump = version_bump(article, fields if slug is None else {**fields, "slug": slug})

        async def both(session: Any) -> dict[str, Any] | None:
            updated = await collection(Article).find_one_and_update(
                selector,
                bump,
                projection=dict(FULL_FIELDS),  # a copy: the embedded engine adds `_id` to it in place
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if updated is None:
                return None
            try:
                await record_revision(revision, session)
            except DuplicateKeyError as error:
                # Not a slug collision: with_unique_slug must not try another suffix for it.
                raise Conflict("revision", "could not be recorded; try again") from error
            except BaseException:
                if session is None:
                    log.error("article %s updated to version %d without its revision of %d",
                              article["_id"], revision["version"] + 1, revision["version"])
                raise
            try:
                await move_tags(tags.moves, session)
            except BaseException:
                if session is None:  # `folio db recount` repairs the counts
                    log.error("article %s updated without moving its tag counts %s",
                              article["_id"], tags.moves)
                raise
            await announce(event.event, updated, author, editor, session)
            return updated

        return await atomically(both)

    new_title = changes.get("title")
    if new_title is not None and slug_base(new_title) != slug_base(article["title"]):
        updated = await with_unique_slug(new_title, write)
    else:
        updated = await write(None)
    if updated is not None:
        schedule().note(tags.scheduled)
        announcements().note(tags.scheduled)
    return updated


async def update_article(
    article: dict[str, Any], editor: User, changes: dict[str, Any], *, if_version: bool = False
) -> dict[str, Any]:
    """Apply changes as a new version, keeping the one replaced as a revision (see revisions).

    `article` is as read by slug, with its author. A title that slugifies differently moves
    the slug. Each write applies only while the stored article is still at the version read
    (checked by the `find_one_and_update` itself, never by a read before it). With
    `if_version` a miss is PreconditionFailed and nothing is written; without it the article
    is read again and the change applied to that, up to UPDATE_ATTEMPTS times, then Conflict.
    """
    current = article
    changes = await resolve_cover(article["author_id"], changes)
    for _ in range(UPDATE_ATTEMPTS):
        updated = await _replace_version(current, editor, changes, article["author"])
        if updated is not None:
            await counts().clear()
            await move_article(current, updated)
            return {**readable(updated), "author": article["author"]}
        try:
            fresh = await reread(article["_id"])
        except NotFound:
            if if_version:
                raise stale() from None
            raise
        # The write also misses when only `tags_counted` moved (a sweep counted the article as
        # it went live): the version is the same, so If-Match still holds.
        if if_version and version_of(fresh) != version_of(current):
            raise stale()
        current = fresh
    raise Conflict("article", "kept changing while this update was retried; try again")
