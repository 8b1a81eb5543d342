"""Article queries: page pipelines, viewer flags, writes and favorites. No HTTP here.

Every list is one aggregation (filter, sort, page and author join) and, when no recent count
is kept, one `count_documents` run beside it; plus at most one query to resolve usernames in
the filters and one `$in` query per viewer flag: a bounded number of round trips whatever the
page size or depth.
"""

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from beanie import PydanticObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from slugify import slugify

from models import Article, Favorite, User
from models.articles import NEWEST_CREATED, NEWEST_PUBLISHED, SCHEMA_VERSION
from models.common import as_utc, utc_now, utc_now_after
from models.favorites import NEWEST_FAVORITED
from models.favorites import SCHEMA_VERSION as FAVORITE_VERSION
from service.articles.content import reading_time_minutes, render_markdown
from service.articles.counts import FAVORITES_SCOPE, count_key, counts, kept
from service.contract.cursors import after_condition, keyset_cursor, next_page_cursor
from service.contract.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)
from service.contract.versions import at_version, version_bump, version_of
from service.engine import atomically, collection
from service.profiles.queries import author_stages, followed_among, public_author
from service.revisions.queries import record_revision, revision_document
from service.rollups.queries import move_article, move_favorites
from service.tags.counting import move_tags, recounting, schedule
from service.users.queries import Viewer, current_username, is_current, viewer_account
from service.users.roles import MODERATING_ROLES

T = TypeVar("T")
log = logging.getLogger("folio.articles")

SLUG_MAX_LENGTH = 80
SLUG_ATTEMPTS = 6
# Path segments that another route under /articles owns: `GET /api/articles/feed` is the feed,
# so an article titled "Feed" gets a suffixed slug, or it could never be read by slug.
RESERVED_SLUGS = frozenset({"feed"})

LIST_FIELDS = {
    "slug": 1,
    "title": 1,
    "description": 1,
    "tag_list": 1,
    "author_id": 1,
    "favorites_count": 1,
    "created_at": 1,
    "updated_at": 1,
    "status": 1,
    "publish_at": 1,
    "published_at": 1,
    "reading_time_minutes": 1,
    "meta": 1,
    "cover_image": 1,
    "canonical_url": 1,
    "version": 1,
    "moderation": 1,
}
# `tags_counted` rides along so that a write knows what it moves in the tag counts, and
# `comments_count` for the analytics rollups (an article's share moves with it).
FULL_FIELDS = {**LIST_FIELDS, "body": 1, "body_html": 1, "edited_by": 1, "tags_counted": 1,
               "comments_count": 1}
# An article read by slug also carries its comment counters: a page of its comments takes its
# total from them instead of counting.
BY_SLUG_FIELDS = {**FULL_FIELDS, "comments_count": 1, "hidden_comments_count": 1}
Sort = list[tuple[str, int]]


# --- pipeline builders (pure) -------------------------------------------------------------


def visible_at(now: datetime) -> dict[str, Any]:
    """The condition for articles everyone may see: published, and not scheduled past `now`."""
    return {"published_at": {"$lte": now}}


def article_page_pipeline(
    match: dict[str, Any],
    *,
    offset: int,
    limit: int,
    sort: Sort = NEWEST_PUBLISHED,
    after: dict[str, Any] | None = None,
    fields: dict[str, int] = LIST_FIELDS,
) -> list[dict[str, Any]]:
    """A page of matching articles (`fields`: no body by default) with authors.

    The total is counted separately.

    `$match` then `$sort` lead, so an index serves both (the sort without a blocking stage) and
    `$skip`/`$limit` stop the scan at the page. `after` (from a cursor) joins the filter, which
    keeps the index bounds tight at any depth. Only the page's rows reach the author join.
    """
    condition = {"$and": [match, after]} if after else match
    paging = [] if after or not offset else [{"$skip": offset}]
    return [
        {"$match": condition},
        {"$sort": dict(sort)},
        *paging,
        {"$limit": limit},
        {"$project": fields},
        *author_stages(fields),
    ]


def counts_per_article_pipeline(article_ids: list[PydanticObjectId]) -> list[dict[str, Any]]:
    """How many documents (favorite edges, comments) name each of these articles.

    Run on `favorites` (served by its `article` index) or `comments` (`article_created_at`).
    """
    return [
        {"$match": {"article_id": {"$in": article_ids}}},
        {"$group": {"_id": "$article_id", "edges": {"$sum": 1}}},
    ]


