"""Article reads and their pipelines: lists (filters, feed, favorites), one by slug, and the
viewer's flags. No HTTP here.

Every list is one read of its page (filter, sort, window: a `find` for an anonymous reader, an
aggregation that also joins a signed-in viewer's favorite and follow edges by point lookups);
its authors from the profiles this process keeps (service/users/authors.py: one `$in` for those
it lacks); when no recent count is kept and the page cannot tell the total itself, one
`count_documents`; plus at most one query to resolve usernames in the filters: a bounded number
of round trips whatever the page size or depth.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from beanie import PydanticObjectId

from models import Article, User
from models.articles import NEWEST_PUBLISHED
from models.common import utc_now
from models.favorites import NEWEST_FAVORITED
from service.articles.counts import FAVORITES_SCOPE, count_key, counts, kept
from service.articles.visibility import (
    Sort,
    is_live,
    is_visible,
    readable,
    status_condition,
    visible_at,
)
from service.contract.cursors import after_condition, keyset_cursor, next_page_cursor
from service.contract.errors import (
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
)
from service.engine import collection
from service.favorites import queries as favorites
from service.favorites.queries import FAVORITED_BY_VIEWER, favorited_stages
from service.profiles.queries import (
    FOLLOWED_BY_VIEWER,
    followed_among,
    following_stages,
)
from service.users.authors import with_authors
from service.users.queries import Viewer, current_username

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
               "announced": 1,
               "comments_count": 1}


# An article read by slug also carries its comment counters: a page of its comments takes its
# total from them instead of counting.
BY_SLUG_FIELDS = {**FULL_FIELDS, "comments_count": 1, "hidden_comments_count": 1}


def page_find(
    match: dict[str, Any],
    *,
    offset: int,
    limit: int,
    sort: Sort = NEWEST_PUBLISHED,
    after: dict[str, Any] | None = None,
    fields: dict[str, int] = LIST_FIELDS,
) -> dict[str, Any]:
    """A page of matching articles (`fields`: no body by default), as `find`'s arguments.

    The filter and the order are served by one index (the sort without a blocking stage), and
    `skip`/`limit` stop the scan at the page. `after` (from a cursor) joins the filter, which
    keeps the index bounds tight at any depth. Authors are joined afterwards from the kept
    profiles (service/users/authors.py); the total is counted separately.
    """
    return {
        "filter": {"$and": [match, after]} if after else match,
        "projection": fields,
        "sort": list(sort),
        "skip": 0 if after else offset,
        "limit": limit,
    }


def article_page_pipeline(
    match: dict[str, Any],
    *,
    offset: int,
    limit: int,
    sort: Sort = NEWEST_PUBLISHED,
    after: dict[str, Any] | None = None,
    fields: dict[str, int] = LIST_FIELDS,
    viewer_id: PydanticObjectId | None = None,
    follows_every_author: bool = False,
) -> list[dict[str, Any]]:
    """`page_find`'s page as a pipeline, with the viewer's edges joined to its rows
    (`viewer_stages`): how a signed-in reader's page is read. Only the page's rows reach the
    joins.
    """
    read = page_find(match, offset=offset, limit=limit, sort=sort, after=after, fields=fields)
    paging = [{"$skip": read["skip"]}] if read["skip"] else []
    return [
        {"$match": read["filter"]},
        {"$sort": dict(read["sort"])},
        *paging,
        {"$limit": limit},
        {"$project": fields},
        *viewer_stages(viewer_id, follows_every_author=follows_every_author),
    ]


def viewer_stages(
    viewer_id: PydanticObjectId | None, *, follows_every_author: bool = False
) -> list[dict[str, Any]]:
    """Join the viewer's favorite and follow edges to each row (none when anonymous), so that
    the flags ride in the page's own read: one point lookup per row and flag, each on the
    edge collection's unique compound index. The feed's authors are all followed: no join."""
    if viewer_id is None:
        return []
    following = [] if follows_every_author else following_stages(viewer_id)
    return [*favorited_stages(viewer_id), *following]


def joined_flags(
    rows: list[dict[str, Any]], viewer_id: PydanticObjectId | None, *,
    follows_every_author: bool = False,
) -> list[dict[str, Any]]:
    """Set `favorited` and `author.following` from the edges `viewer_stages` joined."""
    for row in rows:
        row["favorited"] = bool(row.pop(FAVORITED_BY_VIEWER, None))
        followed = bool(row.pop(FOLLOWED_BY_VIEWER, None))
        row["author"]["following"] = viewer_id is not None and (follows_every_author or followed)
    return rows


def counts_per_article_pipeline(article_ids: list[PydanticObjectId]) -> list[dict[str, Any]]:
    """How many documents (favorite edges, comments) name each of these articles.

    Run on `favorites` (served by its `article` index) or `comments` (`article_created_at`).
    """
    return [
        {"$match": {"article_id": {"$in": article_ids}}},
        {"$group": {"_id": "$article_id", "edges": {"$sum": 1}}},
    ]


def article_by_slug_pipeline(slug: str, viewer_id: PydanticObjectId) -> list[dict[str, Any]]:
    """One article by slug, body included, with the viewer's edges joined (read without them,
    it is a `find_one` on `slug` projected to BY_SLUG_FIELDS)."""
    return [
        {"$match": {"slug": slug}},
        {"$limit": 1},
        {"$project": BY_SLUG_FIELDS},
        *viewer_stages(viewer_id),
    ]


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


async def add_viewer_flags(
    articles: list[dict[str, Any]],
    viewer_id: PydanticObjectId | None,
    *,
    follows_every_author: bool = False,
) -> list[dict[str, Any]]:
    """Set `favorited` and `author.following` for the viewer: one `$in` query per flag."""
    favorited = await favorites.favorited_among(viewer_id, (article["_id"] for article in articles))
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
    key = query.key or count_key(query.match)
    known, since = await counts().lookup(key)
    if known is None and any(field.startswith("meta.") for field in query.match):
        known = await _meta_matches(query.match)
        await counts().put(key, known, since)
    rows = await _page_rows(query, viewer_id, offset=offset, limit=limit, after=after,
                            follows_every_author=follows_every_author)
    total = known
    if total is None:
        total = _total_from_page(len(rows), offset=offset, limit=limit, cursor=cursor)
        if total is None:
            # Counted on the filter alone, so that the count can use the index too (inside a
            # $facet it could not). After the page, not beside it: a short page needs none.
            total = await collection(Article).count_documents(query.match)
        await counts().put(key, total, since)
    # The cursor follows the rows read, before any is left out for a vanished author.
    next_cursor = next_page_cursor(query.sort, rows, limit)
    page = joined_flags(await with_authors(rows), viewer_id,
                        follows_every_author=follows_every_author)
    return ArticlePage(page, total, next_cursor)


async def _page_rows(
    query: ArticleQuery,
    viewer_id: PydanticObjectId | None,
    *,
    offset: int,
    limit: int,
    after: dict[str, Any] | None,
    follows_every_author: bool,
) -> list[dict[str, Any]]:
    """The page's rows: a `find` for an anonymous reader, else the pipeline with their edges."""
    assert query.match is not None
    if viewer_id is None:
        read = page_find(query.match, offset=offset, limit=limit, sort=query.sort, after=after)
        return await collection(Article).find(**read).to_list(length=limit)
    pipeline = article_page_pipeline(
        query.match, offset=offset, limit=limit, sort=query.sort, after=after,
        viewer_id=viewer_id, follows_every_author=follows_every_author,
    )
    return await collection(Article).aggregate(pipeline).to_list(length=limit)


