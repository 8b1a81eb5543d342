"""Article dependencies: find by slug, then check ownership."""

from typing import Annotated, Any

from fastapi import Depends, Header

from service.articles import queries
from service.conditional import match_tags
from service.errors import Forbidden
from service.users.deps import OptionalViewer, WritingUser


async def article_by_slug(slug: str, viewer: OptionalViewer) -> dict[str, Any]:
    """The article named in the path, with its author; 404 if none, or a draft of someone else."""
    return await queries.article_by_slug(slug, viewer)


ArticleBySlug = Annotated[dict[str, Any], Depends(article_by_slug)]


async def owned_article(user: WritingUser, article: ArticleBySlug) -> dict[str, Any]:
    """The article in the path, if the caller wrote it: 401 first, then 404, then 403."""
    if article["author_id"] != user.id:
        raise Forbidden("article", "forbidden")
    return article


OwnedArticle = Annotated[dict[str, Any], Depends(owned_article)]


def _version_part(article: dict[str, Any]) -> str:
    """The part of the article's tags that names its version: `<id>-<version>-`."""
    return f"{article['_id']}-{queries.version_of(article)}-"


def article_tag(article: dict[str, Any], representation: str) -> str:
    """The article's strong entity tag: `"<id>-<version>-<digest of this representation>"`.

    The digest makes a 304 safe (favoritesCount or a flag that moved changes the tag); the
    version is what If-Match compares, so a favorite never makes an editor's write fail.
    """
    return f'"{_version_part(article)}{representation}"'


IfMatch = Annotated[
    str | None,
    Header(description="an ETag from GET: write only while the article is at that version"),
]


def at_tagged_version(article: dict[str, Any], if_match: str | None) -> bool:
    """Whether the write must be at the version read; 412 at once if If-Match names another."""
    if if_match is None:
        return False
    tags = match_tags(if_match)
    if tags is None:  # `*`: any current article will do, and this one exists
        return False
    if not any(tag.startswith(_version_part(article)) for tag in tags):
        raise queries.stale()
    return True


async def checked_version(article: OwnedArticle, if_match: IfMatch = None) -> bool:
    """Whether the author's write must be at the version read (see `at_tagged_version`)."""
    return at_tagged_version(article, if_match)


IfVersion = Annotated[bool, Depends(checked_version)]