def article_by_slug_pipeline(slug: str) -> list[dict[str, Any]]:
    """One article by slug, body included, with its author."""
    return [{"$match": {"slug": slug}}, {"$limit": 1}, *author_stages(BY_SLUG_FIELDS)]


def favorites_page_pipeline(
    user_id: PydanticObjectId,
    article_match: dict[str, Any] | None,
    *,
    offset: int,
    limit: int,
    after: dict[str, Any] | None = None,
    scan_cap: int | None = None,
) -> list[dict[str, Any]]:
    """A page of one user's favorites, most recently favorited first, with authors.

    Driven from `favorites` by the `user_newest` index, so the edges read are bounded by the
    page however many favorites the user has; each edge joins its article by `_id`, and the
    edge's position rides along as `favorite` for the next cursor. Without `article_match`
    the page's edges are all joined (the caller drops articles that are no longer live).
    With it (other filters combined), the newest `scan_cap` edges are joined and filtered,
    and the page is taken from the matches: bounded by the cap, not by the page.
    """
    assert article_match is None or (scan_cap or 0) >= 1, "filtered pages need a scan cap"
    edges = {"user_id": user_id}
    condition = {"$and": [edges, after]} if after else edges
    paging = [*([] if after or not offset else [{"$skip": offset}]), {"$limit": limit}]
    fields = {**LIST_FIELDS, "favorite": 1}
    return [
        {"$match": condition},
        {"$sort": dict(NEWEST_FAVORITED)},
        *(paging if article_match is None else [{"$limit": scan_cap}]),
        *_joined_articles(article_match, LIST_FIELDS),
        *([] if article_match is None else paging),
        {"$addFields": {"article.favorite": {"at": "$created_at", "id": "$_id"}}},
        {"$replaceRoot": {"newRoot": "$article"}},
        {"$project": fields},
        *author_stages(fields),
    ]


def _joined_articles(
    article_match: dict[str, Any] | None, fields: dict[str, int]
) -> list[dict[str, Any]]:
    """Join each favorite edge to its article by `_id`, only if it matches `article_match`, and
    only its `fields` (never the body); edges whose article is gone or fails the filter drop.

    The concise correlated form (MongoDB 5.0+): `localField`/`foreignField` use the `_id`
    index, and the sub-pipeline filters and projects each joined article before it joins the
    edge, so a filtered page moves projected matches, not whole articles.
    """
    inner = [] if article_match is None else [{"$match": article_match}]
    return [
        {
            "$lookup": {
                "from": "articles",
                "localField": "article_id",
                "foreignField": "_id",
                "pipeline": [*inner, {"$project": fields}],
                "as": "article",
            }
        },
        {"$unwind": "$article"},
    ]


def favorites_count_pipeline(
    user_id: PydanticObjectId, article_match: dict[str, Any], *, scan_cap: int
) -> list[dict[str, Any]]:
    """How many of the user's newest `scan_cap` favorites match the other filters."""
    return [
        {"$match": {"user_id": user_id}},
        {"$sort": dict(NEWEST_FAVORITED)},
        {"$limit": scan_cap},
        *_joined_articles(article_match, {"_id": 1}),
        {"$count": "total"},
    ]


# --- reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleFilters:
    """The RealWorld list filters, plus Folio's `status` and `meta.<key>` filters."""

    tag: str | None = None
    author: str | None = None
    favorited: str | None = None
    status: str = "published"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArticleQuery:
    """A resolved list query: the `$match` (None when nothing can match) and its order.

    `favorites_of` makes it a list of that user's favorites, driven from the edges; `narrowed`
    says that filters beyond visibility (tag, author, meta, status) apply to it as well.
    """

    match: dict[str, Any] | None
    sort: Sort = field(default_factory=lambda: list(NEWEST_PUBLISHED))
    favorites_of: PydanticObjectId | None = None
    narrowed: bool = False
    # The count cache's key, when the filter itself would make a poor one (the feed's).
    key: str | None = None


def status_condition(status: str, now: datetime) -> tuple[dict[str, Any], Sort]:
    """The condition and order for one status: published (live), draft or scheduled."""
    if status == "draft":
        return {"status": "draft"}, NEWEST_CREATED
    if status == "scheduled":
        return {"status": "published", "published_at": {"$gt": now}}, NEWEST_PUBLISHED
    return visible_at(now), NEWEST_PUBLISHED