def _total_from_page(rows: int, *, offset: int, limit: int, cursor: str | None) -> int | None:
    """The number of matches when the page itself shows it, else None (count them).

    A page shorter than `limit` is the last one: reached by offset (not by a cursor, which says
    nothing of what came before), the matches are the offset plus its rows. An empty page past
    the first says nothing (the offset may overshoot).
    """
    if cursor is not None or rows >= limit or (rows == 0 and offset > 0):
        return None
    return offset + rows


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
    return await kept(favorites_key(user_id), lambda: favorites.favorites_total(user_id))


async def _narrowed_total(query: ArticleQuery) -> int:
    """How many of the user's favorites match the other filters too, under the cap."""
    assert query.favorites_of is not None and query.match is not None
    return await favorites.narrowed_total(
        query.favorites_of, query.match, scan_cap=FAVORITES_FILTER_CAP
    )


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
    flags = viewer_stages(viewer_id)
    if not query.narrowed:
        rows, total = await asyncio.gather(
            favorites.page_rows(
                user_id, None, offset=offset, limit=limit, fields=LIST_FIELDS, after=after,
                then=flags,
            ),
            _favorites_total(user_id),
        )
    else:
        if await _favorites_total(user_id) > FAVORITES_FILTER_CAP:
            raise Invalid(
                "favorited",
                f"has more than {FAVORITES_FILTER_CAP} favorites, too many to combine with "
                "other filters; list them alone",
            )
        key = f"{favorites_key(user_id)} {count_key(query.match)}"
        rows, total = await asyncio.gather(
            favorites.page_rows(
                user_id, query.match, offset=offset, limit=limit, fields=LIST_FIELDS,
                after=after, scan_cap=FAVORITES_FILTER_CAP, then=flags,
            ),
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
    return ArticlePage(joined_flags(rows, viewer_id), total, next_cursor)


async def article_by_slug(
    slug: str, viewer: Viewer | None, *, with_flags: bool = False, with_author: bool = True
) -> dict[str, Any]:
    """The article with this slug and its author, if the viewer may see it; NotFound otherwise.

    `with_flags` joins the viewer's edges in the same read and sets `favorited` and
    `author.following` (the writes that follow a read by slug need neither). The author comes
    from the kept profiles (service/users/authors.py), unless `with_author` is false.
    """
    viewer_id = viewer.id if with_flags and viewer is not None else None
    if viewer_id is None:
        one = await collection(Article).find_one({"slug": slug}, BY_SLUG_FIELDS)
        found = [] if one is None else [one]
    else:
        found = await collection(Article).aggregate(
            article_by_slug_pipeline(slug, viewer_id)
        ).to_list(length=1)
    if not found or not await is_visible(found[0], viewer):
        raise NotFound("article", "not found")
    if with_author and not (found := await with_authors(found)):
        raise NotFound("article", "not found")  # its author's account is gone
    if with_flags:
        joined_flags(found, viewer_id)
    return readable(found[0])
