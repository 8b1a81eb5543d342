"""Article queries: page pipelines, viewer flags, writes and favorites. No HTTP here.

Every list is one aggregation (filter, sort, count and author join), plus at most one query
to resolve usernames in the filters and one `$in` query per viewer flag: a bounded number of
round trips whatever the page size.
"""

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from beanie import PydanticObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from slugify import slugify

from models import Article, Comment, Favorite, User
from models.articles import NEWEST_FIRST
from models.common import utc_now
from service.db import collection
from service.errors import Conflict, NotFound
from service.profiles.queries import author_stages, followed_among, public_author

T = TypeVar("T")

SLUG_MAX_LENGTH = 80
SLUG_ATTEMPTS = 6

LIST_FIELDS = {
    "slug": 1,
    "title": 1,
    "description": 1,
    "tag_list": 1,
    "author_id": 1,
    "favorites_count": 1,
    "created_at": 1,
    "updated_at": 1,
}
FULL_FIELDS = {**LIST_FIELDS, "body": 1}


# --- pipeline builders (pure) -------------------------------------------------------------


def article_page_pipeline(match: dict[str, Any], *, offset: int, limit: int) -> list[dict[str, Any]]:
    """Newest-first page of matching articles (no body) with authors, and the total count."""
    return [
        {"$match": match},
        {"$sort": dict(NEWEST_FIRST)},
        {"$project": LIST_FIELDS},
        {
            "$facet": {
                "total": [{"$count": "n"}],
                "page": [{"$skip": offset}, {"$limit": limit}, *author_stages(LIST_FIELDS)],
            }
        },
    ]


def article_by_slug_pipeline(slug: str) -> list[dict[str, Any]]:
    """One article by slug, body included, with its author."""
    return [{"$match": {"slug": slug}}, {"$limit": 1}, *author_stages(FULL_FIELDS)]


def filter_owners_pipeline(usernames: list[str], *, with_favorites: bool) -> list[dict[str, Any]]:
    """Resolve the usernames named by `author` / `favorited` filters, with favorite ids if needed."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"username": {"$in": usernames}}},
        {"$project": {"username": 1}},
    ]
    if with_favorites:
        pipeline += [
            {
                "$lookup": {
                    "from": "favorites",
                    "localField": "_id",
                    "foreignField": "user_id",
                    "as": "favorites",
                }
            },
            {"$project": {"username": 1, "favorite_article_ids": "$favorites.article_id"}},
        ]
    return pipeline


# --- reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleFilters:
    """The RealWorld list filters; each is optional."""

    tag: str | None = None
    author: str | None = None
    favorited: str | None = None


async def match_for(filters: ArticleFilters) -> dict[str, Any] | None:
    """The `$match` for these filters, or None when they cannot match anything."""
    match: dict[str, Any] = {}
    if filters.tag is not None:
        match["tag_list"] = filters.tag
    names = [name for name in (filters.author, filters.favorited) if name is not None]
    if not names:
        return match
    pipeline = filter_owners_pipeline(names, with_favorites=filters.favorited is not None)
    owners = {
        owner["username"]: owner
        async for owner in collection(User).aggregate(pipeline)
    }
    if any(name not in owners for name in names):
        return None
    if filters.author is not None:
        match["author_id"] = owners[filters.author]["_id"]
    if filters.favorited is not None:
        match["_id"] = {"$in": owners[filters.favorited]["favorite_article_ids"]}
    return match


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


async def article_page(
    match: dict[str, Any] | None,
    viewer_id: PydanticObjectId | None,
    *,
    offset: int,
    limit: int,
    follows_every_author: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """A page of articles with viewer flags, and the total number of matches."""
    if match is None:
        return [], 0
    pipeline = article_page_pipeline(match, offset=offset, limit=limit)
    result = await collection(Article).aggregate(pipeline).to_list(length=1)
    facets = result[0] if result else {"total": [], "page": []}
    total = facets["total"][0]["n"] if facets["total"] else 0
    page = await add_viewer_flags(
        facets["page"], viewer_id, follows_every_author=follows_every_author
    )
    return page, total


async def article_by_slug(slug: str) -> dict[str, Any]:
    """The article with this slug and its author; NotFound otherwise."""
    found = await collection(Article).aggregate(article_by_slug_pipeline(slug)).to_list(length=1)
    if not found:
        raise NotFound("article", "not found")
    return found[0]


# --- writes ---------------------------------------------------------------------------------


def slug_base(title: str) -> str:
    """The slug a title gives before any collision suffix."""
    return slugify(title, max_length=SLUG_MAX_LENGTH, word_boundary=True) or "article"


async def with_unique_slug(title: str, write: Callable[[str], Awaitable[T]]) -> T:
    """Run a write with the title's slug, adding a random suffix while the unique index objects."""
    base = slug_base(title)
    for attempt in range(SLUG_ATTEMPTS):
        slug = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        try:
            return await write(slug)
        except DuplicateKeyError:
            continue
    raise Conflict("slug", "could not find a free slug for this title; try another title")