async def resolve_filters(filters: ArticleFilters, viewer: Viewer | None) -> ArticleQuery:
    """Turn filters into a `$match`; drafts and scheduled articles are listed only to their author."""
    condition, sort = status_condition(filters.status, utc_now())
    match: dict[str, Any] = {**filters.meta, **condition}
    if filters.tag is not None:
        match["tag_list"] = filters.tag
    author = filters.author
    if filters.status != "published":
        # The token check also tells us the caller's name, so `author=<me>` costs no lookup.
        name = None if viewer is None else await current_username(viewer)
        if viewer is None or name is None:
            raise Unauthorized("authorization", f"sign in to list your {filters.status} articles")
        if author is not None and author != name:
            raise Forbidden("status", f"only the author can list their {filters.status} articles")
        match["author_id"], author = viewer.id, None
    names = [name for name in (author, filters.favorited) if name is not None]
    if not names:
        return ArticleQuery(match, sort)
    found = collection(User).find({"username": {"$in": names}}, {"username": 1})
    owners = {owner["username"]: owner["_id"] async for owner in found}
    if any(name not in owners for name in names):
        return ArticleQuery(None, sort)
    if author is not None:
        match["author_id"] = owners[author]
    if filters.favorited is None:
        return ArticleQuery(match, sort)
    narrowed = match.keys() != condition.keys() or filters.status != "published"
    return ArticleQuery(match, list(NEWEST_FAVORITED), owners[filters.favorited], narrowed)


def feed_key(user_id: PydanticObjectId, follows_version: int) -> str:
    """The feed count's key: the reader and their follow version, never the follow list."""
    return f"feed of {user_id} at {follows_version}"


def feed_query(
    author_ids: list[PydanticObjectId], user_id: PydanticObjectId, follows_version: int
) -> ArticleQuery:
    """Live articles by these authors, newest first; nothing when following nobody."""
    if not author_ids:
        return ArticleQuery(None)
    return ArticleQuery(
        {"author_id": {"$in": author_ids}, **visible_at(utc_now())},
        key=feed_key(user_id, follows_version),
    )


async def favorited_among(
    user_id: PydanticObjectId | None, article_ids: Iterable[PydanticObjectId]
) -> set[PydanticObjectId]:
    """Which of these articles the viewer has favorited, in one query (none when anonymous)."""
    ids = list(article_ids)
    if user_id is None or not ids:
        return set()
    cursor = collection(Favorite).find(
        {"user_id": user_id, "article_id": {"$in": ids}}, {"article_id": 1, "_id": 0}
    )
    return {edge["article_id"] async for edge in cursor}


async def add_viewer_flags(
    articles: list[dict[str, Any]],
    viewer_id: PydanticObjectId | None,
    *,
    follows_every_author: bool = False,
) -> list[dict[str, Any]]:
    """Set `favorited` and `author.following` for the viewer: one `$in` query per flag."""
    favorited = await favorited_among(viewer_id, (article["_id"] for article in articles))
    followed = (
        set()
        if follows_every_author
        else await followed_among(viewer_id, (article["author"]["_id"] for article in articles))
    )
    for article in articles:
        article["favorited"] = article["_id"] in favorited
        article["author"]["following"] = follows_every_author or article["author"]["_id"] in followed
    return articles


@dataclass
class ArticlePage:
    """One page of articles with viewer flags, the total number of matches, and what follows."""

    articles: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None


# A `meta.<key>` filter is served by the wildcard index, which cannot also give the newest-first
# order: MongoDB sorts the matches in memory. Up to this many are sorted; more answer 422.
META_SORT_CAP = 10_000


async def _meta_matches(match: dict[str, Any]) -> int:
    """How many articles a meta-filtered list matches, counting no further than the cap."""
    total = await collection(Article).count_documents(match, limit=META_SORT_CAP + 1)
    if total > META_SORT_CAP:
        raise Invalid(
            "meta",
            f"matches more than {META_SORT_CAP} articles, too many to order by date; "
            "narrow it with tag or author, or another meta filter",
        )
    return total


