"""Article dependencies: find by slug, then check ownership."""

from typing import Annotated, Any

from fastapi import Depends, Header

from service.articles import reads, writes
from service.contract.conditional import must_match_version
from service.contract.errors import Forbidden
from service.users.deps import OptionalViewer, WritingUser


async def article_by_slug(slug: str, viewer: OptionalViewer) -> dict[str, Any]:
    """The article named in the path, with its author; 404 if none, or a draft of someone else."""
    return await reads.article_by_slug(slug, viewer)


ArticleBySlug = Annotated[dict[str, Any], Depends(article_by_slug)]


async def visible_article(slug: str, viewer: OptionalViewer) -> dict[str, Any]:
    """The article named in the path, without its author, for reads that answer with something
    else (its comments): 404 as for `article_by_slug`."""
    return await reads.article_by_slug(slug, viewer, with_author=False)


VisibleArticle = Annotated[dict[str, Any], Depends(visible_article)]


async def owned_article(user: WritingUser, article: ArticleBySlug) -> dict[str, Any]:
    """The article in the path, if the caller wrote it: 401 first, then 404, then 403."""
    if article["author_id"] != user.id:
        raise Forbidden("article", "forbidden")
    return article


OwnedArticle = Annotated[dict[str, Any], Depends(owned_article)]


IfMatch = Annotated[
    str | None,
    Header(description="an ETag from GET: write only while the article is at that version"),
]


def at_tagged_version(article: dict[str, Any], if_match: str | None) -> bool:
    """Whether the write must be at the version read; 412 at once if If-Match names another."""
    return must_match_version(article, if_match, writes.stale)


async def checked_version(article: OwnedArticle, if_match: IfMatch = None) -> bool:
    """Whether the author's write must be at the version read (see `at_tagged_version`)."""
    return at_tagged_version(article, if_match)


IfVersion = Annotated[bool, Depends(checked_version)]