def with_author(article: dict[str, Any], author: User) -> dict[str, Any]:
    """Attach the author's public fields, as the by-slug pipeline would."""
    return {**article, "author": public_author(author)}


async def create_article(author: User, fields: dict[str, Any]) -> dict[str, Any]:
    """Insert a new article with a unique slug derived from its title."""
    assert author.id is not None

    async def insert(slug: str) -> Article:
        article = Article(slug=slug, author_id=author.id, **fields)
        await article.insert()
        return article

    article = await with_unique_slug(fields["title"], insert)
    return with_author(article.model_dump(by_alias=False) | {"_id": article.id}, author)


async def update_article(
    article: dict[str, Any], author: User, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply changes in one atomic update; a title that slugifies differently moves the slug."""
    changes = {**changes, "updated_at": utc_now()}

    async def write(slug: str | None) -> dict[str, Any] | None:
        update = changes if slug is None else {**changes, "slug": slug}
        return await collection(Article).find_one_and_update(
            {"_id": article["_id"]},
            {"$set": update},
            projection=FULL_FIELDS,
            return_document=ReturnDocument.AFTER,
        )

    new_title = changes.get("title")
    if new_title is not None and slug_base(new_title) != slug_base(article["title"]):
        updated = await with_unique_slug(new_title, write)
    else:
        updated = await write(None)
    if updated is None:
        raise NotFound("article", "not found")
    return with_author(updated, author)


async def delete_article(article_id: PydanticObjectId) -> None:
    """Delete an article, then its comments and favorites (orphans are invisible meanwhile)."""
    await collection(Article).delete_one({"_id": article_id})
    await collection(Comment).delete_many({"article_id": article_id})
    await collection(Favorite).delete_many({"article_id": article_id})


async def _move_favorites_count(article_id: PydanticObjectId, delta: int) -> int | None:
    """Atomically add delta to the article's counter; None if the article is gone."""
    updated = await collection(Article).find_one_and_update(
        {"_id": article_id},
        {"$inc": {"favorites_count": delta}},
        projection={"favorites_count": 1},
        return_document=ReturnDocument.AFTER,
    )
    return None if updated is None else updated["favorites_count"]


async def favorite(article: dict[str, Any], user_id: PydanticObjectId) -> int:
    """Record the favorite edge and bump the counter once; returns the new favorites count."""
    try:
        await Favorite(user_id=user_id, article_id=article["_id"]).insert()
    except DuplicateKeyError:
        return article["favorites_count"]  # already favorited: nothing moves
    count = await _move_favorites_count(article["_id"], +1)
    if count is None:  # the article was deleted meanwhile: take the edge back
        await collection(Favorite).delete_one({"user_id": user_id, "article_id": article["_id"]})
        raise NotFound("article", "not found")
    return count


async def unfavorite(article: dict[str, Any], user_id: PydanticObjectId) -> int:
    """Remove the favorite edge and drop the counter once; returns the new favorites count."""
    removed = await collection(Favorite).delete_one(
        {"user_id": user_id, "article_id": article["_id"]}
    )
    if removed.deleted_count == 0:
        return article["favorites_count"]
    count = await _move_favorites_count(article["_id"], -1)
    if count is None:
        raise NotFound("article", "not found")
    return count