async def article_page(
    query: ArticleQuery,
    viewer_id: PydanticObjectId | None,
    *,
    offset: int,
    limit: int,
    cursor: str | None = None,
    follows_every_author: bool = False,
) -> ArticlePage:
    """A page of articles with viewer flags, the total number of matches, and the next cursor."""
    if query.match is None:
        return ArticlePage([], 0)
    if query.favorites_of is not None:
        return await favorites_page(query, viewer_id, offset=offset, limit=limit, cursor=cursor)
    after = after_condition(cursor, query.sort) if cursor else None
    pipeline = article_page_pipeline(
        query.match, offset=offset, limit=limit, sort=query.sort, after=after
    )
    key = query.key or count_key(query.match)
    known, since = await counts().lookup(key)
    if known is None and any(field.startswith("meta.") for field in query.match):
        known = await _meta_matches(query.match)
        await counts().put(key, known, since)
    page_rows = collection(Article).aggregate(pipeline).to_list(length=limit)
    if known is None:
        # Counted apart from the page, on the filter alone, so that the count can use the
        # index too (inside a $facet it could not), and concurrently, so it costs no latency.
        rows, total = await asyncio.gather(
            page_rows, collection(Article).count_documents(query.match)
        )
        await counts().put(key, total, since)
    else:
        rows, total = await page_rows, known
    page = await add_viewer_flags(rows, viewer_id, follows_every_author=follows_every_author)
    next_cursor = next_page_cursor(query.sort, page, limit)
    return ArticlePage(page, total, next_cursor)


# `?favorited=` combined with other filters joins and filters up to this many of the user's
# newest favorites (each one `_id` lookup, filtered and projected inside the join); a user
# with more answers 422 for such a list. Every page and every count miss costs up to this
# many index lookups, so it stays small (the OpenAPI description of `favorited` says so).
FAVORITES_FILTER_CAP = 1_000


def favorites_key(user_id: PydanticObjectId) -> str:
    """The count-cache prefix of one user's favorites lists (their writes forget it)."""
    return f"{FAVORITES_SCOPE}{user_id}"


async def _favorites_total(user_id: PydanticObjectId) -> int:
    """How many favorite edges the user has (kept like any list count)."""
    return await kept(
        favorites_key(user_id),
        lambda: collection(Favorite).count_documents({"user_id": user_id}),
    )


async def _narrowed_total(query: ArticleQuery) -> int:
    """How many of the user's favorites match the other filters too, under the cap."""
    assert query.favorites_of is not None and query.match is not None
    pipeline = favorites_count_pipeline(
        query.favorites_of, query.match, scan_cap=FAVORITES_FILTER_CAP
    )
    found = await collection(Favorite).aggregate(pipeline).to_list(length=1)
    return found[0]["total"] if found else 0


async def favorites_page(
    query: ArticleQuery,
    viewer_id: PydanticObjectId | None,
    *,
    offset: int,
    limit: int,
    cursor: str | None,
) -> ArticlePage:
    """A page of one user's favorites, most recently favorited first (see ArticleQuery).

    Alone, `articlesCount` counts the user's favorites, including any article unpublished
    since; such an article is left out of its page, which is then shorter than `limit`.
    Combined with other filters, page and count are exact, up to FAVORITES_FILTER_CAP.
    """
    user_id = query.favorites_of
    assert user_id is not None and query.match is not None
    after = after_condition(cursor, query.sort) if cursor else None
    favorites = collection(Favorite)
    if not query.narrowed:
        pipeline = favorites_page_pipeline(
            user_id, None, offset=offset, limit=limit, after=after
        )
        rows, total = await asyncio.gather(
            favorites.aggregate(pipeline).to_list(length=limit), _favorites_total(user_id)
        )
    else:
        if await _favorites_total(user_id) > FAVORITES_FILTER_CAP:
            raise Invalid(
                "favorited",
                f"has more than {FAVORITES_FILTER_CAP} favorites, too many to combine with "
                "other filters; list them alone",
            )
        pipeline = favorites_page_pipeline(
            user_id, query.match, offset=offset, limit=limit, after=after,
            scan_cap=FAVORITES_FILTER_CAP,
        )
        key = f"{favorites_key(user_id)} {count_key(query.match)}"
        rows, total = await asyncio.gather(
            favorites.aggregate(pipeline).to_list(length=limit),
            kept(key, lambda: _narrowed_total(query)),
        )
    next_cursor = None
    if len(rows) == limit:  # taken before dropping rows, so that a page of them still moves on
        position = rows[-1]["favorite"]
        next_cursor = keyset_cursor(query.sort, {"created_at": position["at"], "_id": position["id"]})
    for row in rows:
        del row["favorite"]
    if not query.narrowed:
        rows = [row for row in rows if is_live(row)]
    page = await add_viewer_flags(rows, viewer_id)
    return ArticlePage(page, total, next_cursor)


def is_live(article: dict[str, Any]) -> bool:
    """Whether everyone may see this article: published, and its instant has come."""
    published_at = article.get("published_at")
    return published_at is not None and as_utc(published_at) <= utc_now()


async def is_visible(article: dict[str, Any], viewer: Viewer | None) -> bool:
    """Live articles to everyone; drafts and scheduled ones to their author, and hidden ones to
    their author and moderators (token re-checked, one read). An article whose deletion has
    started is seen by no one."""
    if article.get("status") == "deleted":
        return False
    if is_live(article):
        return True
    if viewer is None:
        return False
    if article["author_id"] == viewer.id:
        return await is_current(viewer)
    if article.get("moderation") is None:
        return False
    account = await viewer_account(viewer)
    return account is not None and account.get("role") in MODERATING_ROLES


def readable(article: dict[str, Any]) -> dict[str, Any]:
    """Fill what a schema-version-1 article lacks until migration 0001 backfills it."""
    if article.get("body_html") is None and "body" in article:
        article["body_html"] = render_markdown(article["body"])
        article["reading_time_minutes"] = reading_time_minutes(article["body"])
    return article


async def article_by_slug(slug: str, viewer: Viewer | None) -> dict[str, Any]:
    """The article with this slug and its author, if the viewer may see it; NotFound otherwise."""
    found = await collection(Article).aggregate(article_by_slug_pipeline(slug)).to_list(length=1)
    if not found or not await is_visible(found[0], viewer):
        raise NotFound("article", "not found")
    return readable(found[0])


# --- writes ---------------------------------------------------------------------------------


def slug_base(title: str) -> str:
    """The slug a title gives before any collision suffix."""
    return slugify(title, max_length=SLUG_MAX_LENGTH, word_boundary=True) or "article"


async def with_unique_slug(title: str, write: Callable[[str], Awaitable[T]]) -> T:
    """Run a write with the title's slug, adding a random suffix while the unique index objects."""
    base = slug_base(title)
    for attempt in range(SLUG_ATTEMPTS):
        plain = attempt == 0 and base not in RESERVED_SLUGS
        slug = base if plain else f"{base}-{secrets.token_hex(3)}"
        try:
            return await write(slug)
        except DuplicateKeyError:
            continue
    raise Conflict("slug", "could not find a free slug for this title; try another title")


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
    counted in the same transaction (service/tags/counting.py)."""
    assert author.id is not None
    now = utc_now()
    fields = {**fields, **derived_fields(fields, {}, now), "created_at": now, "updated_at": now}
    tags = recounting({}, fields, now)

    async def insert(slug: str) -> Article:
        article = Article(slug=slug, author_id=author.id, **fields,
                          tags_counted=tags.fields.get("tags_counted", False))

        async def both(session: Any) -> None:
            await article.insert(session=session)
            await move_tags(tags.moves, session)

        if tags.moves:
            await atomically(both)
        else:  # a draft, a scheduled or an untagged article: one insert, nothing to count
            await article.insert()
        return article

    article = await with_unique_slug(fields["title"], insert)
    schedule().note(tags.scheduled)
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
    article: dict[str, Any], editor: User, changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Replace the version read by a new one and record it as a revision; None if it moved.

    The update's filter carries the version read, so the revision holds exactly the content
    replaced. Both writes, and the tag counts' moves when the tags or the article's visibility
    change, run in one transaction where the server has them. Elsewhere the
    article update comes first and is kept if recording then fails: taking it back would move
    the version back, and a tag for the new version may already be out, so a later edit could
    reuse that number with other content and let a stale If-Match pass. The failure is logged
    and propagates; the history lacks that one version, the article loses nothing.
    """
    assert editor.id is not None
    now = utc_now_after(article.get("updated_at"))
    fields = {
        **changes, **derived_fields(changes, article, now), "updated_at": now, "edited_by": editor.id,
    }
    tags = recounting(article, fields, now)
    fields.update(tags.fields)
    selector = {"_id": article["_id"], **at_version(article), **tags.guard}
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
            return updated

        return await atomically(both)

    new_title = changes.get("title")
    if new_title is not None and slug_base(new_title) != slug_base(article["title"]):
        updated = await with_unique_slug(new_title, write)
    else:
        updated = await write(None)
    if updated is not None:
        schedule().note(tags.scheduled)
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
    for _ in range(UPDATE_ATTEMPTS):
        updated = await _replace_version(current, editor, changes)
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


async def move_counter(
    article_id: PydanticObjectId, counter: str, delta: int, session: Any = None
) -> int | None:
    """Atomically add delta to one of the article's counters; its new value, None if gone.

    Nothing is ever added to an article marked deleted (None, as if gone): a favorite or
    comment that raced the mark takes itself back, so its sweep cannot miss it.
    """
    live = {"status": {"$ne": "deleted"}} if delta > 0 else {}
    updated = await collection(Article).find_one_and_update(
        {"_id": article_id, **live},
        {"$inc": {counter: delta}},
        projection={counter: 1},
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    return None if updated is None else updated[counter]


async def counted_insert(
    article_id: PydanticObjectId,
    counter: str,
    insert: Callable[[Any], Awaitable[Any]],
    undo: Callable[[], Awaitable[Any]],
    session: Any,
) -> int:
    """Insert a document that an article counts (`insert(session)`) and `$inc` the counter.

    Inside a transaction the `$inc` comes first (see `hot_first`) and both apply or neither.
    Without one the document comes first, and a failed `$inc`, or an article deleted
    meanwhile (NotFound), makes `undo()` take it back. Returns the new count.
    """
    if session is not None:
        count = await hot_first(article_id, counter, +1, session)
        await insert(session)
        return count
    await insert(None)
    try:
        count = await move_counter(article_id, counter, +1)
    except BaseException:
        await undo()  # no transaction to abort: take the document back
        raise
    if count is None:  # the article was deleted meanwhile
        await undo()
        raise NotFound("article", "not found")
    return count


async def hot_first(article_id: PydanticObjectId, counter: str, delta: int, session: Any) -> int:
    """A transaction's first statement: the `$inc` on the article (NotFound if it is gone).

    The article is the one document that every favorite and comment of it writes; on a viral
    article, concurrent transactions conflict there (WriteConflict, a TransientTransactionError).
    Writing it first means a conflict aborts the transaction before any other work, so a retry
    wastes one statement, and the transaction's snapshot starts at that write (a commit on the
    article just before it no longer conflicts). The reasoning: docs/scaling.md, "Hot articles".
    """
    count = await move_counter(article_id, counter, delta, session)
    if count is None:
        raise NotFound("article", "not found")
    return count


def _edge_document(edge: dict[str, Any]) -> dict[str, Any]:
    """A favorite edge as stored, stamped now."""
    return edge | {"created_at": utc_now(), "schema_version": FAVORITE_VERSION}


class _AlreadyDone(Exception):
    """The edge was already there (or already gone): nothing to write."""


async def favorite(article: dict[str, Any], user_id: PydanticObjectId) -> int:
    """Record the favorite edge and bump the counter once; returns the new favorites count.

    On a replica set both writes are one transaction. Elsewhere a failed counter update takes
    the edge back; after a failover on a standalone server the outcome of that update is
    unknown, so the count can drift by one: `folio db recount` repairs it.
    """
    edge = {"user_id": user_id, "article_id": article["_id"]}

    async def insert(session: Any) -> None:
        try:
            await collection(Favorite).insert_one(_edge_document(edge), session=session)
        except DuplicateKeyError:
            raise _AlreadyDone from None

    async def write(session: Any) -> int:
        return await counted_insert(
            article["_id"], "favorites_count", insert,
            lambda: collection(Favorite).delete_one(edge), session,
        )

    try:
        count = await atomically(write)
    except _AlreadyDone:
        return article["favorites_count"]  # already favorited: nothing moves
    finally:
        await counts().forget(favorites_key(user_id))
    await move_favorites(article, +1)
    return count


async def unfavorite(article: dict[str, Any], user_id: PydanticObjectId) -> int:
    """Remove the favorite edge and drop the counter once; returns the new favorites count.

    One transaction on a replica set; elsewhere a failed counter update restores the edge.
    """
    edge = {"user_id": user_id, "article_id": article["_id"]}

    async def write(session: Any) -> int:
        if session is not None:  # the hot write first; no edge aborts it, undoing the `$inc`
            count = await hot_first(article["_id"], "favorites_count", -1, session)
            removed = await collection(Favorite).delete_one(edge, session=session)
            if removed.deleted_count == 0:
                raise _AlreadyDone
            return count
        removed = await collection(Favorite).delete_one(edge)
        if removed.deleted_count == 0:
            raise _AlreadyDone
        try:
            found = await move_counter(article["_id"], "favorites_count", -1)
        except BaseException:
            await collection(Favorite).insert_one(_edge_document(edge))
            raise
        if found is None:
            raise NotFound("article", "not found")
        return found

    try:
        count = await atomically(write)
    except _AlreadyDone:
        return article["favorites_count"]
    finally:
        await counts().forget(favorites_key(user_id))
    await move_favorites(article, -1)
    return count
